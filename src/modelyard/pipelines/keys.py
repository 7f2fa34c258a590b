"""Cache keys of steps: what they are made of, how they are hashed, and how two differ.

A step's cache key is BLAKE3 over the canonical JSON of its **components**:

- ``code`` — one digest per function, class and constant of the user's project that the step
  reaches (:func:`modelyard.pipelines.closure.code_closure`);
- ``params`` — the canonical JSON of every argument that is a plain value;
- ``inputs`` — the content digest of every upstream output the step reads;
- ``files`` — the content digest of every file or folder passed as a ``pathlib.Path`` or named in
  ``@step(inputs=...)`` (Merkle digests, with the stat cache);
- ``environment`` — the environment digest (Python, platform, installed packages);
- ``outputs`` — the output names, the return annotation and the storage format version.

The components are stored with each step run, so :func:`diff_components` can later say which
function, param, input, file or package changed (see ``modelyard pipelines explain``).

>>> components = {"code": {"m.f": "a" * 64}, "params": {"C": 1.0}, "inputs": {}, "files": {},
...               "environment": "b" * 64, "outputs": {"names": ["output"]}}
>>> len(cache_key(components))
64
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from datetime import date, datetime, time
from enum import Enum
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from modelyard.pipelines.entities import KeyChange

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient

__all__ = ["FORMAT_VERSION", "cache_key", "canonical", "diff_components"]

FORMAT_VERSION = 1
"""Version of the way outputs are stored; part of every key, bumped when the format changes."""

_PARTS = ("code", "params", "inputs", "files", "environment", "outputs")


def canonical(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of a param value that is equal exactly when the values are.

    Plain JSON stays as is; tuples, sets, floats that JSON cannot hold, paths, dates, enums,
    dataclasses, bytes, arrays and frames are tagged; anything else is named by the digest of
    its pickle.

    >>> canonical((1, 2.5, {"a": None}))
    {'tuple': [1, 2.5, {'a': None}]}
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if depth > 20:
        return {"pickle": _pickle_digest(value)}
    if isinstance(value, list):
        return [canonical(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [canonical(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: canonical(v, depth + 1) for k, v in sorted(value.items())}
        pairs = [[canonical(k, depth + 1), canonical(v, depth + 1)] for k, v in value.items()]
        return {"dict": sorted(pairs, key=_dumps)}
    if isinstance(value, (set, frozenset)):
        return {"set": sorted((canonical(v, depth + 1) for v in value), key=_dumps)}
    if isinstance(value, PurePath):
        return {"path": value.as_posix()}
    if isinstance(value, (datetime, date, time)):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, bytes):
        from modelyard._digest import digest_bytes

        return {"bytes": digest_bytes(value)}
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: canonical(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        }
        return {"dataclass": type(value).__qualname__, "fields": fields}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.generic):
            return canonical(value.item(), depth + 1)
        if isinstance(value, np.ndarray) and value.dtype != object:
            from modelyard.data import digest_array

            return {"ndarray": digest_array(value)}
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        from modelyard.data import digest_dataframe

        return {"dataframe": digest_dataframe(value)}
    from modelyard.data.frames import is_arrow_table, is_polars_frame

    if is_polars_frame(value) or is_arrow_table(value):
        from modelyard.data import digest_dataframe

        return {"dataframe": digest_dataframe(value)}
    return {"pickle": _pickle_digest(value)}


def _pickle_digest(value: Any) -> str:
    import cloudpickle  # type: ignore[import-untyped]

    from modelyard._digest import digest_bytes

    return digest_bytes(cloudpickle.dumps(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_key(components: Mapping[str, Any]) -> str:
    """BLAKE3 over the canonical JSON of the key's components."""
    from modelyard._digest import digest_bytes

    payload = {part: components.get(part) for part in _PARTS}
    payload["format"] = FORMAT_VERSION
    return digest_bytes(_dumps(payload).encode("ascii"))


def _mapping_changes(part: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[KeyChange]:
    out = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name) or (name in a) != (name in b):
            out.append(KeyChange(part, name, a.get(name), b.get(name)))
    return out


def diff_components(
    a: Mapping[str, Any] | None,
    b: Mapping[str, Any] | None,
    *,
    environments: tuple[Any, Any] | None = None,
) -> list[KeyChange]:
    """Which parts of two keys' components differ, most specific first.

    ``environments`` (two :class:`~modelyard.tracking.environment.EnvironmentInfo`) turns an
    environment change into the packages that changed.
    """
    if a is None or b is None:
        return [
            KeyChange(
                "step", "", None if a is None else "present", None if b is None else "present"
            )
        ]
    changes: list[KeyChange] = []
    changes += _mapping_changes("code", a.get("code") or {}, b.get("code") or {})
    changes += _mapping_changes("param", a.get("params") or {}, b.get("params") or {})
    changes += _mapping_changes("input", a.get("inputs") or {}, b.get("inputs") or {})
    changes += _mapping_changes("file", a.get("files") or {}, b.get("files") or {})
    reads_a = {r["path"]: r["digest"] for r in a.get("reads") or ()}
    reads_b = {r["path"]: r["digest"] for r in b.get("reads") or ()}
    changes += _mapping_changes("file", reads_a, reads_b)
    if a.get("environment") != b.get("environment"):
        changes += _environment_changes(a.get("environment"), b.get("environment"), environments)
    if a.get("outputs") != b.get("outputs"):
        changes.append(KeyChange("outputs", "spec", a.get("outputs"), b.get("outputs")))
    return changes


def _environment_changes(
    digest_a: Any, digest_b: Any, environments: tuple[Any, Any] | None
) -> list[KeyChange]:
    if environments is None or environments[0] is None or environments[1] is None:
        return [KeyChange("environment", "digest", digest_a, digest_b)]
    from modelyard.tracking.environment import diff_environments

    diff = diff_environments(environments[0], environments[1])
    out = [KeyChange("environment", n, v, None) for n, v in diff["removed"].items()]
    out += [KeyChange("environment", n, None, v) for n, v in diff["added"].items()]
    out += [KeyChange("environment", n, v[0], v[1]) for n, v in diff["changed"].items()]
    for field in ("python", "platform"):
        if diff[field]:
            out.append(KeyChange("environment", field, diff[field][0], diff[field][1]))
    return out or [KeyChange("environment", "digest", digest_a, digest_b)]


def run_environment(client: TrackingClient, run_id: str | None) -> Any:
    """The :class:`EnvironmentInfo` recorded with a run, or None."""
    if run_id is None:
        return None
    from modelyard.errors import NotFound
    from modelyard.tracking.environment import EnvironmentInfo

    try:
        env = client.get_run(run_id).environment
    except NotFound:
        return None
    return EnvironmentInfo.from_dict(env) if env else None
