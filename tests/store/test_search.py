"""Run search: the filter language, ordering and paging, on real SQLite and PostgreSQL.

Every test that touches a database runs on a SQLite file, and again on PostgreSQL when
``MODELYARD_TEST_DATABASE_URL`` names a server (a fresh database is created for the session
and dropped at the end).
"""

from __future__ import annotations

import base64
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from modelyard.errors import InvalidArgument, StoreError
from modelyard.store import tables
from modelyard.store.search import (
    MAX_RESULTS_LIMIT,
    Clause,
    OrderKey,
    cached_search_query,
    next_page_token,
    parse_filter,
    parse_order_by,
    run_search_ids,
    search_query,
)
from modelyard.testing.databases import temporary_postgres_database

# -- database fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def search_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of its own: these tests create and drop the tables directly."""
    url = os.environ.get("MODELYARD_TEST_DATABASE_URL")
    if not url:
        pytest.skip("set MODELYARD_TEST_DATABASE_URL to run the search tests on PostgreSQL")
    with temporary_postgres_database(url, prefix="modelyard_search") as database_url:
        yield database_url


def _open(kind: str, request: pytest.FixtureRequest, folder: Path) -> sa.Engine:
    if kind == "sqlite":
        engine = sa.create_engine(f"sqlite:///{folder / 'store.db'}")
    else:
        engine = sa.create_engine(request.getfixturevalue("search_postgres_url"))
    tables.metadata.drop_all(engine)
    tables.metadata.create_all(engine)
    return engine


D1 = "a" * 64
D2 = "b" * 64

# run_id, experiment, name, status, start, end, user, parent, lifecycle
RUNS = [
    ("r1", 1, "baseline", "FINISHED", 1000, 2000, "alice", None, "active"),
    ("r2", 1, "tuned", "FINISHED", 2000, 3000, "bob", None, "active"),
    ("r3", 1, "Tuned-2", "RUNNING", 3000, None, "alice", "r1", "active"),
    ("r4", 1, "100% run", "KILLED", 4000, 4500, "carol", None, "active"),
    ("r5", 1, "deleted", "FINISHED", 5000, 5100, "alice", None, "deleted"),
    ("r6", 2, "other exp", "FINISHED", 6000, 6100, "alice", None, "active"),
    ("r7", 1, "odd_keys", "FAILED", 1500, 1600, "bob", None, "active"),
    # experiment 3: a NaN metric and a missing one sort together, by start_time
    ("r8", 3, "nan auc", "FINISHED", 200, 300, "dan", None, "active"),
    ("r9", 3, "no auc", "FINISHED", 100, 300, "dan", None, "active"),
    ("r10", 3, "auc", "FINISHED", 50, 300, "dan", None, "active"),
]
NAN = float("nan")
METRICS = {
    "r1": {"auc": 0.95, "loss": 0.2, "epochs": 10},
    "r2": {"auc": 0.91, "loss": 0.1},
    "r3": {"auc": NAN, "loss": 0.3},
    "r4": {"auc": 0.5},
    "r5": {"auc": 0.99},
    "r6": {"auc": 0.97},
    "r7": {"auc": -1.5, "val loss": 0.4, "val.auc": 0.8},
    "r8": {"auc": NAN},
    "r10": {"auc": 1.0},
}
PARAMS = {
    "r1": {"num_leaves": "31", "lr": "0.1"},
    "r2": {"num_leaves": "63", "lr": "0.05"},
    "r3": {"num_leaves": "31"},
    "r4": {"a b": "x", "lr": "1e-3", "x": "1' OR 1=1 --"},
    "r5": {"num_leaves": "31"},
    "r6": {"num_leaves": "31"},
    "r7": {"x'; DROP TABLE runs; --": "1"},
}
TAGS = {
    "r1": {"team": "ml", "pct": "100%", "glob": "axb"},
    "r2": {"team": "ML-ops", "pct": "1000"},
    "r4": {"note": "it's"},
    "r7": {"glob": "a*b?[c]"},
}
# run_id, digest, name, context
RUN_DATASETS = [
    ("r1", D1, "train", "training"),
    ("r2", D2, "train", "training"),
    ("r2", D1, "test", "evaluation"),
]
ACTIVE = {"r1", "r2", "r3", "r4", "r7"}


def _load(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            tables.experiments.insert(),
            [
                {"experiment_id": 1, "name": "churn", "created_at": 0, "updated_at": 0},
                {"experiment_id": 2, "name": "other", "created_at": 0, "updated_at": 0},
                {"experiment_id": 3, "name": "nan", "created_at": 0, "updated_at": 0},
            ],
        )
        conn.execute(
            tables.runs.insert(),
            [
                {
                    "run_id": run_id,
                    "experiment_id": exp,
                    "name": name,
                    "status": status,
                    "start_time": start,
                    "end_time": end,
                    "user": user,
                    "parent_run_id": parent,
                    "lifecycle_stage": stage,
                }
                for run_id, exp, name, status, start, end, user, parent, stage in RUNS
            ],
        )
        conn.execute(
            tables.latest_metrics.insert(),
            [
                {
                    "run_id": run_id,
                    "key": key,
                    "step": 0,
                    "timestamp": 0,
                    "value": None if value != value else value,
                    "is_nan": value != value,
                }
                for run_id, values in METRICS.items()
                for key, value in values.items()
            ],
        )
        for table, rows in ((tables.params, PARAMS), (tables.tags, TAGS)):
            conn.execute(
                table.insert(),
                [
                    {"run_id": run_id, "key": key, "value": value}
                    for run_id, values in rows.items()
                    for key, value in values.items()
                ],
            )
        conn.execute(
            tables.datasets.insert(),
            [{"digest": d, "kind": "table", "created_at": 0} for d in (D1, D2)],
        )
        conn.execute(
            tables.run_datasets.insert(),
            [
                {
                    "run_id": run_id,
                    "dataset_digest": digest,
                    "direction": "input",
                    "name": name,
                    "context": context,
                    "created_at": 0,
                }
                for run_id, digest, name, context in RUN_DATASETS
            ],
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """The hand-made runs above, in a real database (read-only for the tests)."""
    engine = _open(request.param, request, tmp_path_factory.mktemp("search"))
    _load(engine)
    yield engine
    tables.metadata.drop_all(engine)
    engine.dispose()


def search(
    engine: sa.Engine,
    filter: str | None = None,
    order_by: Sequence[str] = (),
    experiments: Sequence[int] = (1,),
    **kw: Any,
) -> tuple[list[str], str | None]:
    with engine.connect() as conn:
        return run_search_ids(conn, experiments, filter, order_by, **kw)


def found(engine: sa.Engine, filter: str | None, **kw: Any) -> set[str]:
    return set(search(engine, filter, max_results=1000, **kw)[0])


# -- every prefix and operator ------------------------------------------------------------------

CASES = [
    # metrics: numeric, NaN never matches, missing key never matches
    ("metrics.auc > 0.9", {"r1", "r2"}),
    ("metrics.auc >= 0.91", {"r1", "r2"}),
    ("metrics.auc < 0.9", {"r4", "r7"}),
    ("metrics.auc <= 0.5", {"r4", "r7"}),
    ("metrics.auc = 0.95", {"r1"}),
    ("metrics.auc != 0.95", {"r2", "r4", "r7"}),
    ("metrics.auc = -1.5", {"r7"}),
    ("metrics.auc > -2e0", {"r1", "r2", "r4", "r7"}),
    ("metrics.auc > 9E-1", {"r1", "r2"}),
    ("metrics.auc > .9", {"r1", "r2"}),
    ("metrics.epochs = 10", {"r1"}),
    ("metrics.auc IN (0.5, 0.95)", {"r1", "r4"}),
    ("metrics.auc NOT IN (0.5)", {"r1", "r2", "r7"}),
    ("metrics.loss IS NULL", {"r4", "r7"}),
    ("metrics.auc IS NOT NULL", ACTIVE),
    ("metrics.`val loss` < 0.5", {"r7"}),
    ('metrics."val loss" < 0.5', {"r7"}),
    ("metrics.val.auc = 0.8", {"r7"}),
    ("metric.auc > 0.9", {"r1", "r2"}),
    ("METRICS.auc>0.9", {"r1", "r2"}),
    ("metrics.missing > 0", set()),
    # params: strings; a bare number is compared as written
    ("params.num_leaves = '31'", {"r1", "r3"}),
    ("params.num_leaves = 31", {"r1", "r3"}),
    ('params.num_leaves = "31"', {"r1", "r3"}),
    ("params.num_leaves != '31'", {"r2"}),
    ("params.lr = 1e-3", {"r4"}),
    ("params.lr = 0.001", set()),
    ("params.num_leaves IN ('31', '63')", {"r1", "r2", "r3"}),
    ("params.num_leaves not in ('31')", {"r2"}),
    ("params.lr LIKE '0.%'", {"r1", "r2"}),
    ("params.lr NOT LIKE '0.%'", {"r4"}),
    ("params.`a b` = 'x'", {"r4"}),
    ("params.\"a b\" = 'x'", {"r4"}),
    ("params.num_leaves IS NULL", {"r4", "r7"}),
    ("param.lr ILIKE '1E%'", {"r4"}),
    # tags: LIKE is case-sensitive on every backend, ILIKE is not
    ("tags.team = 'ml'", {"r1"}),
    ("tag.team = 'ml'", {"r1"}),
    ("tags.team LIKE 'ML%'", {"r2"}),
    ("tags.team LIKE 'm%'", {"r1"}),
    ("tags.team ILIKE 'ml%'", {"r1", "r2"}),
    ("tags.team NOT ILIKE 'ml'", {"r2"}),
    ("tags.note = 'it''s'", {"r4"}),
    (r"tags.note = 'it\'s'", {"r4"}),
    ('tags.note = "it\'s"', {"r4"}),
    (r"tags.pct LIKE '100\%'", {"r1"}),
    ("tags.pct LIKE '100%'", {"r1", "r2"}),
    ("tags.pct LIKE '10_0'", {"r2"}),
    ("tags.glob LIKE 'a*b?[c]'", {"r7"}),
    ("tags.glob = 'a*b?[c]'", {"r7"}),
    ("tags.glob LIKE 'a*%'", {"r7"}),
    ("tags.glob LIKE 'a_b%'", {"r1", "r7"}),
    ("tags.team IS NOT NULL", {"r1", "r2"}),
    # attributes
    ("attributes.status = 'FINISHED'", {"r1", "r2"}),
    ("attributes.status = 'finished'", {"r1", "r2"}),
    ("attributes.status != 'FINISHED'", {"r3", "r4", "r7"}),
    ("attributes.status IN ('RUNNING', 'KILLED')", {"r3", "r4"}),
    ("attributes.status NOT IN ('RUNNING', 'KILLED')", {"r1", "r2", "r7"}),
    ("attributes.status LIKE 'F%'", {"r1", "r2", "r7"}),
    ("attributes.name = 'baseline'", {"r1"}),
    ("attributes.run_name = 'baseline'", {"r1"}),
    ("attr.name LIKE 'tuned%'", {"r2"}),
    ("attr.name ILIKE 'tuned%'", {"r2", "r3"}),
    ("attr.name NOT ILIKE 'tuned%'", {"r1", "r4", "r7"}),
    ("attributes.name NOT LIKE '%un%'", {"r1", "r7"}),
    (r"attributes.name LIKE '100\%%'", {"r4"}),
    ("attribute.run_id = 'r1'", {"r1"}),
    ("attributes.run_id IN ('r1', 'r2', 'r6', 'r5')", {"r1", "r2"}),
    ("attributes.start_time > 1500", {"r2", "r3", "r4"}),
    ("attributes.start_time >= 1500", {"r2", "r3", "r4", "r7"}),
    ("attributes.start_time < 2000", {"r1", "r7"}),
    ("attributes.start_time <= 2000", {"r1", "r2", "r7"}),
    ("attributes.start_time = 3e3", {"r3"}),
    ("attributes.start_time != 3000", {"r1", "r2", "r4", "r7"}),
    ("attributes.start_time IN (1000, 1500)", {"r1", "r7"}),
    ("attributes.end_time > 2500", {"r2", "r4"}),
    ("attributes.end_time IS NULL", {"r3"}),
    ("attributes.end_time IS NOT NULL", {"r1", "r2", "r4", "r7"}),
    ("attributes.user = 'alice'", {"r1", "r3"}),
    ("attributes.parent_run_id = 'r1'", {"r3"}),
    ("attributes.parent_run_id is null", {"r1", "r2", "r4", "r7"}),
    ("status = 'FAILED'", {"r7"}),
    ("start_time < 1600", {"r1", "r7"}),
    # datasets: positive conditions hold for one dataset, negative ones for none
    ("datasets.name = 'train'", {"r1", "r2"}),
    ("dataset.name IN ('test')", {"r2"}),
    (f"datasets.digest = '{D1}'", {"r1", "r2"}),
    (f"datasets.digest = '{D1.upper()}'", {"r1", "r2"}),
    ("datasets.digest = 'aaaa'", {"r1", "r2"}),
    ("datasets.digest IN ('bbbb', 'cccc')", {"r2"}),
    ("datasets.digest LIKE 'bb%'", {"r2"}),
    ("datasets.context = 'evaluation'", {"r2"}),
    ("datasets.name = 'train' and datasets.digest LIKE 'aa%'", {"r1"}),
    ("datasets.name = 'test' and datasets.context = 'training'", set()),
    ("datasets.name != 'test'", {"r1", "r3", "r4", "r7"}),
    ("datasets.digest != 'bbbb'", {"r1", "r3", "r4", "r7"}),
    # combined, blank
    ("metrics.auc > 0.9 and params.num_leaves = '31'", {"r1"}),
    (
        "metrics.auc > 0.9 AND tags.team ILIKE 'ml%' and attributes.status = 'FINISHED'",
        {"r1", "r2"},
    ),
    ("metrics.auc > 0.9\n  and\tparams.lr LIKE '0.0%'", {"r2"}),
    ("", ACTIVE),
    ("   ", ACTIVE),
    (None, ACTIVE),
]


@pytest.mark.parametrize(("filter", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_filter_matches_exactly(engine: sa.Engine, filter: str | None, expected: set[str]) -> None:
    assert found(engine, filter) == expected


def test_deleted_runs_and_other_experiments(engine: sa.Engine) -> None:
    flt = "params.num_leaves = '31'"
    assert found(engine, flt) == {"r1", "r3"}
    assert found(engine, flt, include_deleted=True) == {"r1", "r3", "r5"}
    assert found(engine, flt, experiments=[1, 2]) == {"r1", "r3", "r6"}
    assert found(engine, flt, experiments=[2]) == {"r6"}
    assert found(engine, flt, experiments=[]) == set()


# -- injection ----------------------------------------------------------------------------------

INJECTIONS = [
    ("params.x = '1'' OR 1=1 --'", {"r4"}),
    ("params.\"x'; DROP TABLE runs; --\" = '1'", {"r7"}),
    ("params.`x'; DROP TABLE runs; --` = '1'", {"r7"}),
    ("tags.team = 'ml'' ; DELETE FROM params; --'", set()),
    ("attributes.name LIKE '%'' OR ''1''=''1'", set()),
    ("tags.`team\" = 'ml' OR 1=1 --` = 'x'", set()),
]


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (tables.runs, tables.params, tables.tags, tables.latest_metrics)
        }


@pytest.mark.parametrize(("filter", "expected"), INJECTIONS)
def test_injection_matches_literally(engine: sa.Engine, filter: str, expected: set[str]) -> None:
    before = _counts(engine)
    assert found(engine, filter) == expected
    assert _counts(engine) == before
    query, _ = search_query([1], filter)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        sql = str(query.compile(dialect=dialect))
        assert "DROP" not in sql
        assert "DELETE" not in sql
        assert "1=1" not in sql


@pytest.mark.parametrize(
    "filter",
    [
        "attributes.name = 'a'; DROP TABLE runs",
        "params.x = 1; DELETE FROM runs",
        "params.x = '1' -- comment",
        "params.x = '1' /* c */",
    ],
)
def test_injection_is_an_error(engine: sa.Engine, filter: str) -> None:
    before = _counts(engine)
    with pytest.raises(InvalidArgument):
        search(engine, filter)
    assert _counts(engine) == before


# -- errors -------------------------------------------------------------------------------------

ERRORS = [
    ("foo.bar = 1", 0, "unknown prefix 'foo.'"),
    ("metrics.auc >", 13, "expected a value"),
    ("metrics.auc > 0.9 and params.x = 'abc", 33, "unclosed string"),
    ("metrics.auc ~ 0.9", 12, "expected an operator"),
    ("metrics.auc == 0.9", 12, "'==' is not an operator"),
    ("metrics.auc <> 0.9", 12, "use '!='"),
    ("metrics.auc > 0.9 or params.x = '1'", 18, "OR is not supported"),
    ("metrics.auc > 0.9 and", 18, "trailing AND"),
    ("metrics.auc > 0.9 and and", 22, "expected a condition"),
    ("and metrics.auc > 0.9", 0, "expected a condition"),
    ("metrics.auc LIKE '0.9%'", 12, "metrics are numbers"),
    ("params.lr < '0.1'", 10, "params are strings; compare with = != LIKE IN"),
    ("tags.t >= 'a'", 7, "tags are strings"),
    ("attributes.colour = 'red'", 11, "unknown attribute 'colour'"),
    ("params.x IN ()", 13, "empty IN list"),
    ("params.x IN ('a',)", 17, "expected a value after ','"),
    ("params.x IN ('a' 'b')", 17, "expected ',' or ')'"),
    ("params.x IN 'a'", 12, "expected '(' after IN"),
    ("metrics.auc > 'high'", 14, "metrics are numbers"),
    ("metrics.auc > 1e999", 14, "not a finite number"),
    ("attributes.status = 'DONE'", 20, "unknown run status 'DONE'"),
    ("attributes.status IS NULL", 18, "IS NULL does not apply"),
    ("attributes.start_time > 'yesterday'", 24, "is a time"),
    ("attributes.start_time > 1.5", 24, "whole milliseconds"),
    ("attributes.start_time LIKE '1%'", 22, "LIKE does not apply"),
    ("datasets.size = 1", 9, "unknown dataset field 'size'"),
    ("datasets.digest = 'xyz'", 18, "expected a hex digest"),
    ("datasets.name < 'b'", 14, "< does not apply to datasets.name"),
    ("metrics. > 1", 8, "expected a key"),
    ("metrics.`` > 1", 8, "empty key"),
    ("metrics > 1", 0, "'metrics' needs a key"),
    ("params.x = '1' params.y = '2'", 15, "expected AND or the end"),
    ("params.x = 1.2.3", 11, "malformed number"),
    ("params.x = 1abc", 11, "malformed number"),
    ("status = FINISHED", 9, "bare word 'FINISHED'"),
    ("(metrics.auc > 1)", 0, "expected a condition"),
    ("params.x NOT 'a'", 13, "expected LIKE, ILIKE or IN after NOT"),
    ("attributes.end_time IS 3", 23, "expected NULL after IS"),
    ("colour = 'red'", 0, "neither a prefixed key nor an attribute"),
    ("params.x = `a`", 11, "expected a value"),
    (r"params.x LIKE 'ab\\'", 14, "unescaped backslash"),
    ("metrics.auc > 0.9 and params.x ! 'a'", 31, "'!' is not an operator"),
    ("metrics.auc > 0.9 and nan > 1", 22, "'nan'"),
]


@pytest.mark.parametrize(("filter", "position", "fragment"), ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_filter_points_at_the_problem(filter: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(filter)
    message = info.value.message
    assert fragment in message
    assert f"at position {position}:" in message
    *_, quoted, caret = message.split("\n")
    assert quoted == "    " + filter
    assert caret == "    " + " " * position + "^"
    assert info.value.hint
    assert str(info.value).endswith("hint: " + info.value.hint)


def test_error_on_a_later_line_names_line_and_column() -> None:
    text = "metrics.auc > 0.9\nand params.lr < '1'"
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text)
    message = info.value.message
    assert f"at position {text.index('<')} (line 2, column 15)" in message
    assert message.endswith("    and params.lr < '1'\n" + "    " + " " * 14 + "^")


def test_search_raises_the_same_error(engine: sa.Engine) -> None:
    with pytest.raises(InvalidArgument, match="OR is not supported"):
        search(engine, "metrics.auc > 1 or metrics.auc < 0")


def test_non_string_filter_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="filter must be a string"):
        parse_filter(42)  # type: ignore[arg-type]


# -- parse results ------------------------------------------------------------------------------


def test_parse_filter_types_values() -> None:
    text = (
        "metrics.auc > 0.9 and params.n = 31 and tags.t IN ('a', \"b\") and "
        "attr.run_name ILIKE 'x%' and attributes.end_time IS NOT NULL and "
        "attributes.start_time >= 17e11 and datasets.Digest = 'ABCD'"
    )
    at = text.index
    assert parse_filter(text) == [
        Clause("metric", "auc", ">", 0.9, 0),
        Clause("param", "n", "=", "31", at("params.n")),
        Clause("tag", "t", "IN", ("a", "b"), at("tags.t")),
        Clause("attribute", "name", "ILIKE", "x%", at("attr.run_name")),
        Clause("attribute", "end_time", "IS NOT NULL", None, at("attributes.end_time")),
        Clause("attribute", "start_time", ">=", 1_700_000_000_000, at("attributes.start_time")),
        Clause("dataset", "digest", "=", "abcd", at("datasets.Digest")),
    ]
    assert parse_filter(None) == []


def test_parse_order_by() -> None:
    assert parse_order_by(
        ["metrics.auc desc", "params.lr", "attributes.start_time ASC", "start_time", "name DESC"]
    ) == [
        OrderKey("metric", "auc", True),
        OrderKey("param", "lr", False),
        OrderKey("attribute", "start_time", False),
        OrderKey("attribute", "start_time", False),
        OrderKey("attribute", "name", True),
    ]
    assert parse_order_by("tags.`a b` desc") == [OrderKey("tag", "a b", True)]


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("metrics.auc sideways", "expected ASC, DESC"),
        ("metrics.auc desc extra", "expected ASC, DESC"),
        ("datasets.name", "cannot be ordered by a dataset"),
        ("", "expected a key"),
        ("colour", "neither a prefixed key nor an attribute"),
        ("attributes.colour", "unknown attribute"),
    ],
)
def test_bad_order_by(item: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=fragment) as info:
        parse_order_by([item])
    assert f"order_by item {item!r}" in info.value.message


# -- ordering -----------------------------------------------------------------------------------

ORDERS = [
    ([], ["r4", "r3", "r2", "r7", "r1"]),
    (["metrics.auc desc"], ["r1", "r2", "r4", "r7", "r3"]),
    (["metrics.auc"], ["r7", "r4", "r2", "r1", "r3"]),
    (["metrics.loss asc"], ["r2", "r1", "r3", "r4", "r7"]),
    (["metrics.loss DESC"], ["r3", "r1", "r2", "r4", "r7"]),
    (["params.num_leaves desc"], ["r2", "r3", "r1", "r4", "r7"]),
    (["params.num_leaves"], ["r3", "r1", "r2", "r4", "r7"]),
    (["attributes.start_time asc"], ["r1", "r7", "r2", "r3", "r4"]),
    (["start_time"], ["r1", "r7", "r2", "r3", "r4"]),
    (["name DESC"], ["r2", "r7", "r1", "r3", "r4"]),
    (["attributes.end_time desc"], ["r4", "r2", "r1", "r7", "r3"]),
    (["attributes.end_time"], ["r7", "r1", "r2", "r4", "r3"]),
    (["tags.team"], ["r2", "r1", "r4", "r3", "r7"]),
    (["params.num_leaves", "metrics.auc desc"], ["r1", "r3", "r2", "r4", "r7"]),
    (["attributes.status", "run_id desc"], ["r7", "r2", "r1", "r4", "r3"]),
    ("metrics.auc desc", ["r1", "r2", "r4", "r7", "r3"]),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[repr(o[0]) for o in ORDERS])
def test_order_by(engine: sa.Engine, order_by: list[str], expected: list[str]) -> None:
    assert search(engine, None, order_by)[0] == expected


@pytest.mark.parametrize("order", ["metrics.auc desc", "metrics.auc asc"])
def test_nan_and_missing_metrics_sort_last_together(engine: sa.Engine, order: str) -> None:
    assert search(engine, None, [order], experiments=[3])[0] == ["r10", "r8", "r9"]


def test_order_with_filter(engine: sa.Engine) -> None:
    ids, token = search(engine, "metrics.auc > 0", ["metrics.auc desc"])
    assert (ids, token) == (["r1", "r2", "r4"], None)


# -- paging -------------------------------------------------------------------------------------


def test_pages_walk_the_whole_result(engine: sa.Engine) -> None:
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        ids, token = search(engine, None, max_results=2, page_token=token)
        pages.append(ids)
        if token is None:
            break
    assert pages == [["r4", "r3"], ["r2", "r7"], ["r1"]]
    assert search(engine, None, max_results=5) == (["r4", "r3", "r2", "r7", "r1"], None)
    ids, token = search(engine, None, ["metrics.auc desc"], max_results=4)
    assert ids == ["r1", "r2", "r4", "r7"]
    assert search(engine, None, ["metrics.auc desc"], page_token=token) == (["r3"], None)


def test_page_token_is_opaque_base64() -> None:
    token = next_page_token(100, 100)
    assert base64.urlsafe_b64decode(token) == b'{"offset":200}'
    _, offset = search_query([1], page_token=token)
    assert offset == 200
    assert search_query([1])[1] == 0
    with pytest.raises(InvalidArgument, match="must not be negative"):
        next_page_token(-1, 10)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "bm9wZQ==",  # b"nope"
        _b64(b"[1, 2]"),
        _b64(b'{"offset": -1}'),
        _b64(b'{"offset": "10"}'),
        _b64(b'{"offset": true}'),
        _b64(b"\xff\xfe"),
        "é",
        "x" * 500,
    ],
)
def test_garbage_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument, match="not a token returned by search_runs") as info:
        search_query([1], page_token=token)
    assert info.value.hint
    assert len(info.value.message) < 200


@pytest.mark.parametrize("max_results", [0, -1, MAX_RESULTS_LIMIT + 1, True, 2.5, "10"])
def test_max_results_bounds(max_results: Any) -> None:
    with pytest.raises(InvalidArgument, match="max_results must be an integer from 1 to 50,000"):
        search_query([1], max_results=max_results)


def test_max_results_limits_are_inclusive() -> None:
    for n in (1, MAX_RESULTS_LIMIT):
        query, _ = search_query([1], max_results=n)
        assert query.compile().params["param_1"] == n + 1


def test_experiment_ids_must_be_integers() -> None:
    with pytest.raises(InvalidArgument, match="experiment ids must be integers"):
        search_query(["churn"])  # type: ignore[list-item]


def test_store_failure_is_a_store_error(tmp_path: Path) -> None:
    empty = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with empty.connect() as conn, pytest.raises(StoreError, match="run search failed"):
        run_search_ids(conn, [1], "metrics.auc > 0.9")
    empty.dispose()


# -- speed --------------------------------------------------------------------------------------


def _bulk_load(
    engine: sa.Engine, n_runs: int = 2000, seed: int = 7
) -> dict[str, tuple[float, str]]:
    """``n_runs`` runs with 10 params and 10 metrics each; return run_id -> (auc, num_leaves)."""
    rng = random.Random(seed)
    truth: dict[str, tuple[float, str]] = {}
    run_rows, param_rows, metric_rows = [], [], []
    for i in range(n_runs):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        run_rows.append(
            {
                "run_id": run_id,
                "experiment_id": 1,
                "name": f"run-{i}",
                "status": "FINISHED",
                "start_time": 1_700_000_000_000 + i * 1000,
                "end_time": 1_700_000_000_500 + i * 1000,
            }
        )
        leaves = rng.choice(["15", "31", "63", "127"])
        param_rows.append({"run_id": run_id, "key": "num_leaves", "value": leaves})
        param_rows += [
            {"run_id": run_id, "key": f"p{k}", "value": str(rng.random())} for k in range(9)
        ]
        auc = round(rng.random(), 6)
        metric_rows.append(
            {"run_id": run_id, "key": "auc", "step": 9, "timestamp": 0, "value": auc}
        )
        metric_rows += [
            {"run_id": run_id, "key": f"m{k}", "step": 9, "timestamp": 0, "value": rng.random()}
            for k in range(9)
        ]
        truth[run_id] = (auc, leaves)
    with engine.begin() as conn:
        conn.execute(
            tables.experiments.insert(),
            {"experiment_id": 1, "name": "churn", "created_at": 0, "updated_at": 0},
        )
        conn.execute(tables.runs.insert(), run_rows)
        conn.execute(tables.params.insert(), param_rows)
        conn.execute(tables.latest_metrics.insert(), metric_rows)
    return truth


def test_search_2000_runs_takes_milliseconds(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'big.db'}")
    tables.metadata.create_all(engine)
    truth = _bulk_load(engine)
    flt = "metrics.auc > 0.9 and params.num_leaves = '31'"
    expected = sorted(
        (run_id for run_id, (auc, leaves) in truth.items() if auc > 0.9 and leaves == "31"),
        key=lambda r: -truth[r][0],
    )
    timings = []
    with engine.connect() as conn:
        for _ in range(15):
            start = time.perf_counter()
            ids, token = run_search_ids(conn, [1], flt, ["metrics.auc desc"], max_results=100)
            timings.append(time.perf_counter() - start)
    assert ids == expected[:100]
    assert token is None if len(expected) <= 100 else token is not None
    # a few ms on an idle machine; the bound is loose because the test machine is shared
    assert statistics.median(timings) < 0.05
    engine.dispose()


def test_sqlite_answers_metric_and_param_comparisons_from_covering_indexes(tmp_path):
    """The migrated SQLite schema lets the driver metric range and the param list read no
    table row (migration 0005); a dropped or reshaped index shows up in the plan."""
    from modelyard.store.database import Database

    db = Database.open(f"sqlite:///{tmp_path / 'm.db'}")
    query, _ = search_query(
        [1], "metrics.auc > 0.9 and params.model = 'rf'", ["metrics.auc desc"], max_results=10
    )
    sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    with db.read() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    db.dispose()
    assert any(
        "COVERING INDEX ix_latest_metrics_key_value_is_nan_run_id (key=? AND value>?)" in step
        for step in plan
    ), plan
    assert any(
        "COVERING INDEX ix_params_key_value_run_id (key=? AND value=?)" in step for step in plan
    ), plan


def test_cached_search_query_reuses_a_statement_only_for_the_same_arguments() -> None:
    args = ([1], "metrics.auc > 0.9 and params.model = 'rf'", ["metrics.auc desc"])
    first, offset = cached_search_query(*args, max_results=10)
    assert cached_search_query(*args, max_results=10) == (first, offset)
    assert str(first) == str(search_query(*args, max_results=10)[0])
    other, _ = cached_search_query(*args, max_results=11)
    assert other is not first
    wide, _ = cached_search_query(*args, max_results=10, columns=("run_id", "name"))
    assert [c.name for c in wide.selected_columns] == ["run_id", "name"]
    assert [c.name for c in first.selected_columns] == ["run_id"]
    # equal but not the same: True == 1 and hash(True) == hash(1), yet True is no page size
    for _ in range(2):
        with pytest.raises(InvalidArgument, match="max_results"):
            cached_search_query(*args, max_results=True)
        with pytest.raises(InvalidArgument, match="experiment ids must be integers"):
            cached_search_query([True], args[1], args[2], max_results=10)
        with pytest.raises(InvalidArgument, match="page token"):
            cached_search_query(*args, page_token=["not", "hashable"])  # type: ignore[arg-type]
