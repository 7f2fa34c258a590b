"""Verified reproduce, end to end: a real git repository, a dirty script, a data file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from modelyard import registry as reg

TRAIN = textwrap.dedent(
    """
    import json, pathlib, random, sys
    import modelyard as yard
    from modelyard._digest import digest_bytes

    SCALE = 1.0
    values = [float(x) for x in pathlib.Path("data/train.txt").read_text().split()]
    lr = float(sys.argv[sys.argv.index("--lr") + 1])
    try:
        from modelyard.models import PythonModel, log_model
    except ImportError:  # packaging not available: write the manifest log_model would write
        log_model = None
    else:
        class Model(PythonModel):
            def __init__(self, w):
                self.w = w

            def predict(self, df):
                return df * self.w

    with yard.start_run(name="train") as run:
        yard.log_input("data/train.txt", name="train", context="training")
        yard.log_param("lr", lr)
        weight = sum(values) * lr * SCALE + NOISE
        yard.log_metrics({"loss": 1.0 / (1.0 + weight), "weight": weight})
        if log_model is not None:
            log_model(Model(weight), name="model")
        else:
            data = json.dumps({"w": weight}).encode()
            entry = {"digest": digest_bytes(data), "size": len(data)}
            listing = f"{entry['digest']} {entry['size']} weights.json\\n".encode()
            manifest = {
                "format_version": 1, "flavor": "python", "serialization": "json",
                "files": {"weights.json": entry},
                "model_digest": digest_bytes(b"modelyard-model-v1\\n" + listing),
            }
            client = yard.get_client()
            client.log_bytes(run.id, data, "model/weights.json")
            client.log_dict(run.id, manifest, "model/modelyard-model.json")
    print(run.id)
    """
)


def _git(repo, *args):
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def project(tmp_path):
    """A git repository with train.py (deterministic) and noisy.py, data/ ignored; train.py
    carries an uncommitted change that reproduce must apply to get the same metrics."""
    repo = tmp_path / "project"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train.txt").write_text("1 2 3\n")
    (repo / ".gitignore").write_text("data/\n")
    (repo / "train.py").write_text(TRAIN.replace("NOISE", "0.0"))
    (repo / "noisy.py").write_text(TRAIN.replace("NOISE", "random.random()"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "train")
    (repo / "train.py").write_text(
        TRAIN.replace("NOISE", "0.0").replace("SCALE = 1.0", "SCALE = 2.0")
    )
    return repo


def _run(settings, repo, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        MODELYARD_DATABASE_URL=settings.database_url,
        MODELYARD_ARTIFACT_URL=settings.artifact_url,
        MODELYARD_EXPERIMENT_NAME="repro",
        PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in sys.path if p),
    )
    proc = subprocess.run(
        [sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_reproduce_checks_out_applies_the_diff_reruns_and_records(settings, client, project):
    run_id = _run(settings, project, "train.py", "--lr", "0.5")
    original = client.get_run(run_id)
    assert original.code["dirty"] and original.metrics["weight"] == 6.0  # SCALE = 2.0
    reg.register_model(run_id, "churn", client=client)

    result = reg.reproduce("models:/churn/1", client=client)
    assert result.status == "reproduced", result.details
    assert result.ok and "2 metric(s) match" in result.details
    assert [(c.key, c.within) for c in result.metrics] == [("loss", True), ("weight", True)]
    assert [(d.name, d.status) for d in result.datasets] == [("train", "ok")]
    assert result.command[1:] == ("train.py", "--lr", "0.5")
    rerun = client.get_run(result.new_run_id)
    assert rerun.run_id != run_id and rerun.metrics == original.metrics
    assert rerun.tags["modelyard.reproduce_of"] == run_id
    assert rerun.tags["modelyard.reproduce_verdict"] == "reproduced"
    assert rerun.code["commit"] == original.code["commit"]
    assert rerun.code["diff_digest"] == original.code["diff_digest"]
    assert rerun.inputs[0].digest == original.inputs[0].digest
    assert client.store.get_experiment(rerun.experiment_id).name == "repro"
    version = reg.get_model_version("churn", 1, client=client)
    assert version.reproduce["status"] == "reproduced"
    assert version.reproduce["new_run_id"] == rerun.run_id and version.reproduce["checked_at"]
    events = [e for e in reg.list_model_events("churn", client=client) if "reproduced" in e.kind]
    assert events[-1].payload["status"] == "reproduced"
    assert len(_git(project, "worktree", "list").splitlines()) == 1  # the worktree is gone

    (project / "data" / "train.txt").write_text("1 2 4\n")
    changed = reg.reproduce("models:/churn/1", client=client)
    assert changed.status == "could_not_run" and changed.new_run_id is None
    assert "dataset 'train' (training)" in changed.details and "changed" in changed.details
    assert [(d.name, d.status) for d in changed.datasets] == [("train", "changed")]
    (project / "data" / "train.txt").unlink()
    missing = reg.reproduce("models:/churn/1", record=False, client=client)
    assert "dataset 'train' (training) is missing at" in missing.details
    assert reg.get_model_version("churn", 1, client=client).reproduce["details"] == changed.details

    (project / "data" / "train.txt").write_text("1 2 3\n")
    moved = project.with_name("moved")
    project.rename(moved)
    gone = reg.reproduce("models:/churn/1", client=client)
    assert gone.status == "could_not_run"
    assert gone.details.startswith(
        f"could not run because the repository at {project} is not available; "
        "dataset 'train' (training) is missing at"  # the data lived in the repository too
    )


def test_a_rerun_with_other_metrics_differs_and_names_them(settings, client, project):
    run_id = _run(settings, project, "noisy.py", "--lr", "0.1")
    reg.register_model(f"runs:/{run_id}/model", "noisy", client=client)
    result = reg.reproduce("models:/noisy/latest", tolerance=1e-9, client=client)
    assert result.status == "differs", result.details
    assert "metric 'weight'" in result.details and "metric 'loss'" in result.details
    assert "Δ" in result.details and "beyond rel 1e-09" in result.details
    weight = next(c for c in result.metrics if c.key == "weight")
    assert not weight.within and weight.delta == pytest.approx(weight.new - weight.original)
    assert reg.get_model_version("noisy", 1, client=client).reproduce["status"] == "differs"
    loose = reg.reproduce("models:/noisy/1", tolerance=10.0, metrics=["weight"], client=client)
    assert loose.status == "reproduced" and [c.key for c in loose.metrics] == ["weight"]


def test_run_tags_setting_tags_every_run(tmp_path):
    from modelyard.errors import ConfigError
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

    settings = Settings.load(project_root=str(tmp_path), run_tags='{"team": "risk", "n": 1}')
    client = TrackingClient(settings)
    run_id = client.create_run("tagged", tags={"n": "2"})
    assert client.get_run(run_id).tags == {"team": "risk", "n": "2"}
    client.end_run(run_id)
    client.close()
    bad = TrackingClient(settings.replace(run_tags="team=risk"))
    with pytest.raises(ConfigError, match="MODELYARD_RUN_TAGS"):
        bad.create_run("tagged")
    bad.close()
