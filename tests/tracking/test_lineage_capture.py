"""Every run records its data, code and environment, and they can be searched and read back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd


def test_log_input_records_digest_schema_profile_and_is_searchable(yard):
    frame = pd.DataFrame({"age": np.arange(100, dtype=float), "plan": ["a", "b"] * 50})
    yard.set_experiment("data")
    with yard.start_run(name="reads") as run:
        info = yard.log_input(frame, name="train", context="training")
        yard.log_output(frame.head(10), name="sample")
    with yard.start_run(name="other data"):
        yard.log_input(frame.assign(age=frame.age + 1), name="train", context="training")
    got = yard.get_run(run.id)
    by_name = {i.name: i for i in got.inputs}
    train = by_name["train"]
    assert train.digest == info.digest and len(train.digest) == 64
    assert (train.rows, train.columns, train.kind, train.context) == (
        100,
        2,
        "dataframe",
        "training",
    )
    assert [c["name"] for c in train.schema] == ["age", "plan"]
    assert train.profile["columns"]["age"]["type"] == "numeric"
    assert by_name["sample"].direction == "output"
    found = yard.search_runs("data", filter=f"datasets.digest = '{info.digest}'")
    assert [r.name for r in found] == ["reads"]


def test_same_bytes_share_one_dataset_version(yard, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    with yard.start_run() as a:
        first = yard.log_input(data, name="train")
    with yard.start_run() as b:
        second = yard.log_input(str(data), name="train")
    assert first.digest == second.digest
    assert yard.get_run(a.id).inputs[0].digest == yard.get_run(b.id).inputs[0].digest


def _git(cwd, *args):
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
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def test_run_in_a_dirty_repo_records_commit_and_diff(settings, client, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    commit = _git(repo, "rev-parse", "HEAD").strip()
    script = textwrap.dedent(
        f"""
        import modelyard as yard
        yard.configure(project_root={str(repo)!r}, database_url={settings.database_url!r},
                       artifact_url={settings.artifact_url!r})
        with yard.start_run() as run:
            yard.log_param("C", 1)
        print(run.id)
        """
    )
    (repo / "train.py").write_text("print('v2: uncommitted')\n" + script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    out = subprocess.run(
        [sys.executable, "train.py", "--epochs", "3"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    run = client.get_run(out.strip().splitlines()[-1])
    code = run.code
    assert code["commit"] == commit and code["branch"] == "main" and code["dirty"] is True
    assert code["entry_point"] == "train.py" and code["argv"] == ["--epochs", "3"]
    diff = client.read_artifact(run.run_id, code["diff_artifact"])
    assert b"v2: uncommitted" in diff
    assert diff.decode() == _git(repo, "diff", "HEAD", "--binary")
    assert run.environment["packages"]["numpy"] == np.__version__
    assert run.environment_digest == run.environment["digest"]


def test_capture_can_be_turned_off(tmp_path):
    import modelyard as yard
    from modelyard.settings import Settings

    settings = Settings.load(
        project_root=str(tmp_path), capture_code=False, capture_environment=False
    )
    client = yard.TrackingClient(settings)
    run_id = client.create_run("quiet")
    client.end_run(run_id)
    run = client.get_run(run_id)
    assert run.code is None and run.environment is None
    client.close()
