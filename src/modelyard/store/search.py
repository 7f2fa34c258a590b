"""Run search compiled to one SQL query, with opaque page tokens.

:func:`search_query` compiles the clauses of :mod:`modelyard.store.filters` to a SQLAlchemy
``Select`` of run ids; :func:`run_search_ids` executes it and pages. Every user value reaches
SQL as a bound parameter; keys are bound too, never spliced into the statement. The query
starts from the runs one metric comparison selects (a range of the covering ``latest_metrics
(key, value, is_nan, run_id)`` index); other metric, param and tag comparisons are uncorrelated
``run_id IN (...)`` subqueries (covered by ``params (key, value, run_id)`` on SQLite);
``IS NULL`` tests and dataset conditions are correlated ``EXISTS`` on the (run_id, key) primary
keys, so a search never scans metric history. ``LIKE`` is case-sensitive on SQLite and
PostgreSQL alike (SQLite gets a translated ``GLOB``); ``ILIKE`` folds case on both.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.visitors import InternalTraversal

from modelyard.errors import InvalidArgument, StoreError
from modelyard.store.filters import (
    _DATASET_FIELDS,
    _NEGATED,
    _NULL,
    _NULLABLE_ATTRIBUTES,
    MAX_RESULTS_LIMIT,
    RUN_STATUSES,
    Clause,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from modelyard.store.tables import latest_metrics, params, run_datasets, runs, tags

if TYPE_CHECKING:
    from sqlalchemy import Connection, Dialect, Select
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.operators import OperatorType

__all__ = [
    "MAX_RESULTS_LIMIT",
    "RUN_STATUSES",
    "Clause",
    "OrderKey",
    "cached_search_query",
    "next_page_token",
    "parse_filter",
    "parse_order_by",
    "run_search_ids",
    "search_query",
]

# -- SQL ----------------------------------------------------------------------------------------


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``%``, ``_``, backslash escape) to an equivalent SQLite GLOB."""
    out: list[str] = []
    escaped = False
    for c in pattern:
        if escaped or c not in "\\%_":
            out.append(f"[{c}]" if c in "*?[" else c)
            escaped = False
        elif c == "\\":
            escaped = True
        else:
            out.append("*" if c == "%" else "?")
    return "".join(out)


class _LikePattern(sa.types.TypeDecorator[str]):
    """A LIKE pattern bound as itself, or as its GLOB translation on SQLite."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and dialect.name == "sqlite":
            return _like_to_glob(value)
        return value


class _CaseSensitiveLike(ColumnElement[bool]):
    """``left [NOT] LIKE pattern ESCAPE '\\'``; ``left [NOT] GLOB glob`` on SQLite.

    SQLite's LIKE ignores ASCII case, PostgreSQL's does not; GLOB gives SQLite the same answer.
    """

    __visit_name__ = "modelyard_case_sensitive_like"
    inherit_cache = True
    _traverse_internals: list[tuple[str, InternalTraversal]] = [  # noqa: RUF012 - SQLAlchemy's
        ("left", InternalTraversal.dp_clauseelement),
        ("right", InternalTraversal.dp_clauseelement),
        ("negate", InternalTraversal.dp_boolean),
    ]
    type = sa.Boolean()

    def __init__(self, left: ColumnElement[Any], pattern: str, *, negate: bool = False) -> None:
        self.left = left
        self.right = sa.literal(pattern, _LikePattern())
        self.negate = negate

    def self_group(self, against: OperatorType | None = None) -> ColumnElement[Any]:
        # Already a boolean expression: no "= 1" under AND/OR on SQLite; parenthesised elsewhere.
        if against in (operators.and_, operators.or_, operators._asbool):
            return self
        return Grouping(self)


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    op = "NOT LIKE" if element.negate else "LIKE"
    escape = compiler.render_literal_value("\\", sa.String())
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f"{left} {op} {right} ESCAPE {escape}"


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    op = "NOT GLOB" if element.negate else "GLOB"
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f"{left} {op} {right}"


_BINARY: Final = {
    "=": operators.eq,
    "!=": operators.ne,
    "<": operators.lt,
    "<=": operators.le,
    ">": operators.gt,
    ">=": operators.ge,
}


def _compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op in _BINARY:
        return cast("ColumnElement[bool]", _BINARY[op](column, value))
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    if op == "LIKE":
        return _CaseSensitiveLike(column, value)
    if op == "NOT LIKE":
        return _CaseSensitiveLike(column, value, negate=True)
    if op == "ILIKE":
        return column.ilike(value, escape="\\")
    if op == "NOT ILIKE":
        return column.not_ilike(value, escape="\\")
    raise InvalidArgument(f"unknown operator {op!r}", hint="use = != < <= > >= LIKE ILIKE IN")


_POSITIVE: Final = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "NOT ILIKE": "ILIKE"}


def _digest_match(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """Digests given with fewer than 64 characters match as a prefix, like short git hashes."""
    if op not in ("=", "IN"):
        return _compare(column, op, value)
    digests = [value] if op == "=" else list(value)
    full = [d for d in digests if len(d) == 64]
    parts: list[ColumnElement[bool]] = [
        _CaseSensitiveLike(column, d + "%") for d in digests if len(d) < 64
    ]
    if full:
        parts.append(column.in_(full))
    return parts[0] if len(parts) == 1 else sa.or_(*parts)


def _key_condition(clause: Clause, run_id: ColumnElement[Any]) -> ColumnElement[bool]:
    if clause.kind == "metric":
        table = latest_metrics
    else:
        table = params if clause.kind == "param" else tags
    where: list[ColumnElement[bool]] = [table.c.run_id == runs.c.run_id, table.c.key == clause.key]
    if clause.op in _NULL:
        found = sa.select(table.c.run_id).where(*where).correlate(runs).exists()
        return found if clause.op == "IS NOT NULL" else ~found
    # A comparison is an uncorrelated ``run_id IN (...)``: the database evaluates it once from
    # the (key, value) / (key, run_id) indexes instead of probing once per run of the experiment.
    # ``run_id`` is the driver's when there is one, so SQLite checks it before reading the run.
    return run_id.in_(_matching_runs(clause))


def _matching_runs(clause: Clause, *, with_value: bool = False) -> Select[Any]:
    """``SELECT run_id`` (and the value) of the runs whose metric, param or tag satisfies a
    comparison."""
    table = {"metric": latest_metrics, "param": params, "tag": tags}[clause.kind]
    where = [table.c.key == clause.key]
    if clause.kind == "metric":
        where += [latest_metrics.c.is_nan.is_(False), latest_metrics.c.value.is_not(None)]
    where.append(_compare(table.c.value, clause.op, clause.value))
    columns = [table.c.run_id, table.c.value] if with_value else [table.c.run_id]
    return sa.select(*columns).where(*where)


def _driver(clauses: list[Clause]) -> Clause | None:
    """A metric comparison the query can start from (its (key, value) index is selective)."""
    for clause in clauses:
        if clause.kind == "metric" and clause.op in ("=", "<", "<=", ">", ">="):
            return clause
    return None


def _dataset_conditions(clauses: list[Clause]) -> list[ColumnElement[bool]]:
    """Positive dataset conditions must hold for one and the same dataset of the run; each
    negative one (``!=``, ``NOT IN``, ``NOT LIKE``) means no dataset of the run matches."""

    def match(clause: Clause, op: str) -> ColumnElement[bool]:
        column = run_datasets.c[_DATASET_FIELDS[clause.key]]
        if clause.key == "digest":
            return _digest_match(column, op, clause.value)
        return _compare(column, op, clause.value)

    def exists(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
        where = [run_datasets.c.run_id == runs.c.run_id, *conditions]
        return sa.select(run_datasets.c.run_id).where(*where).correlate(runs).exists()

    out: list[ColumnElement[bool]] = []
    positive = [match(c, c.op) for c in clauses if c.op not in _NEGATED]
    if positive:
        out.append(exists(positive))
    out += [~exists([match(c, _POSITIVE[c.op])]) for c in clauses if c.op in _NEGATED]
    return out


def _conditions(
    clauses: list[Clause], run_id: ColumnElement[Any] = runs.c.run_id
) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for clause in clauses:
        if clause.kind in ("metric", "param", "tag"):
            out.append(_key_condition(clause, run_id))
        elif clause.kind == "attribute":
            column = runs.c[clause.key]
            if clause.op == "IS NULL":
                out.append(column.is_(None))
            elif clause.op == "IS NOT NULL":
                out.append(column.is_not(None))
            else:
                out.append(_compare(column, clause.op, clause.value))
    out += _dataset_conditions([c for c in clauses if c.kind == "dataset"])
    return out


def _ordering(
    keys: list[OrderKey], base: sa.FromClause, driver: tuple[str, sa.Subquery] | None = None
) -> tuple[sa.FromClause, list[ColumnElement[Any]]]:
    """The FROM clause (``base`` plus one outer join per metric/param/tag key) and ORDER BY.

    Runs without the key, or with a NaN metric, sort last in either direction; start_time desc
    then run_id always break ties so pages never overlap.
    """
    source = base
    terms: list[ColumnElement[Any]] = []
    for i, key in enumerate(keys):
        missing: ColumnElement[bool] | None
        if driver is not None and key.kind == "metric" and key.key == driver[0]:
            # The query starts from this metric's matches: every run has a value, none NaN.
            column: ColumnElement[Any] = driver[1].c.value
            missing = None
        elif key.kind in ("metric", "param", "tag"):
            table = {"metric": latest_metrics, "param": params, "tag": tags}[key.kind]
            joined = table.alias(f"order_{i}")
            on = sa.and_(joined.c.run_id == runs.c.run_id, joined.c.key == key.key)
            source = source.outerjoin(joined, on)
            column = joined.c.value
            missing = column.is_(None)
            if key.kind == "metric":
                # NaN (a NULL value on SQLite, a real NaN on PostgreSQL) ties with missing
                nan = joined.c.is_nan.is_(True)
                missing = sa.or_(missing, nan)
                column = sa.case((nan, sa.null()), else_=column)
        else:
            column = runs.c[key.key]
            missing = column.is_(None) if key.key in _NULLABLE_ATTRIBUTES else None
        if missing is not None:
            terms.append(sa.case((missing, 1), else_=0))
        terms.append(column.desc() if key.descending else column.asc())
    named = {k.key for k in keys if k.kind == "attribute"}
    if "start_time" not in named:
        terms.append(runs.c.start_time.desc())
    if "run_id" not in named:
        terms.append(runs.c.run_id.asc())
    return source, terms


def _page_offset(page_token: str | None) -> int:
    if page_token is None or page_token == "":
        return 0
    shown = page_token if len(str(page_token)) <= 40 else str(page_token)[:37] + "..."
    bad = InvalidArgument(
        f"page token {shown!r} is not a token returned by search_runs",
        hint="pass the next_page_token of the previous page unchanged, or None for the first page",
    )
    if not isinstance(page_token, str):
        raise bad
    try:
        raw = base64.b64decode(page_token.encode("ascii"), altchars=b"-_", validate=True)
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise bad from exc
    offset = data.get("offset") if isinstance(data, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise bad
    return offset


def next_page_token(offset: int, returned: int) -> str:
    """The opaque token of the page after one that started at ``offset`` and held ``returned`` runs.

    >>> _page_offset(next_page_token(100, 100))
    200
    """
    if offset < 0 or returned < 0:
        raise InvalidArgument(
            f"page offset {offset} and size {returned} must not be negative",
            hint="pass the offset returned by search_query and the number of runs returned",
        )
    raw = json.dumps({"offset": offset + returned}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _check_max_results(max_results: int) -> None:
    if (
        not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or not 1 <= max_results <= MAX_RESULTS_LIMIT
    ):
        raise InvalidArgument(
            f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT:,}, got {max_results!r}",
            hint="ask for fewer runs per page and follow next_page_token, e.g. max_results=1000",
        )


def _experiment_list(experiment_ids: Sequence[int]) -> list[int]:
    ids = list(experiment_ids)
    for value in ids:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(
                f"experiment ids must be integers, got {value!r}",
                hint="resolve experiment names to ids first, e.g. get_experiment('churn')",
            )
    return ids


def search_query(
    experiment_ids: Sequence[int],
    filter: str | None = None,
    order_by: Sequence[str] = (),
    *,
    max_results: int = 100,
    page_token: str | None = None,
    include_deleted: bool = False,
) -> tuple[Select[Any], int]:
    """Compile a search into a ``SELECT runs.run_id`` and return it with the page offset used.

    The query returns up to ``max_results + 1`` ids, in order, so the caller can tell whether
    another page follows. Only active runs unless ``include_deleted``.
    """
    _check_max_results(max_results)
    offset = _page_offset(page_token)
    ids = _experiment_list(experiment_ids)
    clauses = parse_filter(filter)
    # Start from the runs one metric comparison selects (an index range scan) rather than from
    # every run of the experiments; the other conditions then probe only those runs.
    base: sa.FromClause = runs
    run_id: ColumnElement[Any] = runs.c.run_id
    driver = _driver(clauses)
    driven: tuple[str, sa.Subquery] | None = None
    if driver is not None:
        matched = _matching_runs(driver, with_value=True).subquery("filter_0")
        base = matched.join(runs, runs.c.run_id == matched.c.run_id)
        clauses = [c for c in clauses if c is not driver]
        driven = (driver.key, matched)
        run_id = matched.c.run_id
    where = [runs.c.experiment_id.in_(ids), *_conditions(clauses, run_id)]
    if not include_deleted:
        where.append(runs.c.lifecycle_stage == "active")
    source, terms = _ordering(parse_order_by(order_by), base, driven)
    query = (
        sa.select(runs.c.run_id)
        .select_from(source)
        .where(*where)
        .order_by(*terms)
        .limit(max_results + 1)
        .offset(offset)
    )
    return query, offset


def cached_search_query(
    experiment_ids: Sequence[int],
    filter: str | None = None,
    order_by: Sequence[str] = (),
    *,
    max_results: int = 100,
    page_token: str | None = None,
    include_deleted: bool = False,
    columns: Sequence[str] = ("run_id",),
) -> tuple[Select[Any], int]:
    """:func:`search_query` selecting ``columns`` of ``runs``, built once for the same arguments.

    Compiling a search builds a few hundred SQLAlchemy objects, which cost as much as running
    it; the same search asked again (a dashboard refreshing, a script in a loop) reuses the
    statement built the first time. Statements are immutable and hold no data, so a reused one
    still sees every run written since. Each argument is keyed with its type, so ``True``
    never passes for ``1``; arguments that cannot be keyed are compiled, and rejected, afresh.
    """
    key = (
        tuple((type(i), i) for i in experiment_ids),
        (type(filter), filter),
        tuple((type(o), o) for o in order_by),
        (type(max_results), max_results),
        (type(page_token), page_token),
        (type(include_deleted), include_deleted),
        tuple(columns),
    )
    try:
        hash(key)
    except TypeError:
        return _compile_search(key)
    return _compile_search_cached(key)


def _compile_search(key: tuple[Any, ...]) -> tuple[Select[Any], int]:
    ids, (_, filter), order, (_, max_results), (_, page_token), (_, include_deleted), names = key
    query, offset = search_query(
        [i for _, i in ids],
        filter,
        [o for _, o in order],
        max_results=max_results,
        page_token=page_token,
        include_deleted=include_deleted,
    )
    if names != ("run_id",):
        query = query.with_only_columns(*[runs.c[name] for name in names])
    return query, offset


_compile_search_cached = functools.lru_cache(maxsize=256)(_compile_search)


def run_search_ids(
    conn: Connection,
    experiment_ids: Sequence[int],
    filter: str | None = None,
    order_by: Sequence[str] = (),
    *,
    max_results: int = 100,
    page_token: str | None = None,
    include_deleted: bool = False,
) -> tuple[list[str], str | None]:
    """Run a search; return the run ids of this page, in order, and the next page's token."""
    query, offset = search_query(
        experiment_ids,
        filter,
        order_by,
        max_results=max_results,
        page_token=page_token,
        include_deleted=include_deleted,
    )
    try:
        found = list(conn.execute(query).scalars())
    except DBAPIError as exc:
        raise StoreError(
            f"run search failed in the metadata store: {exc.orig}",
            hint="check that the database is reachable and up to date: modelyard db upgrade",
        ) from exc
    if len(found) > max_results:
        return found[:max_results], next_page_token(offset, max_results)
    return found, None
