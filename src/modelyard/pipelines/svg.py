"""The picture of a pipeline's DAG: a layered layout computed here, drawn as SVG text.

:func:`pipeline_svg` takes a pipeline (traced with its default params), a traced graph, or a
pipeline run (its recorded graph, each step coloured by status, cache hits marked). Steps sit in
columns by longest path from the first step; within a column they are ordered by the mean
position of their upstream steps, which keeps most edges short and uncrossed. No Graphviz
binary is needed; the web UI embeds the text as is. :func:`timeline_svg` draws when each step
of a pipeline run ran, one bar per step on a shared time axis: where the time went, and which
steps ran side by side.

>>> from modelyard.pipelines import step, pipeline
>>> @step
... def a():
...     return 1
>>> @step
... def b(x):
...     return x
>>> @pipeline
... def flow():
...     b(a())
>>> pipeline_svg(flow).startswith("<svg")
True
"""

from __future__ import annotations

import html
import math
from typing import Any

from modelyard.errors import InvalidArgument

__all__ = ["STATUS_COLORS", "pipeline_svg", "timeline_svg"]

STATUS_COLORS = {
    "FINISHED": ("#e3f4e6", "#2e8540"),
    "CACHED": ("#e6eefb", "#3563b8"),
    "FAILED": ("#fbe3e3", "#b93b3b"),
    "KILLED": ("#fbefdc", "#b9772b"),
    "RUNNING": ("#e2f3f7", "#2a8ca3"),
    "SKIPPED": ("#f1f1f1", "#999999"),
    "PENDING": ("#ffffff", "#999999"),
    None: ("#ffffff", "#555555"),
}
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 170, 50, 60, 20, 16


def _shape(obj: Any) -> tuple[str, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """(title, steps as {name, inputs}, step states by name) of what was passed in."""
    from modelyard.pipelines.entities import PipelineRun
    from modelyard.pipelines.graph import Graph, Pipeline

    if isinstance(obj, Pipeline):
        obj = obj.graph()
    if isinstance(obj, Graph):
        return obj.pipeline, obj.to_dict()["steps"], {}
    if isinstance(obj, PipelineRun):
        states = {}
        for name, s in obj.steps.items():
            states[name] = {
                "status": "CACHED" if s.cached else s.status,
                "label": s.status.lower() + (" (cached)" if s.cached else ""),
                "duration": s.duration,
                "run_id": s.run_id,
            }
        return obj.pipeline, list(obj.graph.get("steps", [])), states
    raise InvalidArgument(
        f"pipeline_svg() draws a Pipeline, a Graph or a PipelineRun, got {type(obj).__qualname__}",
        hint="pass the pipeline, or yard.get_pipeline_run(run_id)",
    )


def _layers(steps: list[dict[str, Any]]) -> dict[str, int]:
    layer: dict[str, int] = {}
    for s in steps:  # steps are in topological order
        ups = [v[0] for v in s.get("inputs", {}).values() if v[0] in layer]
        layer[s["name"]] = 1 + max((layer[u] for u in ups), default=-1)
    return layer


def pipeline_svg(obj: Any) -> str:
    """SVG text of the DAG of a pipeline, graph or pipeline run (statuses coloured)."""
    title, steps, states = _shape(obj)
    layer = _layers(steps)
    columns: dict[int, list[str]] = {}
    for s in steps:
        columns.setdefault(layer[s["name"]], []).append(s["name"])
    ups = {s["name"]: sorted({v[0] for v in s.get("inputs", {}).values()}) for s in steps}
    pos: dict[str, tuple[float, float]] = {}
    height = 0.0
    for col in sorted(columns):
        names = columns[col]

        def rank(name: str) -> float:
            ys = [pos[u][1] for u in ups[name] if u in pos]
            return sum(ys) / len(ys) if ys else 0.0

        names.sort(key=lambda n: (rank(n), n))
        for i, name in enumerate(names):
            top = float(_PAD + 24 + i * (_BOX_H + _GAP_Y))
            pos[name] = (float(_PAD + col * (_BOX_W + _GAP_X)), top)
            height = max(height, top + _BOX_H + _PAD)
    height += _GAP_Y + 12  # room for edges that pass below the boxes
    width = max(_PAD * 2 + (max(columns, default=0) + 1) * (_BOX_W + _GAP_X) - _GAP_X, 240)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'class="modelyard-pipeline">',
        f"<title>{html.escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#777"/></marker></defs>',
        f'<text x="{_PAD}" y="{_PAD + 8}" font-size="13" font-weight="bold" fill="#222">'
        f"{html.escape(title)}</text>",
    ]
    for s in steps:
        for arg, (up, output) in sorted(s.get("inputs", {}).items()):
            if up not in pos:
                continue
            (x1, y1), (x2, y2) = pos[up], pos[s["name"]]
            if layer[s["name"]] - layer[up] > 1:  # skips a column: pass below the boxes
                sx, sy, tx, ty = x1 + _BOX_W / 2, y1 + _BOX_H, x2 + _BOX_W / 2, y2 + _BOX_H
                low = max(sy, ty) + _GAP_Y + 12
                curve = f"C {sx:.0f} {low:.0f}, {tx:.0f} {low:.0f}"
            else:
                sx, sy, tx, ty = x1 + _BOX_W, y1 + _BOX_H / 2, x2, y2 + _BOX_H / 2
                mid = (sx + tx) / 2
                curve = f"C {mid:.0f} {sy:.0f}, {mid:.0f} {ty:.0f}"
            tip = html.escape(f"{up}.{output} -> {s['name']}({arg})")
            out.append(
                f'<path d="M {sx:.0f} {sy:.0f} {curve}, {tx:.0f} {ty:.0f}" fill="none" '
                f'stroke="#999" stroke-width="1.2" marker-end="url(#arrow)">'
                f"<title>{tip}</title></path>"
            )
    for s in steps:
        name = s["name"]
        x, y = pos[name]
        state = states.get(name, {})
        status = state.get("status") if states else None
        fill, stroke = STATUS_COLORS.get(status, STATUS_COLORS[None])
        label = name if len(name) <= 22 else name[:21] + "…"
        detail = state.get("label") or s.get("function", "")
        if state.get("duration") is not None:
            detail += f" · {state['duration']:.1f}s"
        detail = detail if len(detail) <= 28 else detail[:27] + "…"
        run_attr = f' data-run-id="{html.escape(state["run_id"])}"' if state.get("run_id") else ""
        out.append(
            f'<g class="step {html.escape(str(status or "").lower())}" '
            f'data-step="{html.escape(name)}"{run_attr}><title>{html.escape(name)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>'
            f'<text x="{x + 10:.0f}" y="{y + 21:.0f}" font-size="13" fill="#111">'
            f"{html.escape(label)}</text>"
            f'<text x="{x + 10:.0f}" y="{y + 38:.0f}" font-size="10" fill="#555">'
            f"{html.escape(detail)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


_LABEL_W, _ROW_H, _BAR_H, _PLOT_W = 150, 22, 14, 560


def _tick(span: float) -> float:
    """A round tick interval (seconds) giving about 5 ticks over ``span`` seconds."""
    raw = max(span, 1e-3) / 5
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(float(m * magnitude) for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _seconds(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:g} s"


def timeline_svg(run: Any) -> str | None:
    """SVG text of when each step of pipeline run ``run`` started and ended (None when no step
    has started): a bar per step, coloured by status, on one axis of seconds from the start."""
    started = [s for s in run.steps.values() if s.start_time is not None]
    if not started:
        return None
    origin = min(run.start_time or started[0].start_time, *(s.start_time for s in started))
    last = max(
        [run.end_time or 0, *((s.end_time or s.start_time) for s in started)], default=origin
    )
    span = max((last - origin) / 1000, 1e-3)
    tick = _tick(span)
    scale = _PLOT_W / (math.ceil(span / tick) * tick)
    rows = list(run.steps.values())
    height = _PAD * 2 + 18 + len(rows) * _ROW_H
    width = _PAD * 2 + _LABEL_W + _PLOT_W + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'class="modelyard-timeline">',
        f"<title>{html.escape(f'timeline of {run.pipeline}')}</title>",
    ]
    left, axis_y = _PAD + _LABEL_W, height - _PAD - 4
    ticks = math.ceil(span / tick)
    for i in range(ticks + 1):
        x = left + i * tick * scale
        out.append(
            f'<path d="M {x:.1f} {_PAD} L {x:.1f} {axis_y - 12}" stroke="#e5e7eb" '
            'stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{axis_y}" font-size="10" fill="#555" text-anchor="middle">'
            f"{html.escape(_seconds(round(i * tick, 6)))}</text>"
        )
    for i, step in enumerate(rows):
        y = _PAD + i * _ROW_H
        name = step.name if len(step.name) <= 22 else step.name[:21] + "…"
        status = "CACHED" if step.cached else step.status
        fill, stroke = STATUS_COLORS.get(status, STATUS_COLORS[None])
        run_attr = f' data-run-id="{html.escape(step.run_id)}"' if step.run_id else ""
        out.append(
            f'<g class="step {html.escape(str(status).lower())}" '
            f'data-step="{html.escape(step.name)}"{run_attr}>'
            f"<title>{html.escape(_bar_title(step))}</title>"
            f'<text x="{_PAD}" y="{y + _BAR_H - 2}" font-size="12" fill="#111">'
            f"{html.escape(name)}</text>"
        )
        if step.start_time is not None:
            end = step.end_time if step.end_time is not None else last
            x = left + (step.start_time - origin) / 1000 * scale
            bar = max((end - step.start_time) / 1000 * scale, 2.0)
            out.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{bar:.1f}" height="{_BAR_H}" rx="3" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _bar_title(step: Any) -> str:
    what = "cached" if step.cached else step.status.lower()
    if step.duration is None:
        return f"{step.name}: {what}"
    return f"{step.name}: {what}, {_seconds(round(step.duration, 3))}"
