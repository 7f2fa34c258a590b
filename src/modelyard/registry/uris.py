"""Model URIs and the names they are made of.

A registered model is taken everywhere by one of three URIs: ``models:/churn/3`` (a version),
``models:/churn@champion`` (whatever the alias points at) and ``models:/churn/latest`` (the
newest version that is ready). Run URIs ``runs:/<run_id>/<path>`` name a model folder inside a
run. This module parses them and checks model and alias names; resolving a URI against the
store is :func:`modelyard.registry.resolve_model_uri`.

>>> parse_model_uri("models:/churn@champion")
ModelUri(name='churn', version=None, alias='champion', latest=False)
>>> parse_run_uri("runs:/0123abcd/model")
('0123abcd', 'model')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.errors import InvalidArgument

__all__ = [
    "ModelUri",
    "parse_model_uri",
    "parse_run_uri",
    "validate_alias",
    "validate_model_name",
]

_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}\Z")
_ALIAS_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9_\-]{0,63}\Z")
_RESERVED_ALIASES = frozenset({"latest"})


@dataclass(frozen=True)
class ModelUri:
    """A parsed ``models:/`` URI: exactly one of ``version``, ``alias`` or ``latest`` is set."""

    name: str
    version: int | None = None
    alias: str | None = None
    latest: bool = False

    def __str__(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{'latest' if self.latest else self.version}"


def validate_model_name(name: object) -> str:
    """``name`` when it can name a registered model (letters, digits, ``_ . -``), else raise."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidArgument(
            f"model name {name!r} is not valid: use 1 to 256 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            hint="e.g. 'churn' or 'churn-classifier'",
        )
    return name


def validate_alias(alias: object) -> str:
    """``alias`` when it can name an alias (a letter, then letters, digits, ``_ -``), else raise."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"alias {alias!r} is not valid: use 1 to 64 letters, digits, '_' or '-', starting "
            "with a letter",
            hint="e.g. 'champion', 'challenger' or 'prod-eu'",
        )
    if alias in _RESERVED_ALIASES:
        raise InvalidArgument(
            f"alias {alias!r} is reserved: models:/<name>/latest already means the newest "
            "ready version",
            hint="pick another alias name, e.g. 'newest'",
        )
    return alias


def parse_model_uri(uri: str) -> ModelUri:
    """Parse ``models:/<name>/<version>``, ``models:/<name>/latest`` or ``models:/<name>@<alias>``.

    >>> parse_model_uri("models:/churn/3").version
    3
    """
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidArgument(
            f"{uri!r} is not a model URI",
            hint="use models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest",
        )
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if alias == "latest":
            return ModelUri(name=_uri_name(name, uri), latest=True)
        return ModelUri(name=_uri_name(name, uri), alias=_uri_alias(alias, uri))
    name, sep, ref = rest.rpartition("/")
    if not sep:
        raise InvalidArgument(
            f"model URI {uri!r} names no version or alias",
            hint=f"use models:/{rest}/<version>, models:/{rest}@<alias> or models:/{rest}/latest",
        )
    name = _uri_name(name, uri)
    if ref == "latest":
        return ModelUri(name=name, latest=True)
    if ref.isdigit() and int(ref) > 0:
        return ModelUri(name=name, version=int(ref))
    raise InvalidArgument(
        f"model URI {uri!r}: {ref!r} is not a version number",
        hint=f"use models:/{name}/<version> (1, 2, ...), models:/{name}/latest or "
        f"models:/{name}@{ref} for an alias",
    )


def _uri_name(name: str, uri: str) -> str:
    try:
        return validate_model_name(name)
    except InvalidArgument as exc:
        raise InvalidArgument(f"model URI {uri!r}: {exc.message}", hint=exc.hint) from None


def _uri_alias(alias: str, uri: str) -> str:
    try:
        return validate_alias(alias)
    except InvalidArgument as exc:
        raise InvalidArgument(f"model URI {uri!r}: {exc.message}", hint=exc.hint) from None


def parse_run_uri(uri: str) -> tuple[str, str]:
    """``(run_id, artifact_path)`` of ``runs:/<run_id>/<artifact_path>``."""
    if not isinstance(uri, str) or not uri.startswith("runs:/"):
        raise InvalidArgument(
            f"{uri!r} is not a run URI", hint="use runs:/<run_id>/<artifact_path>"
        )
    run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
    path = path.strip("/")
    if not run_id or not path:
        raise InvalidArgument(
            f"run URI {uri!r} needs a run id and an artifact path",
            hint="use runs:/<run_id>/<artifact_path>, e.g. runs:/0123abcd.../model",
        )
    return run_id, path
