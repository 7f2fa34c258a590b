"""The values the registry returns: registered models, model versions, aliases and events.

All are frozen dataclasses of plain values with ``to_dict()``, so they print, compare and cross
the HTTP edge unchanged; ``from_dict()`` rebuilds one from its JSON (what the remote registry
does with the server's answers; metrics may carry ``"NaN"`` or ``"Infinity"`` as strings).
A :class:`ModelVersion` knows its URI (``models:/churn/3``) and its source
(``runs:/<run_id>/model``); ``aliases`` lists the aliases pointing at it.

>>> v = ModelVersion(name="churn", version=3, run_id="a" * 32, artifact_path="model")
>>> v.uri, v.source[:12]
('models:/churn/3', 'runs:/aaaaaa')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ARCHIVED",
    "FAILED",
    "READY",
    "VERSION_STATUSES",
    "ModelAlias",
    "ModelEvent",
    "ModelVersion",
    "RegisteredModel",
]

READY, FAILED, ARCHIVED = "ready", "failed", "archived"
VERSION_STATUSES = (READY, FAILED, ARCHIVED)

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def known_fields(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """The items of ``data`` that are fields of dataclass ``cls`` (JSON may carry more)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def json_float(value: Any) -> float:
    """A float from JSON, where NaN and infinities travel as strings (``"NaN"``, ``"inf"``)."""
    if isinstance(value, str):
        return _NON_FINITE[value] if value in _NON_FINITE else float(value)
    return float(value)


def _metrics(data: Mapping[str, Any] | None) -> dict[str, float]:
    return {k: json_float(v) for k, v in (data or {}).items()}


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: the run and artifact folder that hold it.

    ``metrics`` and ``params`` are snapshots of the run's latest metrics and params when the
    version was registered; ``reproduce`` is the last verdict of :func:`reproduce`, if any.
    """

    name: str
    version: int
    run_id: str
    artifact_path: str
    model_digest: str | None = None
    flavor: str | None = None
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    status: str = READY
    status_message: str | None = None
    description: str | None = None
    reproduce: dict[str, Any] | None = None
    created_at: int = 0
    updated_at: int = 0
    created_by: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"

    @property
    def source(self) -> str:
        """``runs:/<run_id>/<artifact_path>``: where the model files are."""
        return f"runs:/{self.run_id}/{self.artifact_path}"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["aliases"] = list(self.aliases)
        out["uri"] = self.uri
        out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        """The version ``to_dict()`` (or the HTTP API) described."""
        values = known_fields(cls, data)
        values["metrics"] = _metrics(data.get("metrics"))
        values["params"] = dict(data.get("params") or {})
        values["aliases"] = tuple(data.get("aliases") or ())
        return cls(**values)


@dataclass(frozen=True)
class RegisteredModel:
    """A named model with its versions; ``aliases`` maps each alias to a version number."""

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    created_by: str = ""
    latest_version: int | None = None
    versions: int = 0
    aliases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredModel:
        """The model ``to_dict()`` (or the HTTP API) described."""
        values = known_fields(cls, data)
        values["tags"] = dict(data.get("tags") or {})
        values["aliases"] = {k: int(v) for k, v in (data.get("aliases") or {}).items()}
        return cls(**values)


@dataclass(frozen=True)
class ModelAlias:
    """Where an alias points after :func:`set_alias`; ``previous_version`` is where it was."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None = None
    updated_at: int = 0
    updated_by: str = ""

    @property
    def uri(self) -> str:
        """``models:/<name>@<alias>``."""
        return f"models:/{self.name}@{self.alias}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"uri": self.uri}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelAlias:
        """The alias ``to_dict()`` (or the HTTP API) described."""
        return cls(**known_fields(cls, data))


@dataclass(frozen=True)
class ModelEvent:
    """One entry of a model's append-only history (``events`` table).

    ``kind`` is e.g. ``model_version.created``, ``alias.set``, ``alias.deleted``,
    ``model_version.archived`` or ``model_version.reproduced``; ``actor`` is ``user@host``;
    ``payload`` holds the details, such as ``{"alias": "champion", "from": 2, "to": 3}``.
    """

    event_id: int
    time: int
    kind: str
    subject_type: str
    subject_id: str
    actor: str
    payload: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelEvent:
        """The event ``to_dict()`` (or the HTTP API) described."""
        return cls(**known_fields(cls, data))
