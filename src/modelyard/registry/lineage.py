"""Lineage: which data, code and environment made a model, and which models a dataset made.

:func:`lineage` walks from a model version (or a run) upstream through the metadata store and
returns a frozen :class:`LineageGraph`: the version, the run that produced it, the datasets it
read and wrote (by content digest), its code version (commit, dirty diff digest), its
environment (lock digest), its parent runs, and — following dataset digests — the runs that
wrote its inputs, up to ``depth`` runs away. Edges follow the flow of data: ``dataset → run``
(input), ``run → dataset`` (output), ``run → model version`` (produced), ``code → run``,
``environment → run`` and ``parent run → run``.

:func:`lineage_of_dataset` answers the reverse question: which runs read or wrote a dataset
digest (a prefix is enough), and which model versions were trained on it — directly or on a
dataset derived from it.

The graph draws itself: :meth:`LineageGraph.to_dot` for Graphviz and :meth:`LineageGraph.to_svg`
for a self-contained picture laid out in Python (no Graphviz needed).

>>> graph = yard.lineage("models:/churn@champion")                   # doctest: +SKIP
>>> [n.label for n in graph.nodes_of("dataset")]                    # doctest: +SKIP
['train (3f9a0c12)']
"""

from __future__ import annotations

import dataclasses
import html
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, NotFound
from modelyard.registry.entities import ModelVersion, known_fields
from modelyard.registry.versions import (
    client_or_default,
    registry_store,
    remote_registry,
    resolve_model_version,
)

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient
    from modelyard.tracking.entities import Run

__all__ = [
    "DatasetLineage",
    "DatasetUse",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "lineage",
    "lineage_of_dataset",
]

_MAX_RUNS = 50


@dataclass(frozen=True)
class LineageNode:
    """One thing in the graph: ``kind`` is model_version, run, dataset, code or environment."""

    id: str
    kind: str
    label: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageNode:
        return cls(**{**known_fields(cls, data), "attributes": dict(data.get("attributes") or {})})


@dataclass(frozen=True)
class LineageEdge:
    """``source → target`` in the direction data flows; ``kind`` says how they are related."""

    source: str
    target: str
    kind: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageEdge:
        return cls(**{**known_fields(cls, data), "attributes": dict(data.get("attributes") or {})})


@dataclass(frozen=True)
class LineageGraph:
    """Nodes and edges around ``root`` (the id of the model version or run asked about)."""

    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def node(self, node_id: str) -> LineageNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise NotFound(f"lineage graph has no node {node_id!r}")

    def nodes_of(self, kind: str) -> list[LineageNode]:
        """The nodes of one kind, in the order they were found."""
        return [n for n in self.nodes if n.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageGraph:
        """The graph ``to_dict()`` (or ``GET /api/lineage``) described."""
        return cls(
            root=data["root"],
            nodes=tuple(LineageNode.from_dict(n) for n in data.get("nodes") or ()),
            edges=tuple(LineageEdge.from_dict(e) for e in data.get("edges") or ()),
        )

    def to_dot(self) -> str:
        """The graph in Graphviz DOT (``dot -Tsvg``), left to right in the direction of data."""

        def q(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = [
            "digraph lineage {",
            "  rankdir=LR;",
            '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
            '  edge [fontname="Helvetica", fontsize=9, color="#666666"];',
        ]
        for node in self.nodes:
            fill, _ = _COLORS.get(node.kind, _COLORS["other"])
            width = ", penwidth=2" if node.id == self.root else ""
            lines.append(
                f"  {q(node.id)} [label={q(node.kind + chr(10) + node.label)}, "
                f'fillcolor="{fill}"{width}];'
            )
        for edge in self.edges:
            lines.append(f"  {q(edge.source)} -> {q(edge.target)} [label={q(_edge_label(edge))}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_svg(self) -> str:
        """A self-contained SVG picture: layers left to right in the direction of data."""
        return _svg(self)


@dataclass(frozen=True)
class DatasetUse:
    """A run that read (``direction="input"``) or wrote a dataset.

    ``distance`` is 0 for the dataset asked about and n for a dataset derived from it through
    n runs (a run read it and wrote ``digest``).
    """

    run_id: str
    run_name: str
    experiment_id: int
    status: str
    direction: str
    name: str
    context: str
    digest: str
    distance: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetUse:
        return cls(**known_fields(cls, data))


@dataclass(frozen=True)
class DatasetLineage:
    """Where a dataset went: the runs that used it and the model versions trained on it."""

    digest: str
    dataset: dict[str, Any]
    uses: tuple[DatasetUse, ...]
    model_versions: tuple[ModelVersion, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "dataset": dict(self.dataset),
            "uses": [u.to_dict() for u in self.uses],
            "model_versions": [v.to_dict() for v in self.model_versions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetLineage:
        """The answer ``to_dict()`` (or ``GET /api/lineage/datasets/{digest}``) described."""
        return cls(
            digest=data["digest"],
            dataset=dict(data.get("dataset") or {}),
            uses=tuple(DatasetUse.from_dict(u) for u in data.get("uses") or ()),
            model_versions=tuple(
                ModelVersion.from_dict(v) for v in data.get("model_versions") or ()
            ),
        )


# -- building the graph -----------------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, LineageNode] = {}
        self.edges: dict[tuple[str, str, str], LineageEdge] = {}

    def node(self, node_id: str, kind: str, label: str, /, **attributes: Any) -> str:
        if node_id not in self.nodes:
            self.nodes[node_id] = LineageNode(node_id, kind, label, attributes)
        return node_id

    def edge(self, source: str, target: str, kind: str, /, **attributes: Any) -> None:
        key = (source, target, kind)
        if key not in self.edges:
            self.edges[key] = LineageEdge(source, target, kind, attributes)

    def graph(self, root: str) -> LineageGraph:
        return LineageGraph(root, tuple(self.nodes.values()), tuple(self.edges.values()))


def _version_node(b: _Builder, v: ModelVersion) -> str:
    return b.node(
        f"model_version:{v.name}/{v.version}",
        "model_version",
        f"{v.name} v{v.version}" + (f" @{','.join(v.aliases)}" if v.aliases else ""),
        name=v.name,
        version=v.version,
        uri=v.uri,
        status=v.status,
        model_digest=v.model_digest,
        flavor=v.flavor,
        aliases=list(v.aliases),
        artifact_path=v.artifact_path,
    )


def _run_node(b: _Builder, run: Run) -> str:
    return b.node(
        f"run:{run.run_id}",
        "run",
        run.name,
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        status=run.status,
        start_time=run.start_time,
        end_time=run.end_time,
        user=run.user,
        entry_point=run.entry_point,
    )


def _add_run(b: _Builder, run: Run) -> str:
    run_id = _run_node(b, run)
    code = run.code or {}
    if code.get("commit") or code.get("entry_point"):
        commit = code.get("commit") or "no-commit"
        diff = code.get("diff_digest") or "clean"
        label = (commit[:8] if code.get("commit") else "no commit") + (
            f" + diff {diff[:8]}" if code.get("dirty") and code.get("diff_digest") else ""
        )
        code_id = b.node(
            f"code:{commit}:{diff}",
            "code",
            label,
            commit=code.get("commit"),
            branch=code.get("branch"),
            remote=code.get("remote"),
            dirty=code.get("dirty"),
            diff_digest=code.get("diff_digest"),
            repo_root=code.get("repo_root"),
        )
        b.edge(code_id, run_id, "code", entry_point=code.get("entry_point"), argv=code.get("argv"))
    env = run.environment
    if env:
        env_id = b.node(
            f"environment:{env['digest']}",
            "environment",
            f"Python {str(env.get('python', '?')).split()[0]}, "
            f"{len(env.get('packages') or {})} packages",
            digest=env["digest"],
            python=env.get("python"),
            platform=env.get("platform"),
            packages=len(env.get("packages") or {}),
        )
        b.edge(env_id, run_id, "environment")
    for ds in run.inputs:
        ds_id = b.node(
            f"dataset:{ds.digest}",
            "dataset",
            f"{ds.name} ({ds.digest[:8]})",
            digest=ds.digest,
            name=ds.name,
            kind=ds.kind,
            rows=ds.rows,
            columns=ds.columns,
            size_bytes=ds.size_bytes,
            source=ds.source,
        )
        if ds.direction == "output":
            b.edge(run_id, ds_id, "output", name=ds.name, context=ds.context)
        else:
            b.edge(ds_id, run_id, "input", name=ds.name, context=ds.context)
    return run_id


def lineage(
    target: str | ModelVersion, *, depth: int = 3, client: TrackingClient | None = None
) -> LineageGraph:
    """The lineage graph of a model version (``models:/...`` URI or ModelVersion) or a run.

    ``target`` may also be ``runs:/<run_id>/...`` or a run id. ``depth`` bounds how many runs
    away (parents, and runs that wrote the inputs) the walk goes; at most 50 runs are shown.

    >>> g = yard.lineage("models:/churn/3")     # doctest: +SKIP
    >>> g.to_dict()["edges"][0]                 # doctest: +SKIP
    {'source': 'run:4f0c...', 'target': 'model_version:churn/3', 'kind': 'produced', ...}
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise InvalidArgument(f"depth must be an int >= 0, got {depth!r}", hint="e.g. depth=3")
    client = client_or_default(client)
    remote = remote_registry(client)
    if remote is not None:  # the server walks the graph and answers it whole
        if isinstance(target, ModelVersion):
            target = target.uri
        elif isinstance(target, str) and not target.startswith(("models:/", "runs:/")):
            target = f"runs:/{target}"
        if not isinstance(target, str):
            raise InvalidArgument(
                f"cannot draw the lineage of a {type(target).__name__}",
                hint="pass a models:/ URI, a ModelVersion, or a run id",
            )
        return remote.lineage(target, depth=depth)
    store = registry_store(client)
    b = _Builder()
    if isinstance(target, ModelVersion) or (
        isinstance(target, str) and target.startswith("models:/")
    ):
        version = (
            target
            if isinstance(target, ModelVersion)
            else resolve_model_version(target, client=client)
        )
        root = _version_node(b, version)
        start = client.get_run(version.run_id)
        b.edge(_run_node(b, start), root, "produced", artifact_path=version.artifact_path)
    elif isinstance(target, str):
        run_id = target[len("runs:/") :].split("/")[0] if target.startswith("runs:/") else target
        start = client.get_run(run_id)
        root = _run_node(b, start)
    else:
        raise InvalidArgument(
            f"cannot draw the lineage of a {type(target).__name__}",
            hint="pass a models:/ URI, a ModelVersion, or a run id",
        )
    queue: deque[tuple[Run, int]] = deque([(start, 0)])
    seen = {start.run_id}
    while queue:
        run, level = queue.popleft()
        run_node = _add_run(b, run)
        if level >= depth:
            continue
        upstream: list[tuple[str, str, dict[str, Any]]] = []
        if run.parent_run_id:
            upstream.append((run.parent_run_id, "parent", {}))
        inputs = [i.digest for i in run.inputs if i.direction == "input"]
        for row in store.run_datasets(inputs, "output"):
            if row["run_id"] != run.run_id:
                upstream.append((row["run_id"], "writer", row))
        for run_id, how, _row in upstream:
            if run_id in seen:
                if how == "parent":
                    b.edge(f"run:{run_id}", run_node, "parent")
                continue
            if len(seen) >= _MAX_RUNS:
                break
            seen.add(run_id)
            try:
                other = client.get_run(run_id)
            except NotFound:
                continue
            other_node = _run_node(b, other)
            if how == "parent":
                b.edge(other_node, run_node, "parent")
            queue.append((other, level + 1))
    return b.graph(root)


def lineage_of_dataset(
    digest: str, *, depth: int = 3, client: TrackingClient | None = None
) -> DatasetLineage:
    """The runs that used dataset ``digest`` (a unique prefix of 6+ characters is enough) and
    the model versions trained on it, directly or on datasets derived from it within ``depth``
    runs.

    >>> found = yard.lineage_of_dataset("3f9a0c12")             # doctest: +SKIP
    >>> [v.uri for v in found.model_versions]                   # doctest: +SKIP
    ['models:/churn/3', 'models:/churn/4']
    """
    client = client_or_default(client)
    prefix = digest.strip().lower() if isinstance(digest, str) else ""
    if len(prefix) < 6:
        raise InvalidArgument(
            f"dataset digest {digest!r} is too short: give at least 6 characters",
            hint="copy the digest from: modelyard runs show RUN_ID",
        )
    if any(c not in "0123456789abcdef" for c in prefix):
        raise InvalidArgument(
            f"dataset digest {prefix!r} is not hexadecimal",
            hint="pass the digest (or its first 8+ characters) shown by modelyard runs show",
        )
    remote = remote_registry(client)
    if remote is not None:
        return remote.lineage_of_dataset(prefix, depth=depth)
    store = registry_store(client)
    matches = store.find_datasets(prefix)
    if not matches:
        raise NotFound(
            f"no dataset has a digest starting with {prefix!r}",
            hint="see the datasets of a run with: modelyard runs show RUN_ID",
        )
    if len(matches) > 1:
        raise InvalidArgument(
            f"dataset digest prefix {prefix!r} matches {len(matches)} datasets: "
            + ", ".join(m[:16] for m in matches),
            hint="give more characters of the digest",
        )
    full = matches[0]
    uses: list[DatasetUse] = []
    readers: set[str] = set()
    seen_digests = {full}
    frontier = {full}
    for distance in range(depth + 1):
        rows = store.run_datasets(frontier)
        new_readers = set()
        for row in rows:
            if distance > 0 and row["direction"] == "output":
                continue  # the writers of derived datasets are the readers found one step ago
            uses.append(
                DatasetUse(
                    run_id=row["run_id"],
                    run_name=row["run_name"],
                    experiment_id=row["experiment_id"],
                    status=row["status"],
                    direction=row["direction"],
                    name=row["name"],
                    context=row["context"],
                    digest=row["digest"],
                    distance=distance,
                )
            )
            if row["direction"] == "input" and row["run_id"] not in readers:
                new_readers.add(row["run_id"])
        readers |= new_readers
        if distance == depth or not new_readers:
            break
        derived = {r["digest"] for r in store.datasets_of_runs(new_readers, "output")}
        frontier = derived - seen_digests
        seen_digests |= frontier
        if not frontier:
            break
    dataset = store.dataset_rows([full]).get(full, {"digest": full})
    return DatasetLineage(
        digest=full,
        dataset=dataset,
        uses=tuple(uses),
        model_versions=tuple(store.versions_of_runs(readers)),
    )


# -- drawing ----------------------------------------------------------------------------------

_COLORS = {  # kind -> (fill, stroke)
    "model_version": ("#fde7c8", "#d08a1e"),
    "run": ("#dbe9fb", "#3b73b9"),
    "dataset": ("#dcf3dc", "#3f8f3f"),
    "code": ("#eee3f7", "#7d4fa8"),
    "environment": ("#eeeeee", "#777777"),
    "deployment": ("#fbdada", "#b93b3b"),
    "other": ("#ffffff", "#777777"),
}
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 190, 46, 70, 18, 16


def _edge_label(edge: LineageEdge) -> str:
    name = edge.attributes.get("name")
    context = edge.attributes.get("context")
    if name:
        return f"{edge.kind}: {name}" + (f" ({context})" if context else "")
    return edge.kind


def _layers(graph: LineageGraph) -> dict[str, int]:
    """Longest-path layers in the direction of the edges; cycles are cut where they close."""
    preds: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    succs: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        if e.source in preds and e.target in preds and e.source != e.target:
            preds[e.target].append(e.source)
            succs[e.source].append(e.target)
    indegree = {n: len(p) for n, p in preds.items()}
    layer = dict.fromkeys(preds, 0)
    ready = deque(n for n, d in indegree.items() if d == 0)
    done: set[str] = set()
    while len(done) < len(preds):
        if not ready:  # a cycle: release the waiting node with the fewest missing inputs
            waiting = [n for n in preds if n not in done]
            ready.append(min(waiting, key=lambda n: (indegree[n], n)))
        node = ready.popleft()
        if node in done:
            continue
        done.add(node)
        for nxt in succs[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0 and nxt not in done:
                ready.append(nxt)
    for node, before in preds.items():  # inputs sit just left of their first reader
        if not before and succs[node]:
            layer[node] = max(0, min(layer[s] for s in succs[node]) - 1)
    return layer


def _svg(graph: LineageGraph) -> str:
    layer = _layers(graph)
    columns: dict[int, list[LineageNode]] = {}
    for node in graph.nodes:
        columns.setdefault(layer[node.id], []).append(node)
    order = ["code", "environment", "dataset", "run", "model_version"]
    position: dict[str, tuple[float, float]] = {}
    preds: dict[str, list[str]] = {}
    for e in graph.edges:
        preds.setdefault(e.target, []).append(e.source)
    height = 0.0
    for col in sorted(columns):
        nodes = columns[col]

        def rank(n: LineageNode) -> tuple[float, int, str]:
            ys = [position[p][1] for p in preds.get(n.id, []) if p in position]
            mean = sum(ys) / len(ys) if ys else 0.0
            kind = order.index(n.kind) if n.kind in order else len(order)
            return (mean, kind, n.label)

        nodes.sort(key=rank)
        for i, node in enumerate(nodes):
            top = float(_PAD + i * (_BOX_H + _GAP_Y))
            position[node.id] = (float(_PAD + col * (_BOX_W + _GAP_X)), top)
            height = max(height, top + _BOX_H + _PAD)
    width = _PAD * 2 + (max(columns, default=0) + 1) * (_BOX_W + _GAP_X) - _GAP_X
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'class="modelyard-lineage">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>',
    ]
    for e in graph.edges:
        if e.source not in position or e.target not in position:
            continue
        (x1, y1), (x2, y2) = position[e.source], position[e.target]
        sx, sy, tx, ty = x1 + _BOX_W, y1 + _BOX_H / 2, x2, y2 + _BOX_H / 2
        if tx <= sx:  # same or earlier column (a cycle): loop around below
            tx, ty = x2 + _BOX_W / 2, y2 + _BOX_H
        mid = (sx + tx) / 2
        title = html.escape(_edge_label(e))
        out.append(
            f'<path d="M {sx:.0f} {sy:.0f} C {mid:.0f} {sy:.0f}, {mid:.0f} {ty:.0f}, '
            f'{tx:.0f} {ty:.0f}" fill="none" stroke="#999" stroke-width="1.2" '
            f'marker-end="url(#arrow)"><title>{title}</title></path>'
        )
    for node in graph.nodes:
        x, y = position[node.id]
        fill, stroke = _COLORS.get(node.kind, _COLORS["other"])
        width_px = 2.5 if node.id == graph.root else 1.2
        label = node.label if len(node.label) <= 28 else node.label[:27] + "…"
        tip = html.escape(node.id)
        out.append(
            f'<g class="node {html.escape(node.kind)}" data-id="{tip}"><title>{tip}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width_px}"/>'
            f'<text x="{x + 10:.0f}" y="{y + 18:.0f}" font-size="10" fill="#555">'
            f"{html.escape(node.kind.replace('_', ' '))}</text>"
            f'<text x="{x + 10:.0f}" y="{y + 35:.0f}" font-size="13" fill="#111">'
            f"{html.escape(label)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
