"""What changed between two versions of a model: data, code, environment, params, metrics.

:func:`diff_model_versions` compares the runs behind two versions and returns a frozen
:class:`ModelDiff`:

- **data** — per dataset (direction, name, context): same or changed digest, rows, columns
  added/removed, types changed, and per-column profile shifts (mean, std, quantiles and missing
  share of numeric columns with the mean shift in standard deviations; missing share, distinct
  count and top-category shares of categorical ones);
- **code** — commits, dirty flags, whether the uncommitted diffs differ, entry point and
  arguments, and ``git diff --stat`` between the commits when the repository is here;
- **environment** — packages added, removed and changed, Python and platform;
- **params** and **metrics** — the snapshots taken at registration, with metric deltas.

>>> d = yard.diff_model_versions("churn", 3, 4)           # doctest: +SKIP
>>> [m.key for m in d.metrics if m.changed]               # doctest: +SKIP
['auc']
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument
from modelyard.registry.entities import ModelVersion, json_float, known_fields
from modelyard.registry.uris import parse_model_uri
from modelyard.registry.versions import (
    client_or_default,
    get_model_version,
    get_model_version_by_alias,
    remote_registry,
    resolve_model_version,
)

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient
    from modelyard.tracking.entities import DatasetInput, Run

__all__ = [
    "CodeDiff",
    "ColumnShift",
    "DatasetDiff",
    "EnvironmentDiff",
    "MetricDelta",
    "ModelDiff",
    "ValueChange",
    "diff_model_versions",
]

_QUANTILES = ("0.05", "0.5", "0.95")
_GIT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ColumnShift:
    """How one column's profile moved: ``changes`` maps a statistic to ``[a, b]``.

    ``score`` is the mean shift in standard deviations of version a (numeric) or the total
    variation distance between the top-category shares (categorical); None when undefined.
    """

    column: str
    kind: str
    changes: dict[str, list[Any]]
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnShift:
        changes = {k: [_stat(x) for x in v] for k, v in (data.get("changes") or {}).items()}
        return cls(**{**known_fields(cls, data), "changes": changes, "score": _opt(data, "score")})


@dataclass(frozen=True)
class DatasetDiff:
    """One dataset of the two runs; ``status`` is same, changed, added or removed."""

    direction: str
    name: str
    context: str
    status: str
    digest_a: str | None
    digest_b: str | None
    rows: list[int | None] | None = None
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    type_changes: dict[str, list[str]] = field(default_factory=dict)
    shifts: tuple[ColumnShift, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["columns_added"] = list(self.columns_added)
        out["columns_removed"] = list(self.columns_removed)
        out["shifts"] = [s.to_dict() for s in self.shifts]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetDiff:
        values = known_fields(cls, data)
        values["columns_added"] = tuple(data.get("columns_added") or ())
        values["columns_removed"] = tuple(data.get("columns_removed") or ())
        values["type_changes"] = dict(data.get("type_changes") or {})
        values["shifts"] = tuple(ColumnShift.from_dict(x) for x in data.get("shifts") or ())
        return cls(**values)


@dataclass(frozen=True)
class CodeDiff:
    """The code of the two runs; ``same`` when commit and uncommitted diff both match."""

    commit_a: str | None
    commit_b: str | None
    dirty_a: bool
    dirty_b: bool
    diff_digest_a: str | None
    diff_digest_b: str | None
    entry_point_a: str | None
    entry_point_b: str | None
    argv_a: list[str]
    argv_b: list[str]
    same: bool
    stat: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeDiff:
        return cls(**known_fields(cls, data))


@dataclass(frozen=True)
class EnvironmentDiff:
    """Packages and platform of the two runs (``available`` is False when one was not captured)."""

    available: bool
    same: bool
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)
    python: list[str] | None = None
    platform: list[str] | None = None
    digest_a: str | None = None
    digest_b: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvironmentDiff:
        return cls(**known_fields(cls, data))


@dataclass(frozen=True)
class ValueChange:
    """A param of the two versions; ``status`` is same, changed, added or removed."""

    key: str
    a: str | None
    b: str | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValueChange:
        return cls(**known_fields(cls, data))


@dataclass(frozen=True)
class MetricDelta:
    """A metric of the two versions with ``delta = b - a`` and ``relative = delta / |a|``."""

    key: str
    a: float | None
    b: float | None
    delta: float | None
    relative: float | None
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricDelta:
        floats = {k: _opt(data, k) for k in ("a", "b", "delta", "relative")}
        return cls(**{**known_fields(cls, data), **floats})


@dataclass(frozen=True)
class ModelDiff:
    """Everything that differs between version ``version_a`` and ``version_b`` of ``name``."""

    name: str
    version_a: int
    version_b: int
    run_id_a: str
    run_id_b: str
    model: dict[str, list[Any]]
    data: tuple[DatasetDiff, ...]
    code: CodeDiff
    environment: EnvironmentDiff
    params: tuple[ValueChange, ...]
    metrics: tuple[MetricDelta, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version_a": self.version_a,
            "version_b": self.version_b,
            "run_id_a": self.run_id_a,
            "run_id_b": self.run_id_b,
            "model": dict(self.model),
            "data": [d.to_dict() for d in self.data],
            "code": self.code.to_dict(),
            "environment": self.environment.to_dict(),
            "params": [p.to_dict() for p in self.params],
            "metrics": [m.to_dict() for m in self.metrics],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelDiff:
        """The diff ``to_dict()`` (or ``GET /api/models/{name}/diff``) described."""
        return cls(
            name=data["name"],
            version_a=int(data["version_a"]),
            version_b=int(data["version_b"]),
            run_id_a=data["run_id_a"],
            run_id_b=data["run_id_b"],
            model={k: list(v) for k, v in (data.get("model") or {}).items()},
            data=tuple(DatasetDiff.from_dict(d) for d in data.get("data") or ()),
            code=CodeDiff.from_dict(data["code"]),
            environment=EnvironmentDiff.from_dict(data["environment"]),
            params=tuple(ValueChange.from_dict(p) for p in data.get("params") or ()),
            metrics=tuple(MetricDelta.from_dict(m) for m in data.get("metrics") or ()),
        )

    def rows(self, *, show_all: bool = False) -> list[tuple[str, str, Any, Any, str]]:
        """``(section, key, a, b, note)`` rows for a table; only differences unless ``show_all``."""
        out: list[tuple[str, str, Any, Any, str]] = []
        for key, (a, b) in self.model.items():
            if show_all or a != b:
                out.append(("model", key, _short(a), _short(b), ""))
        for d in self.data:
            if d.status == "same" and not show_all:
                continue
            label = f"{d.direction}:{d.name}" + (f" ({d.context})" if d.context else "")
            notes = []
            if d.rows and d.rows[0] != d.rows[1]:
                notes.append(f"rows {d.rows[0]} → {d.rows[1]}")
            if d.columns_added:
                notes.append("added " + ", ".join(d.columns_added))
            if d.columns_removed:
                notes.append("removed " + ", ".join(d.columns_removed))
            for col, (ta, tb) in d.type_changes.items():
                notes.append(f"{col}: {ta} → {tb}")
            top = sorted(d.shifts, key=lambda s: -(s.score or 0.0))[:3]
            for s in top:
                notes.append(f"{s.column} shifted" + (f" {s.score:.2f}" if s.score else ""))
            out.append(
                (
                    "data",
                    label,
                    _short(d.digest_a),
                    _short(d.digest_b),
                    "; ".join(notes) or d.status,
                )
            )
        c = self.code
        if show_all or c.commit_a != c.commit_b:
            out.append(("code", "commit", _short(c.commit_a), _short(c.commit_b), ""))
        if show_all or (c.dirty_a, c.diff_digest_a) != (c.dirty_b, c.diff_digest_b):
            out.append(
                (
                    "code",
                    "uncommitted diff",
                    _short(c.diff_digest_a) if c.dirty_a else "clean",
                    _short(c.diff_digest_b) if c.dirty_b else "clean",
                    "",
                )
            )
        if show_all or c.entry_point_a != c.entry_point_b or c.argv_a != c.argv_b:
            out.append(
                (
                    "code",
                    "command",
                    " ".join([c.entry_point_a or "", *c.argv_a]).strip(),
                    " ".join([c.entry_point_b or "", *c.argv_b]).strip(),
                    "",
                )
            )
        e = self.environment
        if not e.available:
            out.append(
                ("environment", "captured", e.digest_a is not None, e.digest_b is not None, "")
            )
        else:
            if e.python:
                out.append(("environment", "python", e.python[0], e.python[1], ""))
            if e.platform and show_all:
                out.append(("environment", "platform", e.platform[0], e.platform[1], ""))
            for pkg, (va, vb) in e.changed.items():
                out.append(("environment", pkg, va, vb, "changed"))
            for pkg, v in e.added.items():
                out.append(("environment", pkg, None, v, "added"))
            for pkg, v in e.removed.items():
                out.append(("environment", pkg, v, None, "removed"))
        for p in self.params:
            if show_all or p.status != "same":
                out.append(("params", p.key, p.a, p.b, p.status))
        for m in self.metrics:
            if show_all or m.changed:
                note = ""
                if m.delta is not None:
                    note = f"{m.delta:+.6g}" + (
                        f" ({m.relative:+.2%})" if m.relative is not None else ""
                    )
                out.append(("metrics", m.key, m.a, m.b, note))
        return out


def _opt(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return None if value is None else json_float(value)


def _stat(value: Any) -> Any:
    """A profile statistic from JSON: ``"NaN"``/``"Infinity"`` back to floats."""
    if value in ("NaN", "Infinity", "-Infinity"):
        return json_float(value)
    return value


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) in (40, 64):
        return value[:12]
    return value


# -- computing --------------------------------------------------------------------------------


def _version(name: str, ref: int | str | ModelVersion, client: TrackingClient) -> ModelVersion:
    if isinstance(ref, ModelVersion):
        return ref
    if isinstance(ref, str) and ref.startswith("models:/"):
        return resolve_model_version(ref, client=client)
    if isinstance(ref, str) and ref == "latest":
        return resolve_model_version(f"models:/{name}/latest", client=client)
    if isinstance(ref, str) and not ref.isdigit():
        return get_model_version_by_alias(name, ref.lstrip("@"), client=client)
    return get_model_version(name, ref, client=client)  # type: ignore[arg-type]


def _ref(name: str, ref: int | str | ModelVersion) -> str:
    """A version of ``name`` as the server's diff route takes it: a number, latest or an alias."""
    other = None
    if isinstance(ref, ModelVersion):
        other, ref = ref.name, ref.version
    elif isinstance(ref, str) and ref.startswith("models:/"):
        parsed = parse_model_uri(ref)
        other = parsed.name
        ref = "latest" if parsed.latest else parsed.alias or int(parsed.version or 0)
    if other is not None and other != name:
        raise InvalidArgument(
            f"cannot diff model {name!r} against a version of model {other!r} through the server",
            hint=f"pass two versions of {name!r}: numbers, 'latest' or alias names",
        )
    if isinstance(ref, str):
        return ref.lstrip("@")
    return str(ref)


def diff_model_versions(
    name: str,
    version_a: int | str | ModelVersion,
    version_b: int | str | ModelVersion,
    *,
    client: TrackingClient | None = None,
) -> ModelDiff:
    """What changed from ``version_a`` to ``version_b`` of model ``name``.

    Versions are numbers, ``"latest"``, or alias names (``"champion"``).

    >>> d = yard.diff_model_versions("churn", "champion", "challenger")   # doctest: +SKIP
    >>> d.environment.changed                                             # doctest: +SKIP
    {'scikit-learn': ['1.4.2', '1.5.0']}
    """
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:  # computed by the server (git diff --stat with its repositories)
        return remote.diff_model_versions(name, _ref(name, version_a), _ref(name, version_b))
    va, vb = _version(name, version_a, client), _version(name, version_b, client)
    ra, rb = client.get_run(va.run_id), client.get_run(vb.run_id)
    model: dict[str, list[Any]] = {
        "model_digest": [va.model_digest, vb.model_digest],
        "flavor": [va.flavor, vb.flavor],
        "signature": [_signature_text(va.signature), _signature_text(vb.signature)],
        "run_id": [va.run_id, vb.run_id],
    }
    return ModelDiff(
        name=va.name,
        version_a=va.version,
        version_b=vb.version,
        run_id_a=va.run_id,
        run_id_b=vb.run_id,
        model=model,
        data=_data(ra, rb),
        code=_code(ra, rb),
        environment=_environment(ra, rb),
        params=_params(va.params or ra.params, vb.params or rb.params),
        metrics=_metrics(va.metrics or ra.metrics, vb.metrics or rb.metrics),
    )


def _signature_text(signature: dict[str, Any] | None) -> str | None:
    if not signature:
        return None
    import json

    return json.dumps(signature, sort_keys=True, default=str)


def _params(a: dict[str, str], b: dict[str, str]) -> tuple[ValueChange, ...]:
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            status = "added"
        elif key not in b:
            status = "removed"
        else:
            status = "same" if a[key] == b[key] else "changed"
        out.append(ValueChange(key, a.get(key), b.get(key), status))
    return tuple(out)


def _metrics(a: dict[str, float], b: dict[str, float]) -> tuple[MetricDelta, ...]:
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        delta = rel = None
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            delta = y - x
            rel = delta / abs(x) if x != 0 else None
            changed = x != y
        else:
            same_nan = x is not None and y is not None and math.isnan(x) and math.isnan(y)
            changed = not (same_nan or x == y)
        out.append(MetricDelta(key, x, y, delta, rel, changed))
    return tuple(out)


def _environment(a: Run, b: Run) -> EnvironmentDiff:
    from modelyard.tracking.environment import EnvironmentInfo, diff_environments

    if not a.environment or not b.environment:
        return EnvironmentDiff(
            available=False,
            same=a.environment_digest == b.environment_digest,
            digest_a=a.environment_digest,
            digest_b=b.environment_digest,
        )
    d = diff_environments(
        EnvironmentInfo.from_dict(a.environment), EnvironmentInfo.from_dict(b.environment)
    )
    return EnvironmentDiff(
        available=True,
        same=bool(d["same"]),
        added=d["added"],
        removed=d["removed"],
        changed=d["changed"],
        python=d["python"],
        platform=d["platform"],
        digest_a=a.environment_digest,
        digest_b=b.environment_digest,
    )


def _code(a: Run, b: Run) -> CodeDiff:
    ca, cb = a.code or {}, b.code or {}
    commit_a, commit_b = ca.get("commit"), cb.get("commit")
    stat = None
    if commit_a and commit_b and commit_a != commit_b:
        stat = _git_stat(ca.get("repo_root") or cb.get("repo_root"), commit_a, commit_b)
    same = (
        commit_a == commit_b
        and bool(ca.get("dirty")) == bool(cb.get("dirty"))
        and ca.get("diff_digest") == cb.get("diff_digest")
    )
    return CodeDiff(
        commit_a=commit_a,
        commit_b=commit_b,
        dirty_a=bool(ca.get("dirty")),
        dirty_b=bool(cb.get("dirty")),
        diff_digest_a=ca.get("diff_digest"),
        diff_digest_b=cb.get("diff_digest"),
        entry_point_a=ca.get("entry_point"),
        entry_point_b=cb.get("entry_point"),
        argv_a=list(ca.get("argv") or []),
        argv_b=list(cb.get("argv") or []),
        same=same,
        stat=stat,
    )


def _git_stat(repo: str | None, a: str, b: str) -> str | None:
    """``git diff --stat a b`` in ``repo`` when it is here and knows both commits."""
    if not repo or not os.path.isdir(repo):
        return None
    try:
        proc = subprocess.run(
            ["git", "--no-pager", "diff", "--stat", "--no-color", a, b],
            cwd=repo,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
            env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace")[-4000:].rstrip() or None


def _data(a: Run, b: Run) -> tuple[DatasetDiff, ...]:
    def key(i: DatasetInput) -> tuple[str, str, str]:
        return (i.direction, i.name, i.context)

    left: dict[tuple[str, str, str], DatasetInput] = {}
    right: dict[tuple[str, str, str], DatasetInput] = {}
    for i in a.inputs:
        left.setdefault(key(i), i)
    for i in b.inputs:
        right.setdefault(key(i), i)
    keys = sorted(set(left) | set(right), key=lambda k: (k[0] != "input", k[1], k[2]))
    out = []
    for k in keys:
        x, y = left.get(k), right.get(k)
        if x is None or y is None:
            out.append(
                DatasetDiff(
                    *k,
                    status="added" if x is None else "removed",
                    digest_a=x.digest if x else None,
                    digest_b=y.digest if y else None,
                )
            )
            continue
        if x.digest == y.digest:
            out.append(DatasetDiff(*k, status="same", digest_a=x.digest, digest_b=y.digest))
            continue
        cols_a = {c["name"]: c.get("type") for c in x.schema or []}
        cols_b = {c["name"]: c.get("type") for c in y.schema or []}
        types = {
            c: [str(cols_a[c]), str(cols_b[c])]
            for c in cols_a
            if c in cols_b and cols_a[c] != cols_b[c]
        }
        out.append(
            DatasetDiff(
                *k,
                status="changed",
                digest_a=x.digest,
                digest_b=y.digest,
                rows=[x.rows, y.rows],
                columns_added=tuple(c for c in cols_b if c not in cols_a),
                columns_removed=tuple(c for c in cols_a if c not in cols_b),
                type_changes=types,
                shifts=_shifts(x.profile, y.profile),
            )
        )
    return tuple(out)


def _differs(x: Any, y: Any) -> bool:
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return not math.isclose(float(x), float(y), rel_tol=1e-12, abs_tol=1e-15)
    return bool(x != y)


def _shifts(pa: dict[str, Any] | None, pb: dict[str, Any] | None) -> tuple[ColumnShift, ...]:
    cols_a = (pa or {}).get("columns") or {}
    cols_b = (pb or {}).get("columns") or {}
    out = []
    for column in cols_a:
        if column not in cols_b:
            continue
        x, y = cols_a[column], cols_b[column]
        kind = x.get("type", "other")
        if kind != y.get("type"):
            continue  # reported as a type change
        if kind == "numeric":
            shift = _numeric_shift(column, x, y)
        elif kind == "categorical":
            shift = _categorical_shift(column, x, y)
        else:
            stats = [s for s in ("missing", "true_count", "false_count", "min", "max") if s in x]
            changes = {s: [x.get(s), y.get(s)] for s in stats if _differs(x.get(s), y.get(s))}
            shift = ColumnShift(column, kind, changes) if changes else None
        if shift is not None:
            out.append(shift)
    return tuple(out)


def _numeric_shift(column: str, x: dict[str, Any], y: dict[str, Any]) -> ColumnShift | None:
    changes: dict[str, list[Any]] = {}
    for stat in ("mean", "std", "min", "max", "missing"):
        if _differs(x.get(stat), y.get(stat)):
            changes[stat] = [x.get(stat), y.get(stat)]
    qa, qb = x.get("quantiles") or {}, y.get("quantiles") or {}
    for q in _QUANTILES:
        if _differs(qa.get(q), qb.get(q)):
            changes[f"q{q}"] = [qa.get(q), qb.get(q)]
    if not changes:
        return None
    score = None
    mean_a, mean_b, std_a = x.get("mean"), y.get("mean"), x.get("std")
    if mean_a is not None and mean_b is not None and std_a:
        score = abs(mean_b - mean_a) / std_a
    return ColumnShift(column, "numeric", changes, score)


def _categorical_shift(column: str, x: dict[str, Any], y: dict[str, Any]) -> ColumnShift | None:
    changes: dict[str, list[Any]] = {}
    for stat in ("missing", "unique"):
        if _differs(x.get(stat), y.get(stat)):
            changes[stat] = [x.get(stat), y.get(stat)]

    def shares(p: dict[str, Any]) -> dict[str, float]:
        count = p.get("count") or 0
        return {e["value"]: e["count"] / count for e in p.get("top") or [] if count}

    sa, sb = shares(x), shares(y)
    values = list(dict.fromkeys([*sa, *sb]))
    score = None
    if sa or sb:
        score = 0.5 * sum(abs(sa.get(v, 0.0) - sb.get(v, 0.0)) for v in values)
        score += 0.5 * abs((1 - sum(sa.values())) - (1 - sum(sb.values())))
    for v in values:
        a, b = sa.get(v), sb.get(v)
        if a is None or b is None or abs(a - b) >= 0.01:
            changes[f"share[{v}]"] = [a, b]
    if not changes:
        return None
    return ColumnShift(column, "categorical", changes, score)
