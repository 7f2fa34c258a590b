"""Model diff: data (digests, schema, profile shifts), code, environment, params and metrics."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from modelyard import registry as reg


def _train(client, fake_model, frame, params, metrics, weights):
    run_id = client.create_run("diff")
    client.log_dataset(run_id, frame, name="train", context="training")
    client.log_dataset(run_id, frame.head(5), name="holdout")
    client.log_params(run_id, params)
    client.log_metrics(run_id, metrics)
    fake_model(client, run_id, weights=weights)
    client.end_run(run_id)
    return run_id


def test_diff_names_what_changed_between_two_versions(client, fake_model):
    rng = np.random.default_rng(0)
    base = pd.DataFrame(
        {
            "age": rng.normal(40, 5, 400),
            "plan": rng.choice(["basic", "pro"], 400, p=[0.7, 0.3]),
            "score": rng.integers(0, 10, 400),
        }
    )
    shifted = base.assign(age=base.age + 10, plan=np.where(base.index < 300, "pro", "basic"))
    shifted = shifted.drop(columns="score").assign(tenure=1.0)
    a = _train(client, fake_model, base, {"C": 1, "depth": 3}, {"auc": 0.8, "f1": 0.5}, b"a")
    b = _train(client, fake_model, shifted, {"C": 2, "seed": 7}, {"auc": 0.84, "f1": 0.5}, b"b")
    reg.register_model(a, "churn", client=client)
    reg.register_model(b, "churn", client=client)
    reg.set_alias("churn", "champion", 1, client=client)
    d = reg.diff_model_versions("churn", "champion", 2, client=client)
    assert (d.version_a, d.version_b, d.run_id_a, d.run_id_b) == (1, 2, a, b)
    assert d.model["model_digest"][0] != d.model["model_digest"][1]
    train = next(x for x in d.data if x.name == "train")
    assert train.status == "changed" and train.context == "training"
    assert train.columns_added == ("tenure",) and train.columns_removed == ("score",)
    shifts = {s.column: s for s in train.shifts}
    assert set(shifts) == {"age", "plan"}
    age = shifts["age"]
    assert age.kind == "numeric" and 1.5 < age.score < 2.5
    assert age.changes["mean"][1] - age.changes["mean"][0] == pytest.approx(10)
    assert "q0.5" in age.changes and "std" not in age.changes
    plan = shifts["plan"]
    assert plan.kind == "categorical" and plan.score > 0.3
    assert plan.changes["share[pro]"][1] == 0.75
    holdout = next(x for x in d.data if x.name == "holdout")
    assert holdout.status == "changed"
    assert d.code.same and d.code.commit_a == d.code.commit_b
    assert d.environment.available and d.environment.same and d.environment.changed == {}
    params = {p.key: (p.a, p.b, p.status) for p in d.params}
    assert params == {
        "C": ("1", "2", "changed"),
        "depth": ("3", None, "removed"),
        "seed": (None, "7", "added"),
    }
    metrics = {m.key: m for m in d.metrics}
    assert metrics["auc"].changed and round(metrics["auc"].delta, 6) == 0.04
    assert round(metrics["auc"].relative, 6) == 0.05 and not metrics["f1"].changed
    as_dict = d.to_dict()
    assert as_dict["data"][0]["shifts"] and as_dict["code"]["same"] is True
    rows = d.rows()
    sections = {r[0] for r in rows}
    assert {"model", "data", "params", "metrics"} <= sections and "code" not in sections
    assert any(r[1] == "auc" and r[4].startswith("+0.04") for r in rows)
    assert len(d.rows(show_all=True)) > len(rows)


def _git(repo, *args):
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_code_diff_shows_commits_and_git_stat(client, fake_model, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print(2)\nprint(3)\n")
    _git(repo, "commit", "-q", "-am", "two")
    second = _git(repo, "rev-parse", "HEAD")
    runs = []
    for commit, dirty in ((first, False), (second, True)):
        run_id = client.create_run("diff")
        code = {
            "repo_root": str(repo),
            "commit": commit,
            "dirty": dirty,
            "diff_digest": "d" * 64 if dirty else None,
            "entry_point": "train.py",
            "argv": ["--fast"] if dirty else [],
        }
        client.store.update_code(run_id, code)
        fake_model(client, run_id)
        client.end_run(run_id)
        reg.register_model(run_id, "coded", client=client)
        runs.append(run_id)
    d = reg.diff_model_versions("coded", 1, "latest", client=client)
    assert not d.code.same and (d.code.commit_a, d.code.commit_b) == (first, second)
    assert (d.code.dirty_a, d.code.dirty_b) == (False, True)
    assert "train.py" in d.code.stat and "1 file changed" in d.code.stat
    keys = [r[1] for r in d.rows() if r[0] == "code"]
    assert keys == ["commit", "uncommitted diff", "command"]
