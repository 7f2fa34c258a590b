"""Helpers for registry tests: runs holding a model folder with a manifest, like yard.log_model."""

from __future__ import annotations

import json

import pytest

from modelyard._digest import digest_bytes


def manifest_for(files: dict[str, bytes], flavor: str = "python_function") -> dict:
    """A modelyard-model.json for ``files`` (relative path -> bytes), in log_model's format."""
    entries = {p: {"digest": digest_bytes(b), "size": len(b)} for p, b in sorted(files.items())}
    listing = "".join(f"{e['digest']} {e['size']} {p}\n" for p, e in entries.items())
    return {
        "format_version": 1,
        "flavor": flavor,
        "serialization": "json",
        "framework": {"name": "test", "version": "1"},
        "signature": {"inputs": [{"name": "x", "type": "double"}], "outputs": None},
        "files": entries,
        "model_digest": digest_bytes(b"modelyard-model-v1\n" + listing.encode()),
    }


def log_fake_model(client, run_id: str, name: str = "model", weights: bytes = b"w=1") -> dict:
    """Log a model folder ``name/`` (one weights file and a manifest) to a run."""
    manifest = manifest_for({"weights.json": weights})
    client.log_bytes(run_id, weights, f"{name}/weights.json")
    client.log_bytes(run_id, json.dumps(manifest).encode(), f"{name}/modelyard-model.json")
    return manifest


@pytest.fixture
def fake_model():
    """``fake_model(client, run_id, name="model", weights=b"w=1")`` logs a model folder."""
    return log_fake_model


@pytest.fixture
def model_run(client):
    """Make a finished run with params, metrics and a model; returns a function."""

    def make(metrics=None, params=None, weights=b"w=1", name="model", experiment="reg"):
        run_id = client.create_run(experiment)
        client.log_params(run_id, params or {"C": 1})
        client.log_metrics(run_id, metrics or {"auc": 0.9})
        log_fake_model(client, run_id, name, weights)
        client.end_run(run_id)
        return run_id

    return make
