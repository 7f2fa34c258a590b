"""The model registry in remote mode: the registry SDK over the routes of ``modelyard server``.

When the client's tracking store is remote (``MODELYARD_TRACKING_URI``), the registry
functions of :mod:`modelyard.registry` call a :class:`RemoteRegistry` instead of the SQL store:
one REST call per operation (``server/registry_api.py``), over the client's own
:class:`~modelyard.tracking.remote_session.RemoteSession` (token, keep-alive, retries with
backoff, errors re-raised by class, so a ``NotFound`` says the same thing in both modes). The
answers are rebuilt with the ``from_dict`` of each result class; lineage and diff are computed
by the server and come back whole.

Retries are harmless: a registration carries a ``request_id`` (the server answers the version
it already registered under it), aliases, archives and updates are idempotent, and a repeated
alias DELETE whose first attempt did remove the alias counts as done. Write bodies carry the
caller as ``actor``, so the history names ``user@host`` of the SDK, not of the server.

>>> reg = RemoteRegistry(client.store.session)              # doctest: +SKIP
>>> reg.set_alias("churn", "champion", 3, actor="ana@laptop").previous_version   # doctest: +SKIP
2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelyard.errors import NotFound
from modelyard.registry.diff import ModelDiff
from modelyard.registry.entities import ModelAlias, ModelEvent, ModelVersion, RegisteredModel
from modelyard.registry.lineage import DatasetLineage, LineageGraph

if TYPE_CHECKING:
    from modelyard.tracking.remote_session import RemoteSession

__all__ = ["RemoteRegistry"]


def _q(value: str) -> str:
    return quote(value, safe="")


class RemoteRegistry:
    """The registry operations of the SDK, each one call to the server behind ``session``."""

    def __init__(self, session: RemoteSession) -> None:
        self.session = session

    def __repr__(self) -> str:
        return f"RemoteRegistry({self.session.url!r})"

    def _model(self, name: str) -> str:
        return f"/api/models/{_q(name)}"

    def _version(self, name: str, version: int) -> str:
        return f"{self._model(name)}/versions/{int(version)}"

    # -- registered models and versions -----------------------------------------------------

    def register_model(
        self,
        name: str,
        *,
        run_id: str,
        artifact_path: str,
        description: str | None,
        actor: str,
        request_id: str,
    ) -> ModelVersion:
        """``POST /api/models/{name}/versions``; a retry with ``request_id`` makes no second."""
        body = {
            "run_id": run_id,
            "artifact_path": artifact_path,
            "description": description,
            "request_id": request_id,
            "actor": actor,
        }
        data = self.session.call("POST", f"{self._model(name)}/versions", body=body)
        return ModelVersion.from_dict(data)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self.session.call("GET", self._model(name)))

    def list_registered_models(self) -> list[RegisteredModel]:
        data = self.session.call("GET", "/api/models")
        return [RegisteredModel.from_dict(m) for m in data["models"]]

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return ModelVersion.from_dict(self.session.call("GET", self._version(name, version)))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        path = f"{self._model(name)}/aliases/{_q(alias)}"
        return ModelVersion.from_dict(self.session.call("GET", path))

    def list_model_versions(self, name: str, *, include_archived: bool) -> list[ModelVersion]:
        params = {"include_archived": "true" if include_archived else "false"}
        data = self.session.call("GET", f"{self._model(name)}/versions", params=params)
        return [ModelVersion.from_dict(v) for v in data["model_versions"]]

    def list_model_events(self, name: str, *, limit: int) -> list[ModelEvent]:
        data = self.session.call("GET", f"{self._model(name)}/events", params={"limit": limit})
        return [ModelEvent.from_dict(e) for e in data["events"]]

    def resolve_model_version(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names (``GET /api/models/resolve``)."""
        data = self.session.call("GET", "/api/models/resolve", params={"uri": uri})
        return ModelVersion.from_dict(data["model_version"])

    # -- changing ---------------------------------------------------------------------------

    def update_registered_model(
        self,
        name: str,
        *,
        description: str | None,
        tags: Mapping[str, str] | None,
        actor: str,
    ) -> RegisteredModel:
        body = {"description": description, "tags": dict(tags) if tags is not None else None}
        data = self.session.call("PATCH", self._model(name), body=body | {"actor": actor})
        return RegisteredModel.from_dict(data)

    def update_model_version(
        self, name: str, version: int, *, description: str | None, actor: str
    ) -> ModelVersion:
        body = {"description": description, "actor": actor}
        return ModelVersion.from_dict(
            self.session.call("PATCH", self._version(name, version), body=body)
        )

    def archive_model_version(self, name: str, version: int, *, actor: str) -> ModelVersion:
        path = f"{self._version(name, version)}/archive"
        return ModelVersion.from_dict(self.session.call("POST", path, body={"actor": actor}))

    def restore_model_version(self, name: str, version: int, *, actor: str) -> ModelVersion:
        path = f"{self._version(name, version)}/restore"
        return ModelVersion.from_dict(self.session.call("POST", path, body={"actor": actor}))

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelAlias:
        path = f"{self._model(name)}/aliases/{_q(alias)}"
        body = {"version": int(version), "actor": actor}
        return ModelAlias.from_dict(self.session.call("PUT", path, body=body))

    def delete_alias(self, name: str, alias: str, *, actor: str) -> ModelAlias:
        """``DELETE`` the alias; a retry that finds it gone reports the deletion it made."""
        path = f"{self._model(name)}/aliases/{_q(alias)}"
        response, attempts = self.session.send("DELETE", path, body={"actor": actor})
        if response.status_code == 404 and attempts > 1:
            done = self._deleted(name, alias, actor)
            if done is not None:
                return done
        self.session.raise_for(response)
        return ModelAlias.from_dict(response.json())

    def _deleted(self, name: str, alias: str, actor: str) -> ModelAlias | None:
        """The deletion of ``alias`` by ``actor`` when it is the alias's last recorded move."""
        try:
            events = self.list_model_events(name, limit=1000)
        except NotFound:
            return None
        for event in reversed(events):
            payload = event.payload or {}
            if event.kind.startswith("alias.") and payload.get("alias") == alias:
                if event.kind != "alias.deleted" or event.actor != actor:
                    return None
                previous = payload.get("from")
                return ModelAlias(
                    name,
                    alias,
                    None,
                    int(previous) if previous is not None else None,
                    event.time,
                    event.actor,
                )
        return None

    # -- lineage and diff -------------------------------------------------------------------

    def lineage(self, uri: str, *, depth: int) -> LineageGraph:
        data = self.session.call("GET", "/api/lineage", params={"uri": uri, "depth": depth})
        return LineageGraph.from_dict(data)

    def lineage_of_dataset(self, digest: str, *, depth: int) -> DatasetLineage:
        path = f"/api/lineage/datasets/{_q(digest)}"
        return DatasetLineage.from_dict(self.session.call("GET", path, params={"depth": depth}))

    def diff_model_versions(self, name: str, version_a: str, version_b: str) -> ModelDiff:
        params: dict[str, Any] = {"version_a": version_a, "version_b": version_b}
        data = self.session.call("GET", f"{self._model(name)}/diff", params=params)
        return ModelDiff.from_dict(data)
