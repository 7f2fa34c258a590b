"""``modelyard models ...`` and ``modelyard reproduce`` through click's CliRunner."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli as root
from modelyard.cli.models import models
from modelyard.cli.reproduce import reproduce


def _app() -> click.Group:
    """The real ``modelyard`` command, with the registry commands added if not yet wired."""
    if "models" in root.commands and "reproduce" in root.commands:
        return root
    app = type(root)(name="modelyard", params=root.params, callback=root.callback)
    app.add_command(models)
    app.add_command(reproduce)
    return app


@pytest.fixture
def invoke(settings, tmp_path):
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(
            _app(),
            [
                "--database-url",
                settings.database_url,
                "--artifact-url",
                settings.artifact_url,
                *args,
            ],
            env={"MODELYARD_PROJECT_ROOT": str(tmp_path), "COLUMNS": "200"},
        )
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_models_commands(invoke, client, model_run, tmp_path):
    assert "No registered models yet" in invoke("models", "list")
    first, second = model_run(metrics={"auc": 0.8}), model_run(metrics={"auc": 0.9})
    assert "Registered models:/churn/1 (ready)" in invoke(
        "models", "register", f"runs:/{first}/model", "churn"
    )
    out = invoke("models", "register", second, "churn", "--json")
    assert json.loads(out)["version"] == 2
    assert "models:/churn@champion: - → 1" in invoke("models", "alias", "churn", "champion", "1")
    assert "models:/churn@champion: 1 → 2" in invoke("models", "alias", "churn", "champion", "2")
    listed = invoke("models", "list")
    assert "churn" in listed and "champion→2" in listed
    assert json.loads(invoke("models", "list", "--json"))["models"][0]["latest_version"] == 2
    shown = invoke("models", "show", "churn")
    assert "aliases: champion → 2" in shown and "alias.set" in shown and "champion: 1 → 2" in shown
    data = json.loads(invoke("models", "show", "churn", "--json"))
    assert [v["version"] for v in data["model_versions"]] == [1, 2] and data["events"]
    versions = invoke("models", "versions", "churn")
    assert "auc" in versions and "ready" in versions
    assert len(json.loads(invoke("models", "versions", "churn", "--json"))["model_versions"]) == 2

    err = invoke("models", "alias", "churn", "champion", "7", code=1)
    assert "Error: model 'churn' has no version 7 (latest is 2)" in err
    assert "Hint: list them with: modelyard models versions churn" in err
    assert "is pointed at by alias" in invoke("models", "archive", "churn", "2", code=1)
    assert "models:/churn/1 is archived" in invoke("models", "archive", "churn", "1")
    assert "2" in invoke("models", "versions", "churn", "--no-archived")
    assert "models:/churn/1 is ready" in invoke("models", "restore", "churn", "1")
    assert "(deleted)" in invoke("models", "alias", "churn", "champion", "--delete")
    invoke("models", "alias", "churn", "champion", code=2)

    diff = invoke("models", "diff", "churn", "1", "2")
    assert "auc" in diff and "+0.1" in diff
    assert json.loads(invoke("models", "diff", "churn", "1", "latest", "--json"))["version_b"] == 2

    lineage = invoke("models", "lineage", "models:/churn/2")
    assert "model_version" in lineage and "produced" in lineage
    graph = json.loads(invoke("models", "lineage", "models:/churn/2", "--json"))
    assert graph["root"] == "model_version:churn/2"
    assert invoke("models", "lineage", "models:/churn/2", "--dot").startswith("digraph")
    svg = tmp_path / "g.svg"
    invoke("models", "lineage", "models:/churn/2", "--svg", str(svg))
    assert svg.read_text().startswith("<svg")
    invoke("models", "lineage", code=2)
    assert "Error: registered model 'nope' does not exist" in invoke(
        "models", "lineage", "models:/nope/1", code=1
    )


def test_lineage_by_dataset(invoke, client, fake_model, tmp_path):
    data = tmp_path / "d.txt"
    data.write_text("x")
    run_id = client.create_run("cli")
    digest = client.log_dataset(run_id, data, name="train").digest
    fake_model(client, run_id)
    client.end_run(run_id)
    invoke("models", "register", run_id, "m")
    out = invoke("models", "lineage", "--dataset", digest[:12])
    assert "Runs that used it" in out and "trained on it" in out and "direct" in out
    found = json.loads(invoke("models", "lineage", "--dataset", digest, "--json"))
    assert found["model_versions"][0]["name"] == "m"


def test_reproduce_command_reports_a_verdict_and_exits_1_unless_reproduced(
    invoke, client, model_run, tmp_path
):
    run_id = model_run()
    gone = tmp_path / "gone"
    client.store.update_code(
        run_id,
        {
            "repo_root": str(gone),
            "commit": "a" * 40,
            "dirty": False,
            "entry_point": "train.py",
            "argv": [],
        },
    )
    _pretend_recorded_with_old_numpy(client, run_id)
    invoke("models", "register", run_id, "churn")
    out = invoke("reproduce", "models:/churn/1", code=1)
    assert "could_not_run" in out and f"the repository at {gone} is not available" in out
    assert "warning: numpy 0.1 →" in out
    data = json.loads(invoke("reproduce", "models:/churn/1", "--json", "--no-record", code=1))
    assert data["status"] == "could_not_run" and data["name"] == "churn"
    assert data["details"] == f"could not run because the repository at {gone} is not available"
    shown = invoke("models", "versions", "churn")
    assert "could_not_run" in shown


def _pretend_recorded_with_old_numpy(client, run_id):
    """Point the run at a stored environment that differs from this one by numpy's version."""
    from sqlalchemy import insert, update

    from modelyard.store import tables as t
    from modelyard.tracking.environment import capture_environment

    env = capture_environment()
    with client.store.db.write() as conn:
        conn.execute(
            insert(t.environments).values(
                digest="e" * 64,
                python=env.python,
                platform=env.platform,
                packages={**env.packages, "numpy": "0.1"},
                hardware={},
                created_at=0,
            )
        )
        conn.execute(
            update(t.runs).where(t.runs.c.run_id == run_id).values(environment_digest="e" * 64)
        )
