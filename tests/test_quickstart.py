"""`modelyard quickstart` in an empty folder trains, tracks and compares models."""

from __future__ import annotations

import json

from click.testing import CliRunner

from modelyard.cli.main import cli


def test_quickstart_in_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["quickstart"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "best first" in result.output and "modelyard runs show" in result.output
    assert (tmp_path / ".modelyard" / "modelyard.db").exists()

    listed = CliRunner().invoke(cli, ["runs", "list", "-e", "quickstart", "--json"])
    runs = json.loads(listed.output)["runs"]
    assert len(runs) == 4
    assert {r["status"] for r in runs} == {"FINISHED"}
    for run in runs:
        assert run["metrics"]["roc_auc"] > 0.9
        names = {i["name"] for i in run["inputs"]}
        assert names == {"breast_cancer_train", "breast_cancer_test"}
        assert run["environment_digest"]
    # every run read the same training bytes
    assert len({i["digest"] for r in runs for i in r["inputs"] if i["context"] == "training"}) == 1
    boosted = next(r for r in runs if r["params"]["model"] == "gradient_boosting")
    shown = json.loads(
        CliRunner().invoke(cli, ["runs", "show", boosted["run_id"], "--json"]).output
    )
    assert {a["path"] for a in shown["artifacts"]} >= {
        "confusion_matrix.json",
        "predictions/test_scores.csv",
    }


def test_quickstart_registers_the_best_model_as_champion(tmp_path, monkeypatch):
    import modelyard as yard
    from modelyard.settings import Settings

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["quickstart", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["model_uri"] == "models:/breast-cancer@champion"
    client = yard.TrackingClient(Settings.load(project_root=str(tmp_path)))
    version = yard.get_model_version_by_alias("breast-cancer", "champion", client=client)
    assert version.run_id == data["best_run_id"] and version.status == "ready"
    predictor = yard.load_model("models:/breast-cancer@champion", client=client)
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    predicted = predictor.predict(frame.drop(columns="target").head(50))
    assert (predicted == frame["target"].head(50).to_numpy()).mean() > 0.9
    client.close()


def test_quickstart_pipeline_second_run_hits_the_cache(tmp_path):
    from modelyard.quickstart import run_pipeline_demo
    from modelyard.settings import Settings

    demo = run_pipeline_demo(Settings.load(project_root=str(tmp_path)))
    assert [name for name, *_ in demo.steps] == ["prepare", "train", "evaluate"]
    assert all(not first and second for _, _, first, second in demo.steps)
    assert demo.model_uri == "models:/breast-cancer-pipeline/1"
    assert demo.accuracy > 0.9
