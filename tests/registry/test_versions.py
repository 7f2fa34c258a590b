"""Registered models, numbered versions, aliases, history and model URIs."""

from __future__ import annotations

import math

import pytest

from modelyard import registry as reg
from modelyard.errors import InvalidArgument, InvalidState, NotFound
from modelyard.registry.uris import parse_model_uri, parse_run_uri


def test_register_numbers_versions_and_snapshots_the_run(client, model_run):
    first = model_run(metrics={"auc": 0.9, "loss": math.nan}, params={"C": 1})
    second = model_run(metrics={"auc": 0.93})
    v1 = reg.register_model(f"runs:/{first}/model", "churn", client=client)
    v2 = reg.register_model(second, "churn", description="better", client=client)
    v3 = reg.register_model(client.get_run(second), "churn", client=client)
    assert [v.version for v in (v1, v2, v3)] == [1, 2, 3]
    assert v1.uri == "models:/churn/1" and v1.source == f"runs:/{first}/model"
    assert v1.run_id == first and v1.artifact_path == "model" and v1.status == "ready"
    assert v1.params == {"C": "1"} and v1.metrics["auc"] == 0.9 and math.isnan(v1.metrics["loss"])
    assert v1.flavor == "python_function" and len(v1.model_digest) == 64
    assert v1.signature["inputs"][0]["name"] == "x"
    assert "@" in v1.created_by and v2.description == "better"
    model = reg.get_registered_model("churn", client=client)
    assert (model.latest_version, model.versions, model.aliases) == (3, 3, {})
    assert [m.name for m in reg.list_registered_models(client=client)] == ["churn"]
    assert reg.get_model_version("churn", 2, client=client) == v2
    assert v1.to_dict()["uri"] == "models:/churn/1"


def test_register_from_inside_the_active_run(yard, fake_model):
    with yard.start_run() as run:
        yard.log_metric("acc", 0.5)
        fake_model(yard.get_client(), run.id, "clf")
        version = yard.register_model(run, "fluent", artifact_path="clf")
    assert version.metrics == {"acc": 0.5} and version.artifact_path == "clf"
    assert yard.resolve_model_uri("models:/fluent/1") == (run.id, "clf")


def test_a_run_without_a_model_there_says_how_to_log_one(client, model_run):
    run_id = model_run(name="clf")
    with pytest.raises(InvalidArgument) as info:
        reg.register_model(f"runs:/{run_id}/model", "churn", client=client)
    message = info.value.message
    assert f"run {run_id} has no model at 'model'" in message
    assert "it has models at: 'clf'" in message and "yard.log_model" in message
    assert f"runs:/{run_id}/clf" in info.value.hint
    with pytest.raises(NotFound, match="does not exist"):
        reg.register_model("runs:/" + "0" * 32 + "/model", "churn", client=client)
    with pytest.raises(InvalidArgument, match="model name"):
        reg.register_model(run_id, "bad/name", artifact_path="clf", client=client)


def test_model_files_that_do_not_match_the_manifest_make_a_failed_version(client, model_run):
    run_id = model_run()
    client.log_bytes(run_id, b"tampered", "model/weights.json")
    version = reg.register_model(run_id, "churn", client=client)
    assert version.status == "failed"
    assert "weights.json" in version.status_message
    with pytest.raises(InvalidState, match="failed its checks"):
        reg.resolve_model_uri("models:/churn/1", client=client)
    with pytest.raises(InvalidState, match="ready version"):
        reg.set_alias("churn", "champion", 1, client=client)


def test_aliases_move_and_every_move_is_recorded(client, model_run):
    for _ in range(3):
        reg.register_model(model_run(), "churn", client=client)
    first = reg.set_alias("churn", "champion", 1, client=client)
    assert (first.version, first.previous_version, first.uri) == (1, None, "models:/churn@champion")
    moved = reg.set_alias("churn", "champion", 3, client=client)
    assert (moved.version, moved.previous_version) == (3, 1)
    reg.set_alias("churn", "champion", 3, client=client)  # not a move: no event
    reg.set_alias("churn", "challenger", 2, client=client)
    assert reg.get_model_version_by_alias("churn", "champion", client=client).version == 3
    assert reg.get_model_version("churn", 3, client=client).aliases == ("champion",)
    assert reg.get_registered_model("churn", client=client).aliases == {
        "challenger": 2,
        "champion": 3,
    }
    deleted = reg.delete_alias("churn", "challenger", client=client)
    assert (deleted.version, deleted.previous_version) == (None, 2)
    events = reg.list_model_events("churn", client=client)
    kinds = [e.kind for e in events]
    assert kinds[0] == "registered_model.created"
    assert kinds.count("model_version.created") == 3
    moves = [e.payload for e in events if e.kind.startswith("alias.")]
    assert moves == [
        {"alias": "champion", "from": None, "to": 1},
        {"alias": "champion", "from": 1, "to": 3},
        {"alias": "challenger", "from": None, "to": 2},
        {"alias": "challenger", "from": 2, "to": None},
    ]
    assert all(e.subject_type == "model" and "@" in e.actor for e in events)
    with pytest.raises(NotFound, match="no alias 'challenger' to delete"):
        reg.delete_alias("churn", "challenger", client=client)


def test_alias_names_are_checked(client, model_run):
    reg.register_model(model_run(), "churn", client=client)
    for bad in ("latest", "9lives", "a b", ""):
        with pytest.raises(InvalidArgument):
            reg.set_alias("churn", bad, 1, client=client)
    with pytest.raises(NotFound, match=r"has no version 7 \(latest is 1\)") as info:
        reg.set_alias("churn", "champion", 7, client=client)
    assert info.value.hint == "list them with: modelyard models versions churn"


def test_uris_resolve_by_number_alias_and_latest(client, model_run):
    runs = [model_run() for _ in range(3)]
    for run_id in runs:
        reg.register_model(run_id, "churn", client=client)
    reg.set_alias("churn", "champion", 2, client=client)
    assert reg.resolve_model_uri("models:/churn/1", client=client) == (runs[0], "model")
    assert reg.resolve_model_uri("models:/churn@champion", client=client) == (runs[1], "model")
    assert reg.resolve_model_uri("models:/churn/latest", client=client) == (runs[2], "model")
    assert reg.resolve_model_uri("models:/churn@latest", client=client) == (runs[2], "model")
    assert reg.resolve_model_uri(f"runs:/{runs[0]}/model") == (runs[0], "model")
    archived = reg.archive_model_version("churn", 3, client=client)
    assert archived.status == "archived"
    assert reg.resolve_model_uri("models:/churn/latest", client=client) == (runs[1], "model")
    assert reg.resolve_model_uri("models:/churn/3", client=client) == (runs[2], "model")
    assert [v.version for v in reg.list_model_versions("churn", client=client)] == [1, 2, 3]
    assert [
        v.version for v in reg.list_model_versions("churn", include_archived=False, client=client)
    ] == [1, 2]
    assert reg.restore_model_version("churn", 3, client=client).status == "ready"
    kinds = [e.kind for e in reg.list_model_events("churn", client=client)]
    assert "model_version.archived" in kinds and "model_version.status" in kinds


def test_unknown_names_say_what_exists(client, model_run):
    reg.register_model(model_run(), "churn", client=client)
    reg.set_alias("churn", "champion", 1, client=client)
    with pytest.raises(NotFound) as info:
        reg.resolve_model_uri("models:/churn/7", client=client)
    assert info.value.message == "model 'churn' has no version 7 (latest is 1)"
    assert info.value.hint == "list them with: modelyard models versions churn"
    with pytest.raises(NotFound, match=r"no alias 'prod' \(its aliases: champion → 1\)"):
        reg.resolve_model_uri("models:/churn@prod", client=client)
    with pytest.raises(NotFound, match=r"'fraud' does not exist \(there are: churn\)"):
        reg.resolve_model_uri("models:/fraud/1", client=client)
    with pytest.raises(InvalidState, match="alias"):
        reg.archive_model_version("churn", 1, client=client)
    reg.delete_alias("churn", "champion", client=client)
    reg.archive_model_version("churn", 1, client=client)
    with pytest.raises(NotFound, match="no ready version"):
        reg.resolve_model_uri("models:/churn/latest", client=client)
    with pytest.raises(InvalidState, match="archived"):
        reg.set_alias("churn", "champion", 1, client=client)


def test_descriptions_and_tags(client, model_run):
    reg.register_model(model_run(), "churn", client=client)
    model = reg.update_registered_model(
        "churn", description="who leaves", tags={"team": "risk", "tier": 1}, client=client
    )
    assert model.description == "who leaves" and model.tags == {"team": "risk", "tier": "1"}
    model = reg.update_registered_model("churn", tags={"tier": ""}, client=client)
    assert model.tags == {"team": "risk"}
    version = reg.update_model_version("churn", 1, description="first", client=client)
    assert version.description == "first"
    with pytest.raises(InvalidArgument, match="positive integer"):
        reg.get_model_version("churn", 0, client=client)


@pytest.mark.parametrize(
    "uri",
    ["churn/1", "models:/churn", "models:/churn/x", "models:/churn/0", "models:/a b/1", "models:/"],
)
def test_malformed_model_uris_say_the_accepted_forms(uri):
    with pytest.raises(InvalidArgument, match=r"model URI|not a model URI|model name"):
        parse_model_uri(uri)


def test_parse_uris():
    assert parse_model_uri("models:/churn/12").version == 12
    assert parse_model_uri("models:/churn/latest").latest
    assert str(parse_model_uri("models:/churn@champion")) == "models:/churn@champion"
    assert parse_run_uri("runs:/abc/model/sub") == ("abc", "model/sub")
    with pytest.raises(InvalidArgument):
        parse_run_uri("runs:/abc")


def test_a_model_logged_with_log_model_registers_and_loads_by_alias(yard):
    models = pytest.importorskip("modelyard.models")
    pd = pytest.importorskip("pandas")

    class Doubler(models.PythonModel):
        def predict(self, df):
            return df["x"].to_numpy() * 2

    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with yard.start_run() as run:
        yard.log_metric("auc", 0.7)
        info = models.log_model(Doubler(), name="model", input_example=frame)
    version = yard.register_model(info, "doubler")
    assert version.run_id == run.id and version.model_digest == info.model_digest
    assert version.flavor == info.flavor and version.status == "ready"
    assert version.signature["inputs"][0]["name"] == "x"
    yard.set_alias("doubler", "champion", version.version)
    predictor = models.load_model("models:/doubler@champion")
    assert list(predictor.predict(frame)) == [2.0, 4.0]


def test_reproduce_in_remote_mode_says_it_needs_the_stores(tmp_path):
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(
        Settings.load(project_root=str(tmp_path), tracking_uri="http://127.0.0.1:9")
    )
    with pytest.raises(InvalidState, match="needs direct access to the metadata") as info:
        reg.reproduce("models:/churn/1", client=client)  # said before any request is sent
    assert "MODELYARD_TRACKING_URI" in info.value.hint
