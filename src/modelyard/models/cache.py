"""The local model cache: a run's model folder, downloaded once and re-verified on every load.

:func:`fetch_run_model` reads the manifest of ``runs:/<run_id>/<path>`` from the artifact
store (verified bytes), checks that the run's artifact records under that path are exactly the
manifest's files with the same digests, and makes sure ``<home>/cache/models/<model_digest>/``
holds them: a missing entry is downloaded into a temporary folder beside it (each blob
verified as it streams) and renamed into place, so a half-written entry is never seen. Before
the folder is returned every file is hashed again against the manifest, so a file changed in
the cache after it was downloaded is caught too; a damaged entry is removed (the next load
downloads it afresh) and IntegrityError names the files.

>>> cache_root(Path("/tmp/project/.modelyard"))
PosixPath('/tmp/project/.modelyard/cache/models')
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import IntegrityError, InvalidArgument, NotFound
from modelyard.models.manifest import MANIFEST_NAME, ModelManifest, verify_folder

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient

__all__ = ["cache_root", "fetch_run_model", "read_run_manifest"]


def cache_root(home: Path) -> Path:
    """The folder holding cached model folders, one per model digest."""
    return home / "cache" / "models"


def read_run_manifest(client: TrackingClient, run_id: str, path: str) -> ModelManifest:
    """The parsed manifest of the model at ``path`` in run ``run_id`` (verified bytes)."""
    manifest_path = f"{path}/{MANIFEST_NAME}"
    artifacts = client.list_artifacts(run_id, path)
    if not artifacts:
        raise NotFound(
            f"run {run_id} has no model {path!r}",
            hint=f"list its artifacts with: modelyard runs show {run_id}",
        )
    record = next((a for a in artifacts if a.path == manifest_path), None)
    if record is None:
        raise InvalidArgument(
            f"artifacts {path!r} of run {run_id} are not a Modelyard model: there is no "
            f"{MANIFEST_NAME}",
            hint="log models with yard.log_model(model, name=...)",
        )
    raw = client.artifacts.get_bytes(record.digest)
    return ModelManifest.from_bytes(raw, f"runs:/{run_id}/{manifest_path}")


def fetch_run_model(client: TrackingClient, run_id: str, path: str) -> tuple[Path, ModelManifest]:
    """The verified local folder and the manifest of the model at ``runs:/<run_id>/<path>``."""
    path = path.strip("/")
    manifest = read_run_manifest(client, run_id, path)
    stored = {
        a.path[len(path) + 1 :]: a
        for a in client.list_artifacts(run_id, path)
        if a.path.startswith(path + "/")
    }
    stored.pop(MANIFEST_NAME, None)
    problems = [f"file {rel!r} is missing" for rel in sorted(set(manifest.files) - set(stored))]
    problems += [
        f"file {rel!r} is not in the manifest (unexpected file)"
        for rel in sorted(set(stored) - set(manifest.files))
    ]
    problems += [
        f"file {rel!r} is stored with digest {stored[rel].digest[:12]}…, the manifest "
        f"records {entry.digest[:12]}…"
        for rel, entry in sorted(manifest.files.items())
        if rel in stored and stored[rel].digest != entry.digest
    ]
    if problems:
        raise IntegrityError(
            f"model runs:/{run_id}/{path} does not match its manifest, so nothing was loaded: "
            + "; ".join(problems),
            hint="the run's artifacts under that path were changed after the model was logged; "
            "log the model again under a new name",
        )
    root = cache_root(client.config.home)
    folder = root / manifest.model_digest  # a checked 64-hex digest: it cannot leave root
    if not folder.is_dir():
        _download(client, manifest, root, folder)
    try:
        verify_folder(folder, manifest, expected_digest=folder.name)
    except IntegrityError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise IntegrityError(
            exc.message + " (this was the local cache copy; it has been removed)",
            hint=f"load the model again to download a fresh copy; if the error comes back, "
            f"the stored artifacts of run {run_id} are damaged",
        ) from None
    return folder, manifest


def _download(
    client: TrackingClient,
    manifest: ModelManifest,
    root: Path,
    folder: Path,
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".download-"))
    try:
        for rel, entry in sorted(manifest.files.items()):
            client.artifacts.get_file(entry.digest, staging / rel)
        (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        try:
            os.rename(staging, folder)
        except OSError:
            if not folder.is_dir():  # not a concurrent download that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
