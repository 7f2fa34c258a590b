"""Lineage: model version -> run -> datasets, code, environment, parents and upstream runs."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard import registry as reg
from modelyard.errors import InvalidArgument, NotFound


@pytest.fixture
def pipeline(client, fake_model, tmp_path):
    """A parent run with a prep step (raw file -> features) and a train step (features -> model)."""
    raw = tmp_path / "raw.txt"
    raw.write_text("raw rows\n")
    features = pd.DataFrame({"x": [1.0, 2.0, 3.0], "city": ["a", "b", "a"]})
    parent = client.create_run("lineage", name="pipeline")
    prep = client.create_run("lineage", name="prep", parent_run_id=parent)
    raw_info = client.log_dataset(prep, raw, name="raw")
    feat_info = client.log_dataset(prep, features, name="features", direction="output")
    client.end_run(prep)
    train = client.create_run("lineage", name="train", parent_run_id=parent)
    client.log_dataset(train, features, name="features", context="training")
    client.log_metrics(train, {"auc": 0.8})
    fake_model(client, train)
    client.end_run(train)
    client.end_run(parent)
    version = reg.register_model(train, "churn", client=client)
    reg.set_alias("churn", "champion", 1, client=client)
    return {
        "parent": parent,
        "prep": prep,
        "train": train,
        "raw": raw_info.digest,
        "features": feat_info.digest,
        "version": version,
    }


def test_lineage_walks_from_the_model_to_data_code_environment_and_upstream_runs(client, pipeline):
    graph = reg.lineage("models:/churn@champion", client=client)
    assert graph.root == "model_version:churn/1"
    root = graph.node(graph.root)
    assert root.kind == "model_version" and root.attributes["aliases"] == ["champion"]
    runs = {n.label for n in graph.nodes_of("run")}
    assert runs == {"pipeline", "prep", "train"}
    digests = {n.attributes["digest"] for n in graph.nodes_of("dataset")}
    assert digests == {pipeline["raw"], pipeline["features"]}
    assert graph.nodes_of("environment") and graph.nodes_of("code")
    edges = {(e.source, e.target, e.kind) for e in graph.edges}
    train, prep, parent = (f"run:{pipeline[k]}" for k in ("train", "prep", "parent"))
    features, raw = f"dataset:{pipeline['features']}", f"dataset:{pipeline['raw']}"
    assert (train, graph.root, "produced") in edges
    assert (features, train, "input") in edges
    assert (prep, features, "output") in edges
    assert (raw, prep, "input") in edges
    assert (parent, train, "parent") in edges and (parent, prep, "parent") in edges
    data = graph.to_dict()
    assert data["root"] == graph.root and len(data["nodes"]) == len(graph.nodes)
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and f'"{train}" -> "{graph.root}"' in dot
    svg = graph.to_svg()
    assert svg.startswith("<svg") and svg.count("<rect") == len(graph.nodes)
    assert svg.count("marker-end=") == len(graph.edges)
    shallow = reg.lineage(pipeline["version"], depth=0, client=client)
    assert {n.label for n in shallow.nodes_of("run")} == {"train"}
    by_run = reg.lineage(pipeline["prep"], client=client)
    assert by_run.root == prep


def test_lineage_of_a_dataset_finds_runs_and_models_downstream(client, pipeline):
    found = reg.lineage_of_dataset(pipeline["raw"][:10], client=client)
    assert found.digest == pipeline["raw"] and found.dataset["kind"] == "file"
    uses = {(u.run_name, u.direction, u.distance, u.digest) for u in found.uses}
    assert uses == {
        ("prep", "input", 0, pipeline["raw"]),
        ("train", "input", 1, pipeline["features"]),
    }
    assert [v.uri for v in found.model_versions] == ["models:/churn/1"]
    direct = reg.lineage_of_dataset(pipeline["raw"], depth=0, client=client)
    assert direct.model_versions == () and [u.run_name for u in direct.uses] == ["prep"]
    features = reg.lineage_of_dataset(pipeline["features"], client=client)
    assert {(u.run_name, u.direction) for u in features.uses} == {
        ("prep", "output"),
        ("train", "input"),
    }
    assert features.to_dict()["model_versions"][0]["name"] == "churn"


def test_dataset_digest_errors(client, pipeline):
    with pytest.raises(InvalidArgument, match="too short"):
        reg.lineage_of_dataset("abc", client=client)
    with pytest.raises(InvalidArgument, match="not hexadecimal"):
        reg.lineage_of_dataset("zzzzzzzz", client=client)
    missing = "0123456789" if not pipeline["raw"].startswith("0123456789") else "fedcba9876"
    with pytest.raises(NotFound, match="no dataset has a digest starting with"):
        reg.lineage_of_dataset(missing, client=client)
