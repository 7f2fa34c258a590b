"""The command line: tables for people, JSON for scripts, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli


@pytest.fixture
def logged(yard, settings):
    """Three finished runs in experiment 'churn' plus one in 'other'."""
    yard.set_experiment("churn")
    ids = []
    for i, c in enumerate((0.1, 1.0, 10.0)):
        with yard.start_run(name=f"logreg-{i}") as run:
            yard.log_params({"C": c, "solver": "lbfgs"})
            yard.log_metrics({"auc": 0.8 + i / 20, "f1": 0.7})
            yard.log_metric("loss", float("nan"), step=1)
        ids.append(run.id)
    with yard.start_run(name="elsewhere", experiment="other"):
        pass
    return ids


def run_cli(settings, *args: str):
    result = CliRunner().invoke(
        cli,
        ["--database-url", settings.database_url, "--artifact-url", settings.artifact_url, *args],
        catch_exceptions=False,
        env={"COLUMNS": "250"},
    )
    return result


def test_experiments_list_table_and_json(settings, logged):
    result = run_cli(settings, "experiments", "list")
    assert result.exit_code == 0, result.output
    assert "churn" in result.output and "other" in result.output
    data = json.loads(run_cli(settings, "experiments", "list", "--json").output)
    runs = {e["name"]: e["runs"] for e in data}
    assert runs == {"churn": 3, "other": 1}


def test_runs_list_filters_and_orders(settings, logged):
    result = run_cli(
        settings,
        "runs", "list", "-e", "churn",
        "--filter", "metrics.auc > 0.82", "--order-by", "metrics.auc desc", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [r["name"] for r in json.loads(result.output)["runs"]]
    assert names == ["logreg-2", "logreg-1"]
    table = run_cli(settings, "runs", "list", "-e", "churn").output
    assert "logreg-0" in table and "metrics.auc" in table and "FINISHED" in table


def test_runs_show_and_json_keep_nan(settings, logged):
    result = run_cli(settings, "runs", "show", logged[0][:8])
    assert result.exit_code == 0, result.output
    assert "logreg-0" in result.output and "solver" in result.output
    data = json.loads(run_cli(settings, "runs", "show", logged[0], "--json").output)
    assert data["metrics"]["loss"] == "NaN"
    assert data["params"] == {"C": "0.1", "solver": "lbfgs"}


def test_runs_compare_shows_only_differences(settings, logged):
    result = run_cli(settings, "runs", "compare", logged[0], logged[1])
    assert result.exit_code == 0, result.output
    assert "auc" in result.output and "solver" not in result.output
    data = json.loads(run_cli(settings, "runs", "compare", *logged, "--json").output)
    differs = {(r["section"], r["key"]) for r in data["rows"] if r["differs"]}
    assert ("params", "C") in differs and ("params", "solver") not in differs


def test_errors_are_one_clean_paragraph(settings, logged):
    result = CliRunner().invoke(
        cli, ["--database-url", settings.database_url, "runs", "show", "ffffffffffff"]
    )
    assert result.exit_code == 1
    assert "Error: run 'ffffffffffff' does not exist" in result.output
    assert "Hint: list runs with: modelyard runs list" in result.output
    assert "Traceback" not in result.output
    args = ["runs", "list", "-e", "churn", "--filter", "metrics.auc >"]
    bad = CliRunner().invoke(cli, ["--database-url", settings.database_url, *args])
    assert bad.exit_code == 1 and "position" in bad.output


def test_config_error_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["--database-url", "mysql://x@y/z", "experiments", "list"])
    assert result.exit_code == 2
    assert "supports sqlite and postgresql" in result.output


def test_config_show_lists_every_setting_with_source(tmp_path, monkeypatch):
    from modelyard.settings import Settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELYARD_FLUSH_INTERVAL", "2.5")
    data = json.loads(CliRunner().invoke(cli, ["config", "show", "--json"]).output)
    by_name = {row["name"]: row for row in data}
    assert set(by_name) == {f.name for f in Settings.fields()}
    assert by_name["flush_interval"]["value"] == "2.5"
    assert by_name["flush_interval"]["source"] == "env MODELYARD_FLUSH_INTERVAL"
    assert by_name["experiment_name"]["source"] == "default"


def test_every_command_has_help():
    runner = CliRunner()

    def walk(group, path):
        for name, command in group.commands.items():
            result = runner.invoke(cli, [*path, name, "--help"])
            assert result.exit_code == 0, (path, name, result.output)
            assert command.help, f"{' '.join([*path, name])} has no help text"
            if hasattr(command, "commands"):
                walk(command, [*path, name])

    walk(cli, [])


def test_python_dash_m_help_runs_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "modelyard", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "quickstart" in result.stdout and "runs" in result.stdout
