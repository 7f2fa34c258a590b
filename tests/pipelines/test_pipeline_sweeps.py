"""Sweeps, models between steps, and the ``modelyard pipelines`` commands."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pipeline_markers import count, mark

import modelyard as yard
from modelyard.cli.main import cli as main_cli
from modelyard.cli.pipelines import pipelines
from modelyard.pipelines import loguniform

# The root command with the pipelines group (cli/main.py registers it; a copy keeps the test
# from changing the shared command).
cli = copy.copy(main_cli)
cli.commands = {**main_cli.commands, "pipelines": pipelines}


@yard.step
def shared(folder: str):
    mark(folder, "shared")
    return [1.0, 2.0, 3.0]


@yard.step
def evaluate(xs, c: float):
    return {"score": -((c - 1.0) ** 2) + sum(xs)}


@yard.pipeline
def tuned(c: float = 1.0, folder: str = ""):
    evaluate(shared(folder), c)


def test_grid_sweep_runs_each_trial_as_a_child_run_and_picks_the_best(client, markers):
    result = yard.sweep(
        tuned,
        grid={"c": [0.1, 1.0, 10.0]},
        params={"folder": markers},
        metric="score",
        max_workers=0,
        client=client,
    )
    assert [t.params for t in result.trials] == [{"c": 0.1}, {"c": 1.0}, {"c": 10.0}]
    assert all(t.run.status == "FINISHED" for t in result.trials)
    assert result.best is not None and result.best.params == {"c": 1.0}
    assert result.best.value == pytest.approx(6.0)
    assert count(markers, "shared") == 1  # computed once, reused by the other trials
    sweep_run = client.get_run(result.run_id)
    assert sweep_run.status == "FINISHED"
    assert sweep_run.metrics["best_score"] == pytest.approx(6.0)
    assert sweep_run.tags["modelyard.sweep.best_run_id"] == result.best.run_id
    assert {t.run.parent_run_id for t in result.trials} == {result.run_id}


def test_random_search_samples_a_space_repeatably(client, markers):
    space = {"c": loguniform(0.01, 10)}
    a = yard.sweep(
        tuned,
        space=space,
        n_trials=3,
        seed=7,
        params={"folder": markers},
        metric="score",
        mode="min",
        max_workers=0,
        client=client,
    )
    b = yard.sweep(
        tuned,
        space=space,
        n_trials=3,
        seed=7,
        params={"folder": markers},
        metric="score",
        mode="min",
        max_workers=0,
        client=client,
    )
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert all(0.01 <= t.params["c"] <= 10 for t in a.trials)
    assert all(t.run.cached_steps == ["shared", "evaluate"] for t in b.trials)
    assert a.best is not None and a.best.value == min(t.value for t in a.trials)
    with pytest.raises(yard.InvalidArgument, match=r"either grid= .* or space="):
        yard.sweep(tuned, client=client)


@yard.step
def fit_model(n: int):
    from sklearn.linear_model import LogisticRegression

    x = np.arange(n, dtype="float64").reshape(-1, 1)
    y = (np.arange(n) >= n // 2).astype("int64")
    return yard.Model(LogisticRegression().fit(x, y), input_example=x[:2])


@yard.step
def use_model(model: yard.Model, n: int):
    x = np.arange(n, dtype="float64").reshape(-1, 1)
    return {"accuracy": float((model.predict(x) == (np.arange(n) >= n // 2)).mean())}


@yard.pipeline
def with_model(n: int = 20):
    use_model(fit_model(n), n)


def test_models_travel_through_their_flavor_and_can_be_loaded_from_the_step_run(sqlite_settings):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings)
    first = with_model.run(max_workers=0, client=client)
    assert first.status == "FINISHED", first.error
    ref = first.steps["fit_model"].outputs["output"]
    assert ref.kind == "model" and ref.library == "sklearn"
    assert ref.uri == f"runs:/{first.steps['fit_model'].run_id}/outputs/output"
    assert first.metrics["accuracy"] == 1.0
    model = first.output("fit_model", client=client)
    assert isinstance(model, yard.Model) and model.uri == ref.uri
    version = yard.register_model(ref.uri, "pipeline-model", client=client)
    assert version.run_id == first.steps["fit_model"].run_id and version.flavor == "sklearn"
    second = with_model.run(max_workers=0, client=client)
    hit = second.steps["fit_model"]
    assert hit.cached
    predictor = yard.load_model(f"runs:/{hit.run_id}/outputs/output", client=client)
    assert predictor.predict(np.array([[0.0], [19.0]])).tolist() == [0, 1]
    client.close()


FLOWS = """
import modelyard as yard

@yard.step
def double(x: float):
    return x * 2

@yard.step
def add(a, b):
    return a + b

@yard.pipeline
def arith(x: float = 1.0, label: str = "a"):
    d = double(x)
    add(d, double(d))
"""


def test_cli_runs_shows_explains_and_lists(sqlite_settings, tmp_path):
    flows = tmp_path / "cliflows.py"
    flows.write_text(FLOWS)
    base = [
        "--database-url",
        sqlite_settings.database_url,
        "--artifact-url",
        sqlite_settings.artifact_url,
        "pipelines",
    ]
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, [*base, *args])
        assert result.exit_code == 0, result.output
        return result.output

    first = json.loads(
        invoke(
            "run",
            f"{flows}:arith",
            "--param",
            "x=2",
            "--max-workers",
            "0",
            "--param",
            "label=7",
            "--json",
        )
    )
    assert first["status"] == "FINISHED" and first["params"] == {"x": 2, "label": "7"}
    plan = json.loads(
        invoke(
            "run",
            f"{flows}:arith",
            "-p",
            "x=2",
            "-p",
            "label=7",
            "--dry-run",
            "--force",
            "double",
            "--json",
        )
    )
    assert plan["steps"]["double"]["would_run"] and plan["steps"]["double"]["reason"] == "forced"
    text = invoke("run", f"{flows}:arith", "-p", "x=3", "-p", "label=7", "--max-workers", "0")
    assert "FINISHED" in text and "Steps" in text
    runs = json.loads(invoke("list", "--json"))["pipeline_runs"]
    assert len(runs) == 2 and runs[0]["params"]["x"] == 3
    explained = json.loads(invoke("explain", first["run_id"], runs[0]["run_id"], "--json"))
    assert explained["steps"]["double"]["description"] == "param x: 2 -> 3"
    assert "changed" in invoke("explain", first["run_id"], runs[0]["run_id"])
    svg = tmp_path / "dag.svg"
    shown = invoke("show", runs[0]["run_id"][:8], "--svg", str(svg))
    assert "double_2" in shown and svg.read_text().startswith("<svg")
    assert 'class="step finished"' in svg.read_text()
    bad = runner.invoke(cli, [*base, "run", f"{flows}:nope"])
    assert bad.exit_code == 1 and "has no pipeline 'nope'" in bad.output
    Path(flows).unlink()
