"""The registry in remote mode: the SDK talking to a real ``modelyard server`` on 127.0.0.1.

``settings`` is overridden here: every test of this module runs with ``tracking_uri`` set to a
server started for it (uvicorn in a thread over a fresh SQLite store), so ``client``, ``yard``
and ``model_run`` from the conftest files go through HTTP. The registry tests imported below
from ``test_versions``, ``test_lineage`` and ``test_diff`` run again that way, unchanged: the
same results and the same errors in both modes. ``local`` is a client on the server's store
itself, to compare with.
"""

from __future__ import annotations

import uuid

import pytest

# The same tests, collected again in this module, so they run against the server.
from test_diff import test_diff_names_what_changed_between_two_versions  # noqa: F401
from test_lineage import (  # noqa: F401
    pipeline,
    test_dataset_digest_errors,
    test_lineage_of_a_dataset_finds_runs_and_models_downstream,
    test_lineage_walks_from_the_model_to_data_code_environment_and_upstream_runs,
)
from test_versions import (  # noqa: F401
    test_a_model_logged_with_log_model_registers_and_loads_by_alias,
    test_a_run_without_a_model_there_says_how_to_log_one,
    test_alias_names_are_checked,
    test_aliases_move_and_every_move_is_recorded,
    test_descriptions_and_tags,
    test_model_files_that_do_not_match_the_manifest_make_a_failed_version,
    test_register_from_inside_the_active_run,
    test_register_numbers_versions_and_snapshots_the_run,
    test_unknown_names_say_what_exists,
    test_uris_resolve_by_number_alias_and_latest,
)

from dropping_proxy import DroppingProxy
from modelyard import registry as reg
from modelyard.errors import InvalidArgument, InvalidState, NotFound
from modelyard.registry.remote import RemoteRegistry
from modelyard.registry.versions import remote_registry


@pytest.fixture
def settings(tmp_path, request):
    """Settings whose tracking_uri is a server started for this test over a SQLite file."""
    from modelyard.server.runner import ThreadedServer
    from modelyard.settings import Settings

    stores = Settings.load(
        project_root=str(tmp_path),
        database_url=f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}",
        artifact_url=str(tmp_path / "artifacts"),
        flush_interval=0.2,
    )
    server = ThreadedServer(stores).start()
    request.addfinalizer(server.stop)
    return stores.replace(tracking_uri=server.url)


@pytest.fixture
def local(settings):
    """A client on the server's own stores (no HTTP), to compare answers with."""
    from modelyard.tracking.client import TrackingClient

    c = TrackingClient(settings.replace(tracking_uri=""))
    yield c
    c.close()


def test_the_client_is_remote_and_the_registry_goes_through_the_server(client, local, model_run):
    remote = remote_registry(client)
    assert isinstance(remote, RemoteRegistry) and remote.session is client.store.session
    assert remote_registry(local) is None
    run_id = model_run(metrics={"auc": 0.9, "loss": float("inf")})
    version = reg.register_model(run_id, "churn", client=client)
    assert version == reg.get_model_version("churn", 1, client=local)
    assert version.metrics["loss"] == float("inf")
    assert reg.list_registered_models(client=client) == reg.list_registered_models(client=local)
    assert reg.get_registered_model("churn", client=client) == reg.get_registered_model(
        "churn", client=local
    )


def test_lineage_and_diff_come_back_whole(client, local, model_run):
    for weights in (b"a", b"b"):
        reg.register_model(model_run(weights=weights), "churn", client=client)
    reg.set_alias("churn", "champion", 1, client=client)
    graph = reg.lineage("models:/churn@champion", client=client)
    assert graph == reg.lineage("models:/churn@champion", client=local)
    assert graph.root == "model_version:churn/1" and graph.to_svg().startswith("<svg")
    version = reg.get_model_version("churn", 2, client=client)
    assert reg.lineage(version, client=client).root == "model_version:churn/2"
    assert reg.lineage(version.run_id, client=client).root == f"run:{version.run_id}"
    diff = reg.diff_model_versions("churn", "champion", version, client=client)
    assert diff == reg.diff_model_versions("churn", 1, 2, client=local)
    assert diff.model["model_digest"][0] != diff.model["model_digest"][1]
    assert reg.diff_model_versions("churn", "models:/churn/latest", "@champion", client=client)
    with pytest.raises(InvalidArgument, match="cannot diff model 'churn' against"):
        reg.diff_model_versions("churn", "models:/fraud/1", 2, client=client)


def test_errors_come_back_by_class_with_message_and_hint(client, model_run):
    with pytest.raises(NotFound) as info:
        reg.get_model_version("churn", 1, client=client)
    assert info.value.message == "registered model 'churn' does not exist (there are none yet)"
    assert "modelyard models list" in info.value.hint
    reg.register_model(model_run(), "churn", client=client)
    with pytest.raises(NotFound) as info:
        reg.resolve_model_uri("models:/churn/7", client=client)
    assert info.value.message == "model 'churn' has no version 7 (latest is 1)"
    assert info.value.hint == "list them with: modelyard models versions churn"
    with pytest.raises(NotFound, match="no alias 'gone' to delete"):
        reg.delete_alias("churn", "gone", client=client)


def test_the_event_log_names_the_caller_not_the_server(client, local, model_run):
    reg.register_model(model_run(), "churn", actor="ana@laptop", client=client)
    reg.set_alias("churn", "champion", 1, actor="ana@laptop", client=client)
    reg.update_model_version("churn", 1, description="first", actor="bo@ci", client=client)
    reg.update_registered_model("churn", tags={"team": "risk"}, actor="bo@ci", client=client)
    reg.delete_alias("churn", "champion", actor="cy@desk", client=client)
    reg.archive_model_version("churn", 1, actor="cy@desk", client=client)
    reg.restore_model_version("churn", 1, actor="di@desk", client=client)
    events = reg.list_model_events("churn", client=local)
    assert [(e.kind, e.actor) for e in events] == [
        ("registered_model.created", "ana@laptop"),
        ("model_version.created", "ana@laptop"),
        ("alias.set", "ana@laptop"),
        ("model_version.updated", "bo@ci"),
        ("registered_model.updated", "bo@ci"),
        ("alias.deleted", "cy@desk"),
        ("model_version.archived", "cy@desk"),
        ("model_version.status", "di@desk"),
    ]
    assert reg.get_model_version("churn", 1, client=local).created_by == "ana@laptop"
    assert reg.list_model_events("churn", client=client) == events


def test_a_repeated_registration_with_the_same_request_id_registers_once(client, local, model_run):
    run_id = model_run()
    session = client.store.session
    body = {"run_id": run_id, "request_id": uuid.uuid4().hex, "actor": "ana@laptop"}
    first = session.call("POST", "/api/models/churn/versions", body=body)
    again = session.call("POST", "/api/models/churn/versions", body=body)
    assert first == again and first["version"] == 1
    other = session.call("POST", "/api/models/churn/versions", body=body | {"request_id": "b-2"})
    assert other["version"] == 2
    key = "my-key"
    v3 = reg.register_model(run_id, "churn", request_id=key, client=client)
    assert reg.register_model(run_id, "churn", request_id=key, client=local) == v3
    assert reg.register_model(run_id, "fraud", request_id=key, client=client).version == 1
    assert [v.version for v in reg.list_model_versions("churn", client=local)] == [1, 2, 3]
    created = [e for e in reg.list_model_events("churn", client=local) if "version." in e.kind]
    assert [e.payload["request_id"] for e in created] == [body["request_id"], "b-2", key]
    with pytest.raises(InvalidArgument, match="request_id"):
        reg.register_model(run_id, "churn", request_id="no spaces", client=client)


@pytest.fixture
def lossy(settings):
    """``(proxy, client)``: a client whose requests go through a :class:`DroppingProxy`."""
    from modelyard.tracking.client import TrackingClient

    proxy = DroppingProxy(settings.tracking_uri)
    c = TrackingClient(settings.replace(tracking_uri=proxy.url))
    c.store.session.first_contact_budget = c.store.session.retry_budget = 5.0
    yield proxy, c
    c.close()
    proxy.listener.close()


def test_lost_answers_are_retried_without_registering_twice(lossy, local, model_run):
    proxy, client = lossy
    run_id = model_run()
    reg.list_registered_models(client=client)  # connected: the next calls only lose answers
    proxy.drop_next = 1
    version = reg.register_model(f"runs:/{run_id}/model", "churn", client=client)
    assert proxy.drop_next == 0 and version.version == 1
    assert [v.version for v in reg.list_model_versions("churn", client=local)] == [1]
    reg.set_alias("churn", "champion", 1, client=client)
    proxy.drop_next = 1
    deleted = reg.delete_alias("churn", "champion", client=client)  # the retry finds it gone
    assert proxy.drop_next == 0 and (deleted.version, deleted.previous_version) == (None, 1)
    assert reg.get_registered_model("churn", client=local).aliases == {}
    with pytest.raises(NotFound, match="no alias 'champion' to delete"):
        reg.delete_alias("churn", "champion", client=client)  # not a retry: still an error


def test_reproduce_says_it_needs_the_stores(client, model_run):
    reg.register_model(model_run(), "churn", client=client)
    with pytest.raises(InvalidState, match="reruns the version's code on this machine") as info:
        reg.reproduce("models:/churn/1", client=client)
    assert "MODELYARD_TRACKING_URI" in info.value.hint
