"""Loading: URIs, the verified cache, and tampered files refused before anything is unpickled."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.errors import IntegrityError, InvalidArgument, InvalidState, NotFound
from modelyard.models import get_model_info, load_model, log_model, save_model


class _Payload:
    """A pickle that writes ``marker`` when it is unpickled: what an attacker would plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _payload(tmp_path: Path, name: str = "pwned") -> tuple[bytes, Path]:
    """Malicious pickle bytes and the marker they would write; checked to be live."""
    control = tmp_path / f"{name}-control"
    pickle.loads(pickle.dumps(_Payload(control)))
    assert control.exists(), "the payload must really run code when unpickled"
    marker = tmp_path / name
    return pickle.dumps(_Payload(marker)), marker


def _blob_path(client, digest: str) -> Path:  # type: ignore[no-untyped-def]
    return Path(client.config.artifact_url) / "objects" / digest[:2] / digest[2:4] / digest


def _pickled_model(frame, labels, client, run_id, name="model"):  # type: ignore[no-untyped-def]
    model = LogisticRegression().fit(frame, labels)
    info = log_model(
        model, name, input_example=frame[:5], serialization="pickle", run_id=run_id,
        client=client,
    )  # fmt: skip
    return model, info


def test_fluent_log_and_load_by_run_uri(yard, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    with yard.start_run() as run:
        info = yard.log_model(model, input_example=frame[:5])
    assert info.run_id == run.run_id and info.uri == f"runs:/{run.run_id}/model"
    predictor = yard.load_model(info.uri)
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
    short = yard.load_model(f"runs:/{run.run_id[:12]}/model")
    assert short.model_digest == info.model_digest
    assert get_model_info(info.uri).model_digest == info.model_digest
    assert yard.get_run(run.run_id).tags["modelyard.models"] == '["model"]'


def test_log_model_needs_an_active_run(yard, frame, labels):
    with pytest.raises(InvalidState, match="no active run"):
        yard.log_model(LogisticRegression().fit(frame, labels))


def test_load_by_registry_uri(yard, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    with yard.start_run():
        info = yard.log_model(model, input_example=frame[:5])
    version = yard.register_model(info.uri, "churn")
    yard.set_alias("churn", "champion", version.version)
    for uri in ("models:/churn/1", "models:/churn@champion"):
        predictor = yard.load_model(uri)
        assert predictor.model_digest == info.model_digest and predictor.uri == uri
        np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))


def test_local_folder_and_file_uri(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    info = save_model(model, tmp_path / "m", input_example=frame[:5])
    assert info.uri == str((tmp_path / "m").resolve()) and info.run_id is None
    for uri in (tmp_path / "m", str(tmp_path / "m"), f"file://{tmp_path / 'm'}"):
        np.testing.assert_array_equal(load_model(uri).predict(frame), model.predict(frame))


def test_bad_uris_say_what_is_accepted(tmp_path, local_client, run_id):
    with pytest.raises(InvalidArgument, match="unknown scheme 's3'") as info:
        load_model("s3://bucket/model", client=local_client)
    assert "runs:/<run_id>/<name>" in (info.value.hint or "")
    with pytest.raises(NotFound, match="no model folder"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match=r"no modelyard-model\.json"):
        load_model(tmp_path / "empty")
    with pytest.raises(NotFound, match="has no model 'model'"):
        load_model(f"runs:/{run_id}/model", client=local_client)
    with pytest.raises(InvalidArgument, match="needs a run id and a model name"):
        load_model("runs:/abc", client=local_client)
    with pytest.raises(InvalidArgument, match="must be a string or a path"):
        load_model(42)  # type: ignore[arg-type]
    local_client.log_text(run_id, "hello", "notes/readme.txt")
    with pytest.raises(InvalidArgument, match="not a Modelyard model"):
        load_model(f"runs:/{run_id}/notes", client=local_client)


def test_the_cache_is_filled_once_and_used_warm(local_client, run_id, frame, labels):
    model, info = _pickled_model(frame, labels, local_client, run_id)
    predictor = load_model(info.uri, client=local_client)
    folder = local_client.config.home / "cache" / "models" / info.model_digest
    assert predictor.path == folder
    assert sorted(p.name for p in folder.iterdir()) == ["model.pkl", "modelyard-model.json"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".download-")]
    # with the stored blob gone, the warm cache still serves (after re-verifying it)
    blob = _blob_path(local_client, info.manifest.files["model.pkl"].digest)
    os.chmod(blob, 0o644)
    blob.unlink()
    again = load_model(info.uri, client=local_client)
    np.testing.assert_array_equal(again.predict(frame), model.predict(frame))


def test_tampered_cache_file_is_refused_before_unpickling(local_client, run_id, frame, labels,
                                                           tmp_path):  # fmt: skip
    model, info = _pickled_model(frame, labels, local_client, run_id)
    load_model(info.uri, client=local_client)
    folder = local_client.config.home / "cache" / "models" / info.model_digest
    payload, marker = _payload(tmp_path)
    (folder / "model.pkl").write_bytes(payload)
    with pytest.raises(IntegrityError, match=r"'model\.pkl' has digest") as err:
        load_model(info.uri, client=local_client)
    assert "local cache copy" in err.value.message
    assert not marker.exists()
    assert not folder.exists()  # the damaged entry is gone: the next load downloads afresh
    fresh = load_model(info.uri, client=local_client)
    np.testing.assert_array_equal(fresh.predict(frame), model.predict(frame))
    assert not marker.exists()


def test_tampered_stored_blob_is_refused_before_unpickling(local_client, run_id, frame, labels,
                                                            tmp_path):  # fmt: skip
    _, info = _pickled_model(frame, labels, local_client, run_id)
    blob = _blob_path(local_client, info.manifest.files["model.pkl"].digest)
    payload, marker = _payload(tmp_path)
    os.chmod(blob, 0o644)
    blob.write_bytes(payload)
    with pytest.raises(IntegrityError):
        load_model(info.uri, client=local_client)
    assert not marker.exists()
    cache = local_client.config.home / "cache" / "models"
    assert not (cache / info.model_digest).exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".download-")]


def test_an_artifact_added_under_the_model_is_refused(local_client, run_id, frame, labels,
                                                      tmp_path):  # fmt: skip
    _, info = _pickled_model(frame, labels, local_client, run_id)
    payload, marker = _payload(tmp_path)
    local_client.log_bytes(run_id, payload, "model/extra.pkl")
    with pytest.raises(IntegrityError, match=r"'extra\.pkl' is not in the manifest"):
        load_model(info.uri, client=local_client)
    # a file replaced through the tracking API is caught by the manifest digests too
    local_client.log_bytes(run_id, payload, "model/model.pkl")
    with pytest.raises(IntegrityError, match=r"'model\.pkl' is stored with digest"):
        load_model(info.uri, client=local_client)
    assert not marker.exists()


def test_tampered_local_folder_lists_every_problem(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    save_model(model, tmp_path / "m", input_example=frame[:5], serialization="pickle")
    payload, marker = _payload(tmp_path)
    (tmp_path / "m" / "model.pkl").write_bytes(payload)
    (tmp_path / "m" / "sneaky.py").write_text("print('hi')")
    with pytest.raises(IntegrityError) as err:
        load_model(tmp_path / "m")
    message = err.value.message
    assert "file 'model.pkl' has digest" in message
    assert "file 'sneaky.py' is not in the manifest (unexpected file)" in message
    assert not marker.exists()
    (tmp_path / "m" / "model.pkl").unlink()
    with pytest.raises(IntegrityError, match=r"file 'model\.pkl' is missing"):
        load_model(tmp_path / "m")


def test_a_manifest_whose_listing_does_not_add_up_is_refused(tmp_path, frame, labels):
    import json

    model = LogisticRegression().fit(frame, labels)
    save_model(model, tmp_path / "m", serialization="pickle")
    payload, marker = _payload(tmp_path)
    (tmp_path / "m" / "model.pkl").write_bytes(payload)
    manifest_path = tmp_path / "m" / "modelyard-model.json"
    data = json.loads(manifest_path.read_text())
    from modelyard._digest import digest_bytes

    data["files"]["model.pkl"] = {"digest": digest_bytes(payload), "size": len(payload)}
    manifest_path.write_text(json.dumps(data))  # files re-recorded, model_digest left as is
    with pytest.raises(IntegrityError, match="file list digests to"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_copied_folder_loads_anywhere(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    save_model(model, tmp_path / "m", input_example=frame[:5])
    shutil.copytree(tmp_path / "m", tmp_path / "copy")
    np.testing.assert_array_equal(
        load_model(tmp_path / "copy").predict(frame), model.predict(frame)
    )


def test_log_and_load_through_the_server(tmp_path, frame, labels):
    """Remote mode: the same calls over HTTP; the cache is on the client's side."""
    runner = pytest.importorskip("modelyard.server.runner")
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

    quiet = {"capture_code": False, "capture_environment": False}
    model = LogisticRegression().fit(frame, labels)
    with runner.ThreadedServer(
        Settings.load(project_root=str(tmp_path / "server"), **quiet)
    ) as srv:
        client = TrackingClient(
            Settings.load(project_root=str(tmp_path / "client"), tracking_uri=srv.url, **quiet)
        )
        try:
            run = client.create_run("remote")
            info = log_model(model, input_example=frame[:5], run_id=run, client=client)
            predictor = load_model(info.uri, client=client)
            assert predictor.path.is_relative_to(tmp_path / "client")
            np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
            client.end_run(run)
        finally:
            client.close()
