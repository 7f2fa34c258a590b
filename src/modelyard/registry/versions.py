"""Registered models, their numbered versions, aliases, and the URIs that name them.

:func:`register_model` turns a model logged by a run (a folder artifact holding
``modelyard-model.json``) into version 1, 2, 3… of a named model, with the model digest, flavor
and signature from the manifest and a snapshot of the run's metrics and params. Aliases
(``champion``, ``challenger``, any name) point at one ready version each; every registration,
alias move and archive is appended to the model's history with who and when.
:func:`resolve_model_uri` turns ``models:/churn/3``, ``models:/churn@champion`` or
``models:/churn/latest`` into the run and folder that hold the files.

Every function takes an optional ``client`` (default: the SDK's process-wide client). When
that client talks to a server (``MODELYARD_TRACKING_URI``), each function is one call to the
server's registry routes (:class:`~modelyard.registry.remote.RemoteRegistry`); otherwise it
works on the metadata store directly. The functions that change something take ``actor``, the
``user@host`` recorded in the history (default: this process's).

>>> v = yard.register_model("runs:/<run_id>/model", "churn")     # doctest: +SKIP
>>> yard.set_alias("churn", "champion", v.version)              # doctest: +SKIP
>>> yard.resolve_model_uri("models:/churn@champion")            # doctest: +SKIP
('<run_id>', 'model')
"""

from __future__ import annotations

import getpass
import json
import re
import socket
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, InvalidState, NotFound
from modelyard.registry.entities import (
    ARCHIVED,
    FAILED,
    READY,
    ModelAlias,
    ModelEvent,
    ModelVersion,
    RegisteredModel,
)
from modelyard.registry.uris import (
    parse_model_uri,
    parse_run_uri,
    validate_alias,
    validate_model_name,
)

if TYPE_CHECKING:
    from modelyard.registry.remote import RemoteRegistry
    from modelyard.registry.sqlstore import SqlRegistryStore
    from modelyard.tracking.client import TrackingClient

__all__ = [
    "MANIFEST_NAME",
    "archive_model_version",
    "delete_alias",
    "get_model_version",
    "get_model_version_by_alias",
    "get_registered_model",
    "list_model_events",
    "list_model_versions",
    "list_registered_models",
    "register_model",
    "resolve_model_uri",
    "resolve_model_version",
    "restore_model_version",
    "set_alias",
    "update_model_version",
    "update_registered_model",
]

#: The manifest file that ``yard.log_model`` writes inside the model folder of a run.
MANIFEST_NAME = "modelyard-model.json"


def client_or_default(client: TrackingClient | None) -> TrackingClient:
    if client is not None:
        return client
    from modelyard.tracking.fluent import get_client

    return get_client()


def remote_registry(client: TrackingClient) -> RemoteRegistry | None:
    """The server's registry when ``client`` is in remote mode, else None."""
    from modelyard.tracking.remote_session import RemoteSession

    session = getattr(client.store, "session", None)
    if not isinstance(session, RemoteSession):
        return None
    from modelyard.registry.remote import RemoteRegistry

    return RemoteRegistry(session)


def registry_store(client: TrackingClient) -> SqlRegistryStore:
    """The registry store behind ``client`` (the same database as its tracking store).

    Remote clients go through :func:`remote_registry` instead; only what needs the store
    itself (``reproduce`` says so first) comes here with one.
    """
    from modelyard.registry.sqlstore import SqlRegistryStore
    from modelyard.store.database import Database

    db = getattr(client.store, "db", None)
    if not isinstance(db, Database):
        raise InvalidState(
            "this registry operation needs direct access to the metadata store; this client "
            f"talks to the server at {client.config.tracking_uri}",
            hint="unset MODELYARD_TRACKING_URI and set MODELYARD_DATABASE_URL (and "
            "MODELYARD_ARTIFACT_URL) to the server's stores",
        )
    return SqlRegistryStore(db)


def actor() -> str:
    """``user@host`` of this process, as recorded in the model history."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = ""
    return f"{user}@{socket.gethostname()}"[:256]


def _who(given: str | None) -> str:
    """The actor to record: ``given`` (what a server was told), else this process's."""
    if given is None:
        return actor()
    if not isinstance(given, str) or len(given) > 256:
        raise InvalidArgument(
            f"actor must be a string of at most 256 characters, got {given!r:.80}",
            hint="e.g. 'ana@laptop'",
        )
    return given


_REQUEST_ID_RE = re.compile(r"\A[A-Za-z0-9_.:\-]{1,64}\Z")


def _request_id(value: str | None) -> str | None:
    if value is not None and not (isinstance(value, str) and _REQUEST_ID_RE.match(value)):
        raise InvalidArgument(
            f"request_id {value!r:.80} is not valid: use 1 to 64 letters, digits, '_.:-'",
            hint="e.g. uuid.uuid4().hex",
        )
    return value


def _version_number(version: object, name: str) -> int:
    if isinstance(version, bool):
        pass
    elif isinstance(version, int) and version > 0:
        return version
    elif isinstance(version, str) and version.isdigit() and int(version) > 0:
        return int(version)
    raise InvalidArgument(
        f"version of model {name!r} must be a positive integer, got {version!r}",
        hint=f"list them with: modelyard models versions {name}",
    )


# -- registering ------------------------------------------------------------------------------


def _source(model: object, artifact_path: str, client: TrackingClient) -> tuple[str, str]:
    """``(run_id, artifact_path)`` of whatever names a logged model."""
    for attribute in ("model_uri", "uri"):  # what yard.log_model returns (ModelInfo)
        uri = getattr(model, attribute, None)
        if isinstance(uri, str) and uri.startswith(("runs:/", "models:/")):
            model = uri
            break
    if isinstance(model, str):
        if model.startswith("runs:/"):
            return parse_run_uri(model)
        if model.startswith("models:/"):
            return resolve_model_uri(model, client)
        if "/" in model or ":" in model:
            raise InvalidArgument(
                f"cannot register {model!r}: not a run URI, model URI or run id",
                hint="pass 'runs:/<run_id>/<artifact_path>', a run id, or the run itself",
            )
        return client.get_run(model).run_id, artifact_path
    run_id = getattr(model, "run_id", None)
    if isinstance(run_id, str):
        return run_id, artifact_path
    raise InvalidArgument(
        f"cannot register a {type(model).__name__}: expected a run URI, a run id or a run",
        hint="pass 'runs:/<run_id>/model', a run id, or the run yard.start_run() returned",
    )


def read_manifest(client: TrackingClient, run_id: str, artifact_path: str) -> dict[str, Any]:
    """The model manifest at ``<artifact_path>/modelyard-model.json`` of a run (verified bytes)."""
    path = f"{artifact_path.strip('/')}/{MANIFEST_NAME}"
    try:
        data = client.read_artifact(run_id, path)
    except NotFound:
        client.get_run(run_id)  # a missing run says so
        suffix = "/" + MANIFEST_NAME
        others = sorted(
            a.path[: -len(suffix)] for a in client.list_artifacts(run_id) if a.path.endswith(suffix)
        )
        raise InvalidArgument(
            f"run {run_id} has no model at {artifact_path!r}"
            + (f" (it has models at: {', '.join(repr(o) for o in others)})" if others else "")
            + f"; log one with yard.log_model(model, name={artifact_path!r})",
            hint=f"register one of its models: yard.register_model('runs:/{run_id}/"
            f"{others[0] if others else artifact_path}', name)",
        ) from None
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(
            f"the model manifest {path!r} of run {run_id} is not valid JSON: {exc}",
            hint="log the model again with yard.log_model(...)",
        ) from exc
    if not isinstance(manifest, dict):
        raise InvalidArgument(
            f"the model manifest {path!r} of run {run_id} is not a JSON object",
            hint="log the model again with yard.log_model(...)",
        )
    return manifest


def _manifest_files(manifest: Mapping[str, Any]) -> dict[str, str | None]:
    """Relative path → digest (None when not recorded) of the files a manifest lists."""
    files = manifest.get("files")
    out: dict[str, str | None] = {}
    if isinstance(files, Mapping):
        for path, entry in files.items():
            digest = entry.get("digest") if isinstance(entry, Mapping) else entry
            out[str(path)] = digest if isinstance(digest, str) else None
    elif isinstance(files, list):
        for entry in files:
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                digest = entry.get("digest")
                out[entry["path"]] = digest if isinstance(digest, str) else None
    return out


def _check_files(
    client: TrackingClient, run_id: str, artifact_path: str, manifest: Mapping[str, Any]
) -> str | None:
    """Why the run's model files do not match the manifest, or None when they do."""
    from modelyard._digest import DIGEST_RE

    listed = _manifest_files(manifest)
    if not listed:
        return None
    base = artifact_path.strip("/")
    stored = {a.path[len(base) + 1 :]: a.digest for a in client.list_artifacts(run_id, base)}
    missing = sorted(p for p in listed if p not in stored)
    changed = sorted(
        p
        for p, digest in listed.items()
        if p in stored and digest and DIGEST_RE.match(digest) and stored[p] != digest
    )
    problems = []
    if missing:
        problems.append(f"missing from the run's artifacts: {', '.join(missing[:5])}")
    if changed:
        problems.append(f"digest differs from the manifest: {', '.join(changed[:5])}")
    return "; ".join(problems) or None


def _flavor(manifest: Mapping[str, Any]) -> str | None:
    flavor = manifest.get("flavor")
    if isinstance(flavor, Mapping):
        flavor = flavor.get("name")
    return str(flavor)[:64] if flavor else None


def register_model(
    model: object,
    name: str,
    *,
    artifact_path: str = "model",
    description: str | None = None,
    request_id: str | None = None,
    actor: str | None = None,
    client: TrackingClient | None = None,
) -> ModelVersion:
    """Register the model logged by a run as the next version of ``name``.

    ``model`` is a run URI (``runs:/<run_id>/model``), a run id or a run (``Run``,
    ``ActiveRun``; then ``artifact_path`` names the model folder), the result of
    ``yard.log_model`` or a ``models:/`` URI. The registered model is created on first use.
    The version records the model digest, flavor and signature from the manifest and a
    snapshot of the run's latest metrics and params. A model whose files are missing or do
    not match the manifest is registered with status ``failed`` and never resolves.

    ``request_id`` (1-64 of ``A-Za-z0-9_.:-``) makes a repeated call harmless: when ``name``
    already has a version registered under it, that version is returned. In remote mode each
    call sends a fresh one unless given, so the SDK's own retries never register twice.

    >>> v = yard.register_model("runs:/0a1b.../model", "churn")   # doctest: +SKIP
    >>> v.version, v.uri
    (1, 'models:/churn/1')
    """
    name = validate_model_name(name)
    request_id = _request_id(request_id)
    who = _who(actor)
    client = client_or_default(client)
    run_id, path = _source(model, artifact_path, client)
    path = path.strip("/")
    remote = remote_registry(client)
    if remote is not None:
        client.flush()  # buffered metrics first, so the server's snapshot is current
        return remote.register_model(
            name,
            run_id=run_id,
            artifact_path=path or artifact_path,
            description=description,
            actor=who,
            request_id=request_id or uuid.uuid4().hex,
        )
    run = client.get_run(run_id)  # flushes buffered metrics, so the snapshot is current
    manifest = read_manifest(client, run.run_id, path)
    problem = _check_files(client, run.run_id, path, manifest)
    signature = manifest.get("signature")
    digest = manifest.get("model_digest")
    return registry_store(client).create_model_version(
        name,
        run_id=run.run_id,
        artifact_path=path,
        model_digest=digest if isinstance(digest, str) else None,
        flavor=_flavor(manifest),
        signature=signature if isinstance(signature, dict) else None,
        metrics=dict(run.metrics),
        params=dict(run.params),
        status=FAILED if problem else READY,
        status_message=f"model files do not match the manifest: {problem}" if problem else None,
        description=description,
        actor=who,
        request_id=request_id,
    )


# -- reading ----------------------------------------------------------------------------------


def get_registered_model(name: str, *, client: TrackingClient | None = None) -> RegisteredModel:
    """A registered model with its latest version number, version count and aliases."""
    name = validate_model_name(name)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.get_registered_model(name)
    return registry_store(client).get_registered_model(name)


def list_registered_models(*, client: TrackingClient | None = None) -> list[RegisteredModel]:
    """Every registered model, by name."""
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.list_registered_models()
    return registry_store(client).list_registered_models()


def get_model_version(
    name: str, version: int, *, client: TrackingClient | None = None
) -> ModelVersion:
    """Version ``version`` of model ``name`` (any status)."""
    name = validate_model_name(name)
    number = _version_number(version, name)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.get_model_version(name, number)
    return registry_store(client).get_model_version(name, number)


def get_model_version_by_alias(
    name: str, alias: str, *, client: TrackingClient | None = None
) -> ModelVersion:
    """The version alias ``alias`` of model ``name`` points at."""
    name = validate_model_name(name)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.get_model_version_by_alias(name, alias)
    store = registry_store(client)
    return store.get_model_version(name, store.get_alias(name, alias))


def list_model_versions(
    name: str, *, include_archived: bool = True, client: TrackingClient | None = None
) -> list[ModelVersion]:
    """The versions of model ``name``, oldest first."""
    name = validate_model_name(name)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.list_model_versions(name, include_archived=bool(include_archived))
    statuses = None if include_archived else (READY, FAILED)
    return registry_store(client).list_model_versions(name, statuses)


def list_model_events(
    name: str, *, limit: int = 1000, client: TrackingClient | None = None
) -> list[ModelEvent]:
    """The history of model ``name``: registrations, alias moves, archives, reproduce verdicts."""
    name = validate_model_name(name)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.list_model_events(name, limit=limit)
    return registry_store(client).list_events(name, limit)


def resolve_model_version(uri: str, *, client: TrackingClient | None = None) -> ModelVersion:
    """The version a ``models:/`` URI names (``/3``, ``@alias`` or ``/latest``).

    ``latest`` is the newest *ready* version; an archived version resolves only by number; a
    failed version (its files did not match their manifest) never resolves.
    """
    parsed = parse_model_uri(uri)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.resolve_model_version(str(parsed))
    store = registry_store(client)
    if parsed.latest:
        found = store.latest_version(parsed.name)
        if found is None:
            versions = store.list_model_versions(parsed.name)
            raise NotFound(
                f"model {parsed.name!r} has no ready version for {uri!r}"
                + (
                    f" (its {len(versions)} version(s) are archived or failed)"
                    if versions
                    else " (it has no versions yet)"
                ),
                hint=f"list them with: modelyard models versions {parsed.name}",
            )
        return found
    if parsed.alias is not None:
        version = store.get_model_version(parsed.name, store.get_alias(parsed.name, parsed.alias))
    else:
        version = store.get_model_version(parsed.name, parsed.version or 0)
    if version.status == FAILED:
        raise InvalidState(
            f"version {version.version} of model {parsed.name!r} failed its checks and cannot "
            f"be used: {version.status_message}",
            hint="log and register the model again",
        )
    return version


def resolve_model_uri(uri: str, client: TrackingClient | None = None) -> tuple[str, str]:
    """``(run_id, artifact_path)`` of the model files a URI names.

    Takes ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/latest``
    and ``runs:/<run_id>/<path>`` (returned as is).

    >>> resolve_model_uri("models:/churn@champion")   # doctest: +SKIP
    ('4f0c...', 'model')
    """
    if isinstance(uri, str) and uri.startswith("runs:/"):
        return parse_run_uri(uri)
    version = resolve_model_version(uri, client=client)
    return version.run_id, version.artifact_path


# -- changing ---------------------------------------------------------------------------------


def update_registered_model(
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    actor: str | None = None,
    client: TrackingClient | None = None,
) -> RegisteredModel:
    """Set the description and/or tags of a model (a tag set to ``""`` is removed)."""
    from modelyard.tracking import validation as v

    name = validate_model_name(name)
    who = _who(actor)
    clean = None
    if tags is not None:
        clean = {v.validate_key(k, "tag"): v.tag_value(k, val) for k, val in tags.items()}
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.update_registered_model(name, description=description, tags=clean, actor=who)
    return registry_store(client).update_registered_model(
        name, description=description, tags=clean, actor=who
    )


def update_model_version(
    name: str,
    version: int,
    *,
    description: str | None,
    actor: str | None = None,
    client: TrackingClient | None = None,
) -> ModelVersion:
    """Set the description of a version."""
    name = validate_model_name(name)
    number, who = _version_number(version, name), _who(actor)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.update_model_version(name, number, description=description, actor=who)
    return registry_store(client).update_model_version(
        name, number, description=description, actor=who
    )


def archive_model_version(
    name: str, version: int, *, actor: str | None = None, client: TrackingClient | None = None
) -> ModelVersion:
    """Archive a version: it stays resolvable by number but no longer as ``latest``.

    Refused while an alias points at it (move the alias first).
    """
    name = validate_model_name(name)
    number, who = _version_number(version, name), _who(actor)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.archive_model_version(name, number, actor=who)
    return registry_store(client).set_version_status(
        name, number, ARCHIVED, message=None, actor=who
    )


def restore_model_version(
    name: str, version: int, *, actor: str | None = None, client: TrackingClient | None = None
) -> ModelVersion:
    """Bring an archived version back to ``ready``."""
    name = validate_model_name(name)
    number, who = _version_number(version, name), _who(actor)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.restore_model_version(name, number, actor=who)
    store = registry_store(client)
    current = store.get_model_version(name, number)
    if current.status == FAILED:
        raise InvalidState(
            f"version {number} of model {name!r} failed its checks ({current.status_message}); "
            "it cannot be made ready",
            hint="log and register the model again",
        )
    return store.set_version_status(name, number, READY, message=None, actor=who)


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    actor: str | None = None,
    client: TrackingClient | None = None,
) -> ModelAlias:
    """Point ``alias`` of model ``name`` at ``version`` (a ready version); the move is recorded.

    >>> yard.set_alias("churn", "champion", 3)   # doctest: +SKIP
    ModelAlias(name='churn', alias='champion', version=3, previous_version=2, ...)
    """
    name = validate_model_name(name)
    alias, number, who = validate_alias(alias), _version_number(version, name), _who(actor)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.set_alias(name, alias, number, actor=who)
    return registry_store(client).set_alias(name, alias, number, actor=who)


def delete_alias(
    name: str, alias: str, *, actor: str | None = None, client: TrackingClient | None = None
) -> ModelAlias:
    """Remove ``alias`` from model ``name``; returns where it pointed (``previous_version``)."""
    name, who = validate_model_name(name), _who(actor)
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:
        return remote.delete_alias(name, alias, actor=who)
    return registry_store(client).delete_alias(name, alias, actor=who)
