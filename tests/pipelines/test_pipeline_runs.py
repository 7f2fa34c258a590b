"""Running pipelines on the metadata store (SQLite and PostgreSQL): lineage, cache, failures."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_markers import count, mark

import modelyard as yard
from modelyard.errors import StoreError
from modelyard.pipelines import explain_runs
from modelyard.pipelines.loading import load_pipeline


@yard.step
def make_frame(n: int, folder: str):
    mark(folder, "make_frame")
    return pd.DataFrame({"x": np.arange(n, dtype="float64"), "y": np.arange(n) % 2})


@yard.step
def fit(df, c: float, folder: str):
    mark(folder, "fit")
    return {"w": float(df["x"].sum() * c)}


@yard.step
def score(weights, df, folder: str):
    mark(folder, "score")
    return {"auc": weights["w"] / (1 + weights["w"]), "rows": float(len(df))}


@yard.pipeline
def training(n: int = 10, c: float = 1.0, folder: str = ""):
    df = make_frame(n, folder)
    weights = fit(df, c, folder)
    score(weights, df, folder)


def test_steps_are_child_runs_with_linked_data_and_the_second_run_hits_the_cache(client, markers):
    first = training.run(c=1.0, folder=markers, max_workers=0, client=client)
    assert first.status == "FINISHED", first.error
    assert list(first.steps) == ["make_frame", "fit", "score"]
    assert not first.cached_steps
    assert first.output("fit", client=client) == {"w": 45.0}
    assert first.metrics["auc"] == pytest.approx(45 / 46)
    frame = first.steps["make_frame"].outputs["output"]
    assert frame.kind == "parquet" and frame.library == "pandas"
    expected = pd.DataFrame({"x": np.arange(10, dtype="float64"), "y": np.arange(10) % 2})
    pd.testing.assert_frame_equal(first.output("make_frame", client=client), expected)

    fit_run = client.get_run(first.steps["fit"].run_id)
    assert fit_run.parent_run_id == first.run_id and fit_run.status == "FINISHED"
    assert fit_run.params["c"] == "1.0"
    assert fit_run.tags["modelyard.step.cache_key"] == first.steps["fit"].cache_key
    inputs = {(i.direction, i.digest) for i in fit_run.inputs}
    assert ("input", frame.digest) in inputs  # the same digest the producer wrote
    frame_run = client.get_run(first.steps["make_frame"].run_id)
    assert ("output", frame.digest) in {(i.direction, i.digest) for i in frame_run.inputs}
    assert [a.path for a in client.list_artifacts(frame_run.run_id)] == ["outputs/output.parquet"]
    assert client.get_run(first.run_id).params == {"n": "10", "c": "1.0", "folder": markers}

    second = training.run(c=1.0, folder=markers, max_workers=0, client=client)
    assert second.cached_steps == ["make_frame", "fit", "score"]
    for name, step in second.steps.items():
        assert step.cached_from_run_id == first.steps[name].run_id
        assert step.run_id != first.steps[name].run_id
        assert count(markers, name) == 1
    hit = client.get_run(second.steps["make_frame"].run_id)
    assert hit.tags["modelyard.step.cached_from"] == first.steps["make_frame"].run_id
    assert [a.path for a in client.list_artifacts(hit.run_id)] == ["outputs/output.parquet"]
    assert second.metrics["auc"] == pytest.approx(45 / 46)

    third = training.run(c=2.0, folder=markers, max_workers=0, client=client)
    assert third.cached_steps == ["make_frame"]
    assert (count(markers, "fit"), count(markers, "score")) == (2, 2)

    forced = training.run(c=2.0, folder=markers, max_workers=0, client=client, force=["make_frame"])
    assert count(markers, "make_frame") == 2
    assert forced.cached_steps == ["fit", "score"]  # same frame content: same input digests


def test_dry_run_and_explain_say_which_param_and_input_changed(client, markers):
    first = training.run(c=1.0, folder=markers, max_workers=0, client=client)
    plan = training.run(c=3.0, folder=markers, dry_run=True, client=client)
    assert plan.to_run == ["fit", "score"]
    assert plan.steps["make_frame"].cached_from_run_id == first.steps["make_frame"].run_id
    assert "param c: 1.0 -> 3.0" in plan.steps["fit"].reason
    assert "upstream step 'fit' will run" in plan.steps["score"].reason
    assert count(markers, "fit") == 1  # a dry run runs nothing

    other = training.run(c=3.0, folder=markers, max_workers=0, client=client)
    diff = explain_runs(first.run_id, other.run_id[:8], client=client)
    assert diff.steps["make_frame"].same_key
    assert [(c.part, c.name, c.before, c.after) for c in diff.steps["fit"].changes] == [
        ("param", "c", 1.0, 3.0)
    ]
    assert [(c.part, c.name) for c in diff.steps["score"].changes] == [("input", "weights")]


CODE = """
import modelyard as yard

def helper(x):
    return x + {inc}

@yard.step
def first(n):
    return n

@yard.step
def second(x):
    return helper(x)

@yard.pipeline
def flow(n: int = 1):
    second(first(n))
"""


def _load_flow(tmp_path: Path, inc: int):
    path = tmp_path / "codeflow.py"
    path.write_text(CODE.format(inc=inc))
    sys.modules.pop("codeflow", None)
    return load_pipeline(f"{path}:flow")


def test_a_changed_helper_function_is_named(client, tmp_path):
    v1 = _load_flow(tmp_path, 1).run(max_workers=0, client=client)
    flow2 = _load_flow(tmp_path, 2)
    plan = flow2.run(dry_run=True, client=client)
    assert not plan.steps["first"].would_run
    assert "code of codeflow.helper changed" in plan.steps["second"].reason
    v2 = flow2.run(max_workers=0, client=client)
    assert v2.output("second", client=client) == 3
    diff = explain_runs(v1.run_id, v2.run_id, client=client)
    assert diff.steps["first"].describe() == "same cache key"
    assert diff.steps["second"].describe() == "code of codeflow.helper changed"
    sys.modules.pop("codeflow", None)


@yard.step(retries=2, retry_delay=0.01, retry_backoff=1.0)
def flaky(folder: str):
    mark(folder, "flaky")
    if count(folder, "flaky") < 3:
        raise RuntimeError("not yet")
    return 1


@yard.step
def boom(x):
    raise ValueError(f"boom {x}")


@yard.step
def after(x):
    return x


@yard.pipeline
def fragile(folder: str = ""):
    after(boom(flaky(folder)))


def test_a_failed_step_fails_the_run_with_its_name_and_error_after_retries(client, markers):
    result = fragile.run(folder=markers, max_workers=0, client=client)
    assert result.status == "FAILED"
    assert result.error.startswith("step 'boom' failed: ValueError: boom 1")
    assert result.steps["flaky"].status == "FINISHED" and result.steps["flaky"].attempts == 3
    assert result.steps["boom"].status == "FAILED"
    assert "Traceback" in result.steps["boom"].error
    assert result.steps["after"].status == "SKIPPED" and result.steps["after"].run_id is None
    assert client.get_run(result.run_id).status == "FAILED"
    assert client.get_run(result.steps["boom"].run_id).status == "FAILED"
    with pytest.raises(yard.NotFound, match="has no output"):
        result.output("boom", client=client)


@yard.step(outputs=["numbers", "table", "blob", "plain"])
def many(n: int):
    import polars as pl

    return np.arange(n), pl.DataFrame({"a": list(range(n))}), {1, 2}, [1, "a", None]


@yard.step
def combine(numbers, table, blob, plain):
    return {"sum": float(numbers.sum() + table["a"].sum()), "blob": sorted(blob), "n": len(plain)}


@yard.pipeline
def kinds(n: int = 3):
    numbers, table, blob, plain = many(n)
    combine(numbers, table, blob, plain)


def test_outputs_of_every_kind_travel_between_steps(client):
    result = kinds.run(max_workers=0, client=client)
    assert result.status == "FINISHED", result.error
    outputs = result.steps["many"].outputs
    assert {k: v.kind for k, v in outputs.items()} == {
        "numbers": "npy",
        "table": "parquet",
        "blob": "pickle",
        "plain": "json",
    }
    assert outputs["table"].library == "polars"
    assert result.output("combine", client=client) == {"sum": 6.0, "blob": [1, 2], "n": 3}
    assert list(result.steps["many"].load("numbers", client=client)) == [0, 1, 2]


@yard.step(cache_expiry=2)  # long enough for the second run, through a server, on a busy machine
def stamp(folder: str):
    mark(folder, "stamp")
    return 1


@yard.step(cache=False)
def uncached(x, folder: str):
    mark(folder, "uncached")
    return x


@yard.pipeline
def freshness(folder: str = ""):
    uncached(stamp(folder), folder)


def test_cache_false_always_runs_and_cache_expiry_ages_out(client, markers):
    freshness.run(folder=markers, max_workers=0, client=client)
    again = freshness.run(folder=markers, max_workers=0, client=client)
    assert again.cached_steps == ["stamp"]
    assert count(markers, "uncached") == 2
    time.sleep(2.1)
    plan = freshness.run(folder=markers, dry_run=True, client=client)
    assert "expired" in plan.steps["stamp"].reason
    assert plan.steps["uncached"].reason.startswith("upstream step 'stamp'")


@yard.step
def read_declared(path: Path, folder: str):
    mark(folder, "read_declared")
    return path.read_text()


@yard.step
def read_logged(name: str, folder: str):
    yard.log_input(name, name="raw", profile=False)
    mark(folder, "read_logged")
    with open(name) as fileobj:
        return fileobj.read()


@yard.pipeline
def readers(path: str = "", folder: str = ""):
    read_declared(Path(path), folder)
    read_logged(path, folder)


def test_files_read_by_steps_are_part_of_the_key(client, markers, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("v1")
    readers.run(path=str(data), folder=markers, max_workers=0, client=client)
    again = readers.run(path=str(data), folder=markers, max_workers=0, client=client)
    assert again.cached_steps == ["read_declared", "read_logged"]
    data.write_text("v2 longer")
    plan = readers.run(path=str(data), folder=markers, dry_run=True, client=client)
    assert "file path changed" in plan.steps["read_declared"].reason
    assert f"file {data} changed since run" in plan.steps["read_logged"].reason
    result = readers.run(path=str(data), folder=markers, max_workers=0, client=client)
    assert not result.cached_steps
    assert result.output("read_logged", client=client) == "v2 longer"
    assert result.output("read_declared", client=client) == "v2 longer"


def test_a_server_that_does_not_answer_fails_fast_saying_so(settings):
    from modelyard.tracking.client import TrackingClient

    remote = TrackingClient(settings.replace(tracking_uri="http://127.0.0.1:9"))
    with pytest.raises(StoreError, match="cannot reach the Modelyard server") as info:
        training.run(max_workers=0, client=remote)
    assert "modelyard server" in info.value.hint


@yard.step
def upstream(folder: str):
    mark(folder, "upstream")
    return 2


@yard.step
def picky(x, flag: str, folder: str):
    mark(folder, "picky")
    if os.path.exists(flag):
        raise RuntimeError("the flag is still there")
    return x * 10


@yard.pipeline
def recoverable(flag: str = "", folder: str = ""):
    picky(upstream(folder), flag, folder)


def test_resume_reruns_from_the_failed_step(client, markers, tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("")
    failed = recoverable.run(flag=str(flag), folder=markers, max_workers=0, client=client)
    assert failed.status == "FAILED" and "the flag is still there" in failed.error
    flag.unlink()
    resumed = failed.resume(client=client)
    assert resumed.status == "FINISHED"
    assert resumed.resumed_from_run_id == failed.run_id
    assert resumed.executor == "inline"
    assert resumed.cached_steps == ["upstream"]
    assert (count(markers, "upstream"), count(markers, "picky")) == (1, 2)
    assert resumed.output("picky", client=client) == 20
    with pytest.raises(yard.InvalidState, match="nothing to resume"):
        yard.resume_pipeline(resumed.run_id, client=client)
