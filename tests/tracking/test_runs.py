"""Runs through the module-level SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

from modelyard.errors import InvalidArgument, InvalidState, NotFound


def test_run_records_params_metrics_tags(yard):
    yard.set_experiment("churn")
    with yard.start_run(name="lgbm-baseline") as run:
        yard.log_params({"learning_rate": 0.1, "num_leaves": 31})
        for step in range(100):
            yard.log_metric("loss", 1.0 / (step + 1), step=step)
        yard.log_metrics({"auc": 0.91, "f1": 0.78})
        yard.set_tags({"team": "risk"})
    got = yard.get_run(run.id)
    assert got.status == "FINISHED"
    assert got.name == "lgbm-baseline"
    assert got.params == {"learning_rate": "0.1", "num_leaves": "31"}
    assert got.metrics == {"loss": pytest.approx(0.01), "auc": 0.91, "f1": 0.78}
    assert got.tags == {"team": "risk"}
    assert got.end_time is not None and got.end_time >= got.start_time
    history = yard.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(100))
    assert history[0].value == 1.0 and history[-1].value == pytest.approx(0.01)


def test_nan_and_infinities_are_kept(yard):
    with yard.start_run() as run:
        yard.log_metric("a", float("nan"))
        yard.log_metric("b", float("inf"))
        yard.log_metric("c", float("-inf"))
        yard.log_metric("d", 0.5, step=0)
        yard.log_metric("d", float("nan"), step=1)
    got = yard.get_run(run.id)
    assert math.isnan(got.metrics["a"])
    assert got.metrics["b"] == math.inf and got.metrics["c"] == -math.inf
    assert math.isnan(got.metrics["d"])
    values = [m.value for m in yard.get_metric_history(run.id, "d")]
    assert values[0] == 0.5 and math.isnan(values[1])


def test_latest_metric_is_highest_step_not_last_logged(yard):
    with yard.start_run() as run:
        yard.log_metric("loss", 0.1, step=10)
        yard.log_metric("loss", 0.9, step=2)
    assert yard.get_run(run.id).metrics["loss"] == 0.1


def test_failed_run_records_the_exception(yard):
    with pytest.raises(RuntimeError), yard.start_run(name="boom") as run:
        yard.log_metric("x", 1.0)
        raise RuntimeError("disk full while training")
    got = yard.get_run(run.id)
    assert got.status == "FAILED"
    assert "disk full while training" in got.error
    assert got.metrics == {"x": 1.0}


def test_keyboard_interrupt_marks_run_killed(yard):
    with pytest.raises(KeyboardInterrupt), yard.start_run() as run:
        raise KeyboardInterrupt
    assert yard.get_run(run.id).status == "KILLED"


def test_nested_runs_link_to_parent(yard):
    with yard.start_run(name="parent") as parent:
        with yard.start_run(name="child", nested=True) as child:
            yard.log_metric("m", 1)
        with pytest.raises(InvalidState, match="already active"):
            yard.start_run(name="not nested")
    assert yard.get_run(child.id).parent_run_id == parent.id
    assert yard.get_run(parent.id).parent_run_id is None


def test_params_are_immutable(yard):
    with yard.start_run():
        yard.log_param("lr", 0.1)
        yard.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(InvalidArgument, match=r"param 'lr' .* already '0.1'.*immutable"):
            yard.log_param("lr", 0.2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda y: y.log_metric("loss", "high"), r"metric 'loss' must be a number"),
        (lambda y: y.log_metric("loss", None), r"metric 'loss' must be a number"),
        (lambda y: y.log_metric("x" * 300, 1.0), r"300 characters; keys need 1 to 250"),
        (lambda y: y.log_metric("a;drop", 1.0), r"characters outside letters"),
        (lambda y: y.log_metric("loss", 1.0, step=1.5), r"step of metric 'loss'"),
        (lambda y: y.log_param("p", "x" * 7000), r"7000 characters; the limit is 6000"),
        (lambda y: y.set_tag("t", "x" * 9000), r"9000 characters; the limit is 8000"),
        (lambda y: y.log_param(3, "x"), r"param key must be a string"),
    ],
)
def test_bad_input_names_the_field(yard, call, match):
    with yard.start_run() as run:
        with pytest.raises(InvalidArgument, match=match) as info:
            call(yard)
        assert info.value.hint
    assert yard.get_run(run.id).status == "FINISHED"


def test_unknown_run_is_not_found_with_hint(yard):
    with pytest.raises(NotFound, match="run '0123456789abcdef' does not exist") as info:
        yard.get_run("0123456789abcdef")
    assert "modelyard runs list" in info.value.hint


def test_run_id_prefix_finds_run(yard):
    with yard.start_run() as run:
        pass
    assert yard.get_run(run.id[:8]).run_id == run.id


def test_logging_without_run_says_how(yard):
    with pytest.raises(InvalidState, match="no active run") as info:
        yard.log_metric("x", 1)
    assert "start_run" in info.value.hint


def test_artifacts_round_trip(yard, tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("precision 0.9\n")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "b.json").write_text("{}")
    with yard.start_run() as run:
        yard.log_artifact(report)
        yard.log_artifact(report, artifact_path="reports")
        yard.log_artifacts(folder, artifact_path="plots")
        yard.log_dict({"b": 1, "a": [1, 2]}, "config.json")
        yard.log_text("hello", "notes/hello.txt")
    client = yard.get_client()
    paths = [a.path for a in client.list_artifacts(run.id) if not a.path.startswith("_modelyard")]
    assert paths == [
        "config.json",
        "notes/hello.txt",
        "plots/a.csv",
        "plots/sub/b.json",
        "report.txt",
        "reports/report.txt",
    ]
    assert client.read_artifact(run.id, "notes/hello.txt") == b"hello"
    out = client.download_artifact(run.id, "plots", tmp_path / "out")
    assert (out / "sub" / "b.json").read_text() == "{}"
    with pytest.raises(InvalidArgument):
        client.log_text(run.id, "x", "../escape.txt")
    with pytest.raises(NotFound, match=r"no artifact 'missing\.txt'"):
        client.read_artifact(run.id, "missing.txt")


def test_to_pandas_has_one_row_per_run(yard):
    yard.set_experiment("frames")
    for c in (0.1, 1.0):
        with yard.start_run():
            yard.log_param("C", c)
            yard.log_metric("auc", c)
    frame = yard.search_runs("frames").to_pandas()
    assert len(frame) == 2
    assert sorted(frame["params.C"]) == ["0.1", "1.0"]
    assert sorted(frame["metrics.auc"]) == [0.1, 1.0]


def test_search_runs_filters_orders_and_pages(yard):
    yard.set_experiment("search")
    for i in range(7):
        with yard.start_run(name=f"r{i}"):
            yard.log_params({"num_leaves": 31 if i % 2 else 15})
            yard.log_metric("auc", 0.85 + i / 100)
    runs = yard.search_runs(
        "search",
        filter="metrics.auc > 0.855 and params.num_leaves = '31'",
        order_by=["metrics.auc desc"],
    )
    assert [r.name for r in runs] == ["r5", "r3", "r1"]
    first = yard.search_runs("search", order_by=["metrics.auc"], max_results=3)
    assert [r.name for r in first] == ["r0", "r1", "r2"]
    second = yard.search_runs(
        "search", order_by=["metrics.auc"], max_results=3, page_token=first.next_page_token
    )
    assert [r.name for r in second] == ["r3", "r4", "r5"]
    with pytest.raises(InvalidArgument, match="position"):
        yard.search_runs("search", filter="metrics.auc >> 1")


def test_unknown_experiment_is_not_found(yard):
    with pytest.raises(NotFound, match="experiment 'nope' does not exist"):
        yard.search_runs("nope")


def test_experiments_list_counts_runs(yard):
    yard.set_experiment("one")
    with yard.start_run():
        pass
    with yard.start_run():
        pass
    listed = {e.name: n for e, n, _ in yard.list_experiments()}
    assert listed["one"] == 2


def test_a_repeated_search_sees_new_runs_and_still_validates(yard, backend):
    """The compiled search is reused; the data and argument checks are not."""
    yard.set_experiment("again")
    with yard.start_run(name="a"):
        yard.log_params({"model": "rf"})
        yard.log_metric("auc", 0.9)
    query = {"filter": "metrics.auc > 0.8 and params.model = 'rf'", "order_by": ["metrics.auc"]}
    assert [r.name for r in yard.search_runs("again", **query)] == ["a"]
    with yard.start_run(name="b"):
        yard.log_params({"model": "rf"})
        yard.log_metric("auc", 0.95)
    with yard.start_run(name="c"):
        yard.log_params({"model": "svm"})
        yard.log_metric("auc", 0.99)
    found = yard.search_runs("again", **query)
    assert [r.name for r in found] == ["a", "b"]
    assert found[1].params == {"model": "rf"} and found[1].metrics == {"auc": 0.95}
    assert [r.name for r in yard.search_runs("again", **query, max_results=1)] == ["a"]
    if backend == "remote":  # the server's JSON schema coerces arguments before the store
        return
    with pytest.raises(InvalidArgument, match="max_results"):
        yard.search_runs("again", **query, max_results=True)  # equal to 1, but not an int
    with pytest.raises(InvalidArgument, match="page token"):
        yard.search_runs("again", **query, page_token=["not", "a", "token"])  # type: ignore[arg-type]


def test_runs_read_by_search_equal_runs_built_by_their_constructor(yard, backend):
    """Search builds its runs without Run.__init__; they must be the same runs."""
    import dataclasses

    from modelyard.store import tables
    from modelyard.tracking.entities import Run

    fields = {f.name for f in dataclasses.fields(Run)}
    assert {c.name for c in tables.runs.c} <= fields  # every column lands in a field
    yard.set_experiment("built")
    with yard.start_run(name="one") as run:
        yard.log_params({"a": "1"})
        yard.log_metrics({"auc": 0.5, "nan": math.nan})
        yard.set_tags({"team": "risk"})
    (found,) = yard.search_runs("built")
    assert set(vars(found)) == fields
    rebuilt = Run(**{name: getattr(found, name) for name in fields})
    assert repr(rebuilt) == repr(found)  # NaN != NaN, so compare field by field via repr
    assert (found.run_id, found.params, found.tags) == (run.run_id, {"a": "1"}, {"team": "risk"})
    assert found.metrics["auc"] == 0.5 and math.isnan(found.metrics["nan"])
    assert found.code is None and found.environment is None and found.inputs == ()


def test_sqlite_loads_a_page_of_runs_from_covering_indexes(tmp_path):
    """Params and latest metrics of a search page are read from SQLite-only covering indexes
    (migration 0005), not from the tables' rows."""
    from modelyard.store.database import Database
    from modelyard.tracking.sqlstore import _hydrate_sql

    db = Database.open(f"sqlite:///{tmp_path / 'm.db'}")
    sql = _hydrate_sql(db.engine.dialect, False)
    with db.read() as conn:
        plans = {
            name: " ".join(
                row[-1]
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement.format("?, ?"), ("a", "b")
                )
            )
            for name, statement in (("params", sql.params), ("metrics", sql.metrics))
        }
    db.dispose()
    assert "COVERING INDEX ix_params_run_id_key_value" in plans["params"], plans
    assert "COVERING INDEX ix_latest_metrics_run_id_key_value_is_nan" in plans["metrics"], plans
