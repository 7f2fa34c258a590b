"""The registry pages of the web UI: registered models, one model, one model version.

``/models`` lists the registered models; ``/models/{name}`` shows a model's versions (status,
aliases, source run, flavor, digest and the metrics snapshot of each), a chart of one metric
across versions and the alias history; ``/models/{name}/versions/{version}`` shows a version:
signature, requirements and files (with digests, checked against the run's artifacts), the
lineage graph drawn as an inline SVG, the reproduce verdict, and the diff against another
version (``?diff=N``) with the changed rows highlighted. ``/models/{name}/aliases/{alias}``
redirects to the version the alias points at.

The pages call the registry SDK with ``client=`` the app's
:func:`~modelyard.server.registry_api.registry_client`, so they share the app's stores. The
lineage picture comes from :meth:`~modelyard.registry.LineageGraph.to_svg`; since its labels
are user data it is re-emitted through :func:`~modelyard.ui.svg.safe_svg`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from modelyard import registry as reg
from modelyard.errors import InvalidArgument, ModelyardError, NotFound
from modelyard.server.registry_api import registry_client
from modelyard.ui.pages import store_of
from modelyard.ui.svg import safe_svg

if TYPE_CHECKING:
    from starlette.requests import Request

    from modelyard.registry import ModelDiff, ModelEvent, ModelVersion
    from modelyard.tracking.client import TrackingClient
    from modelyard.tracking.sqlstore import SqlTrackingStore
    from modelyard.ui.render import Renderer

__all__ = ["MAX_METRIC_COLUMNS", "DiffRow", "RegistryPages", "diff_sections"]

#: Most metric columns the versions table shows (the chart can pick any metric).
MAX_METRIC_COLUMNS = 8
_INT32_MAX = 2**31 - 1
_MANIFEST = "modelyard-model.json"
_VERDICT_BADGES = {"reproduced": "ok", "differs": "warn", "could_not_run": "bad"}

# -- the diff table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    """One row of the diff table: ``a`` and ``b`` as shown; ``changed`` rows are highlighted."""

    key: str
    a: Any
    b: Any
    note: str
    changed: bool


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) in (40, 64):
        return value[:12]
    return value


def _dataset_note(d: Any) -> str:
    notes = []
    if d.rows and d.rows[0] != d.rows[1]:
        notes.append(f"rows {d.rows[0]} → {d.rows[1]}")
    if d.columns_added:
        notes.append("added " + ", ".join(d.columns_added))
    if d.columns_removed:
        notes.append("removed " + ", ".join(d.columns_removed))
    for column, (ta, tb) in d.type_changes.items():
        notes.append(f"{column}: {ta} → {tb}")
    for shift in sorted(d.shifts, key=lambda s: -(s.score or 0.0))[:3]:
        notes.append(f"{shift.column} shifted" + (f" {shift.score:.2f} σ" if shift.score else ""))
    return "; ".join(notes) or d.status


def diff_sections(diff: ModelDiff) -> list[tuple[str, list[DiffRow]]]:
    """The rows of a :class:`~modelyard.registry.ModelDiff` by section, every row kept."""
    model = [DiffRow(k, _short(a), _short(b), "", a != b) for k, (a, b) in diff.model.items()]
    data = [
        DiffRow(
            f"{d.direction}: {d.name}" + (f" ({d.context})" if d.context else ""),
            _short(d.digest_a),
            _short(d.digest_b),
            _dataset_note(d),
            d.status != "same",
        )
        for d in diff.data
    ]
    c = diff.code
    command_a = " ".join([c.entry_point_a or "", *c.argv_a]).strip()
    command_b = " ".join([c.entry_point_b or "", *c.argv_b]).strip()
    uncommitted_a = _short(c.diff_digest_a) if c.dirty_a else "clean"
    uncommitted_b = _short(c.diff_digest_b) if c.dirty_b else "clean"
    code = [
        DiffRow("commit", _short(c.commit_a), _short(c.commit_b), "", c.commit_a != c.commit_b),
        DiffRow(
            "uncommitted diff",
            uncommitted_a,
            uncommitted_b,
            "",
            (c.dirty_a, c.diff_digest_a) != (c.dirty_b, c.diff_digest_b),
        ),
        DiffRow("command", command_a, command_b, "", command_a != command_b),
    ]
    e = diff.environment
    environment: list[DiffRow] = []
    if not e.available:
        captured = (e.digest_a is not None, e.digest_b is not None)
        environment.append(
            DiffRow("captured", *captured, "", e.digest_a != e.digest_b or not all(captured))
        )
    else:
        for key, pair in (("python", e.python), ("platform", e.platform)):
            if pair:
                environment.append(DiffRow(key, pair[0], pair[1], "", pair[0] != pair[1]))
        environment.append(
            DiffRow("lock digest", _short(e.digest_a), _short(e.digest_b), "", not e.same)
        )
        for package, (va, vb) in e.changed.items():
            environment.append(DiffRow(package, va, vb, "changed", True))
        for package, version in e.added.items():
            environment.append(DiffRow(package, None, version, "added", True))
        for package, version in e.removed.items():
            environment.append(DiffRow(package, version, None, "removed", True))
    params = [
        DiffRow(p.key, p.a, p.b, "" if p.status == "same" else p.status, p.status != "same")
        for p in diff.params
    ]
    metrics = []
    for m in diff.metrics:
        note = ""
        if m.changed and m.delta is not None:
            note = f"{m.delta:+.6g}" + (f" ({m.relative:+.2%})" if m.relative is not None else "")
        metrics.append(DiffRow(m.key, m.a, m.b, note, m.changed))
    return [
        ("model", model),
        ("data", data),
        ("code", code),
        ("environment", environment),
        ("params", params),
        ("metrics", metrics),
    ]


# -- reads the pages share ----------------------------------------------------------------------


@dataclass(frozen=True)
class _RunRef:
    run_id: str
    name: str
    status: str
    experiment_id: int


def _runs(store: SqlTrackingStore, run_ids: list[str]) -> dict[str, _RunRef]:
    """Name, status and experiment of each run, in one query."""
    import sqlalchemy as sa

    from modelyard.store import tables as t

    ids = sorted(set(run_ids))
    if not ids:
        return {}
    r = t.runs.c
    query = sa.select(r.run_id, r.name, r.status, r.experiment_id).where(r.run_id.in_(ids))
    with store.db.read() as conn:
        return {row.run_id: _RunRef(*row) for row in conn.execute(query)}


def _version_number(name: str, raw: str) -> int:
    if raw.isdigit() and 1 <= int(raw) <= _INT32_MAX:
        return int(raw)
    raise NotFound(
        f"model {name!r} has no version {raw[:80]!r}: versions are numbers 1, 2, 3...",
        hint=f"pick a version on the model's page: /models/{name}",
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _label(version: ModelVersion) -> str:
    return f"v{version.version}" + "".join(f" @{a}" for a in version.aliases)


def _alias_history(events: list[ModelEvent]) -> list[dict[str, Any]]:
    history = []
    for event in events:
        if event.kind not in ("alias.set", "alias.deleted"):
            continue
        payload = event.payload or {}
        history.append(
            {
                "time": event.time,
                "alias": payload.get("alias"),
                "from": payload.get("from"),
                "to": payload.get("to"),
                "actor": event.actor,
                "deleted": event.kind == "alias.deleted",
            }
        )
    return list(reversed(history))  # newest first


def _signature_rows(signature: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for side in ("inputs", "outputs"):
        for spec in (signature or {}).get(side) or []:
            if not isinstance(spec, dict):
                continue
            shape = spec.get("shape")
            rows.append(
                {
                    "side": side[:-1],
                    "name": spec.get("name") or "",
                    "type": spec.get("type") or spec.get("dtype") or "",
                    "shape": "(" + ", ".join(str(d) for d in shape) + ")" if shape else "",
                    "required": spec.get("required", True),
                }
            )
    return rows


def _manifest(client: TrackingClient, version: ModelVersion) -> dict[str, Any]:
    """The version's manifest (requirements, framework, files), its files checked."""
    base = version.artifact_path.strip("/")
    raw = client.read_artifact(version.run_id, f"{base}/{_MANIFEST}")
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{base}/{_MANIFEST} of run {version.run_id} is not JSON") from exc
    if not isinstance(manifest, dict):
        raise InvalidArgument(f"{base}/{_MANIFEST} of run {version.run_id} is not an object")
    stored = {a.path[len(base) + 1 :]: a for a in client.list_artifacts(version.run_id, base)}
    files = []
    listed = manifest.get("files")
    listed = listed if isinstance(listed, dict) else {}
    for path, entry in sorted(listed.items()):
        entry = entry if isinstance(entry, dict) else {}
        found = stored.get(path)
        digest = entry.get("digest")
        state = "ok" if found and found.digest == digest else "differs" if found else "missing"
        files.append({"path": path, "digest": digest, "size": entry.get("size"), "state": state})
    framework = manifest.get("framework")
    framework = framework if isinstance(framework, dict) else {}
    return {
        "requirements": [str(r) for r in manifest.get("requirements") or []],
        "framework": f"{framework.get('name', '')} {framework.get('version', '')}".strip(),
        "python": manifest.get("python_version"),
        "serialization": manifest.get("serialization"),
        "files": files,
        "manifest_artifact": stored.get(_MANIFEST),
    }


def _lineage_datasets(graph: reg.LineageGraph, run_id: str) -> list[dict[str, Any]]:
    """The datasets the version's run read or wrote, from the lineage graph."""
    node = f"run:{run_id}"
    direction = {}
    for edge in graph.edges:
        if edge.kind == "input" and edge.target == node:
            direction[edge.source] = "input"
        elif edge.kind == "output" and edge.source == node:
            direction[edge.target] = "output"
    return [
        {**n.attributes, "direction": direction[n.id]}
        for n in graph.nodes_of("dataset")
        if n.id in direction
    ]


class RegistryPages:
    """The registry page handlers of one app (``routes.py`` gives them their URLs)."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    # -- /models ----------------------------------------------------------------------------

    def models(self, request: Request) -> Response:
        models = reg.list_registered_models(client=registry_client(request.app.state))
        return self.renderer.page(request, "models.html", {"models": models, "section": "models"})

    # -- /models/{name} ---------------------------------------------------------------------

    def model(self, request: Request) -> Response:
        client = registry_client(request.app.state)
        name = str(request.path_params["name"])
        model = reg.get_registered_model(name, client=client)
        versions = reg.list_model_versions(name, client=client)
        events = reg.list_model_events(name, client=client)
        counts: dict[str, int] = {}
        for v in versions:
            for key in v.metrics:
                counts[key] = counts.get(key, 0) + 1
        keys = sorted(counts, key=lambda k: (-counts[k], k))
        columns = sorted(keys[:MAX_METRIC_COLUMNS])
        wanted = str(request.query_params.get("metric", ""))
        metric = wanted if wanted in counts else (keys[0] if keys else "")
        chart = {
            "metric": metric,
            "x": [v.version for v in versions],
            "x_title": "version",
            "labels": [_label(v) for v in versions],
            "metrics": {
                key: [_finite(v.metrics.get(key)) for v in versions] for key in sorted(keys)
            },
        }
        context = {
            "section": "models",
            "model": model,
            "versions": list(reversed(versions)),  # newest first
            "runs": _runs(store_of(request), [v.run_id for v in versions]),
            "metric_columns": columns,
            "metric_keys": sorted(keys),
            "metric": metric,
            "chart": chart,
            "alias_history": _alias_history(events),
            "events": list(reversed(events)),
            "payload": lambda p: json.dumps(p, sort_keys=True, default=str) if p else "",
        }
        return self.renderer.page(request, "model.html", context, charts=bool(keys))

    # -- /models/{name}/aliases/{alias} -----------------------------------------------------

    def alias(self, request: Request) -> Response:
        client = registry_client(request.app.state)
        name = str(request.path_params["name"])
        version = reg.get_model_version_by_alias(
            name, str(request.path_params["alias"]), client=client
        )
        target = f"{self._base(request)}/models/{quote(name)}/versions/{version.version}"
        return RedirectResponse(target, status_code=302)

    # -- /models/{name}/versions/{version} --------------------------------------------------

    def version(self, request: Request) -> Response:
        client = registry_client(request.app.state)
        name = str(request.path_params["name"])
        model = reg.get_registered_model(name, client=client)
        number = _version_number(name, str(request.path_params["version"]))
        version = reg.get_model_version(name, number, client=client)
        versions = reg.list_model_versions(name, client=client)
        run = _runs(store_of(request), [version.run_id]).get(version.run_id)
        manifest, manifest_error = None, None
        try:
            manifest = _manifest(client, version)
        except ModelyardError as exc:
            manifest_error = exc.message
        lineage_svg, datasets, lineage_error = None, [], None
        try:
            graph = reg.lineage(version, client=client)
            lineage_svg = safe_svg(graph.to_svg(), f"lineage of {name} v{number}")
            datasets = _lineage_datasets(graph, version.run_id)
        except ModelyardError as exc:
            lineage_error = exc.message
        diff_with, sections, diff, diff_error = self._diff(request, client, version)
        reproduce = version.reproduce or None
        context = {
            "section": "models",
            "model": model,
            "model_version": version,  # "version" is the app's, in the footer
            "versions": versions,
            "run": run,
            "signature": _signature_rows(version.signature),
            "manifest": manifest,
            "manifest_error": manifest_error,
            "lineage_svg": lineage_svg,
            "lineage_error": lineage_error,
            "datasets": datasets,
            "reproduce": reproduce,
            "verdict_badge": _VERDICT_BADGES.get(str((reproduce or {}).get("status")), ""),
            "diff_with": diff_with,
            "diff": diff,
            "sections": sections,
            "changed": sum(1 for _, rows in sections for row in rows if row.changed),
            "diff_error": diff_error,
            "quote": lambda path: quote(path, safe="/"),
        }
        return self.renderer.page(request, "model_version.html", context)

    def _diff(
        self, request: Request, client: TrackingClient, version: ModelVersion
    ) -> tuple[int | None, list[tuple[str, list[DiffRow]]], ModelDiff | None, str | None]:
        raw = str(request.query_params.get("diff", ""))
        if not raw:
            return None, [], None, None
        try:
            other = _version_number(version.name, raw)
            diff = reg.diff_model_versions(version.name, other, version.version, client=client)
        except ModelyardError as exc:
            return None, [], None, exc.message
        return other, diff_sections(diff), diff, None
