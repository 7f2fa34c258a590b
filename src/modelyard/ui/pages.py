"""The HTML pages: experiments, the runs table, a run, a comparison, and artifact files.

Each method of :class:`Pages` takes the request and returns a response; ``routes.py`` wires them
to URLs. They read the tracking store, the artifact store and the settings from
``request.app.state`` and render a template through the app's
:class:`~modelyard.ui.render.Renderer`. A :class:`~modelyard.errors.ModelyardError` they raise
becomes the friendly error page (``routes.py``); a malformed filter is not raised but shown
above the runs table, with its position. The runs table renders one page of
:data:`PAGE_SIZE` runs, found and ordered in SQL by ``SqlTrackingStore.search_runs``, so its
cost does not grow with the number of runs in the experiment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response, StreamingResponse

from modelyard._digest import CHUNK_SIZE
from modelyard.artifacts import validate_artifact_path
from modelyard.errors import InvalidArgument, ModelyardError, NotFound
from modelyard.store.database import now_ms
from modelyard.store.search import next_page_token, search_query
from modelyard.tracking.compare import compare_runs
from modelyard.tracking.entities import Run
from modelyard.ui.datasets import MAX_COLUMNS, column_views
from modelyard.ui.previews import (
    Preview,
    artifact_tree,
    build_preview,
    content_type,
    diff_lines,
    read_diff,
)
from modelyard.ui.queries import ExperimentKeys, count_runs, experiment_keys
from modelyard.ui.series import MAX_POINTS, X_AXES
from modelyard.ui.table import (
    ATTRIBUTE_COLUMNS,
    Column,
    TableQuery,
    default_columns,
    parse_column,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from modelyard.artifacts import ArtifactStore
    from modelyard.settings import Settings
    from modelyard.tracking.entities import Experiment
    from modelyard.tracking.sqlstore import SqlTrackingStore
    from modelyard.ui.render import Renderer

__all__ = ["MAX_COMPARE", "PAGE_SIZE", "Pages", "parse_run_ids"]

#: Runs per page of the runs table.
PAGE_SIZE = 50
#: Most runs one comparison shows.
MAX_COMPARE = 10
#: Colours of the runs in a comparison (also used by charts.js, in this order).
RUN_COLOURS = (
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c",
    "#0891b2", "#db2777", "#65a30d", "#4f46e5", "#a16207",
)  # fmt: skip
_POSITION_RE = re.compile(r"at position (\d+)")


def store_of(request: Request) -> SqlTrackingStore:
    return cast("SqlTrackingStore", request.app.state.store)


def artifacts_of(request: Request) -> ArtifactStore:
    return cast("ArtifactStore", request.app.state.artifacts)


def settings_of(request: Request) -> Settings:
    return cast("Settings", request.app.state.settings)


def parse_run_ids(values: list[str], *, low: int = 2, high: int = MAX_COMPARE) -> list[str]:
    """Run ids from ``?runs=a,b`` or ``?runs=a&runs=b``, deduplicated, ``low`` to ``high``."""
    ids = list(dict.fromkeys(i.strip() for v in values for i in v.split(",") if i.strip()))
    if not low <= len(ids) <= high:
        raise InvalidArgument(
            f"compare needs {low} to {high} runs, got {len(ids)}",
            hint="tick 2 to 10 runs in the runs table and press Compare, "
            "or open /compare?runs=RUN_A,RUN_B",
        )
    return ids


def _experiment(store: SqlTrackingStore, raw: str) -> Experiment:
    if not raw.isdigit():
        raise NotFound(
            f"experiment {raw!r} does not exist: experiment ids are numbers",
            hint="pick an experiment from the list of experiments",
        )
    return store.get_experiment(int(raw))


def _find_run(store: SqlTrackingStore, run_id: str) -> Run:
    """The run ``run_id``, or the only run whose id starts with it."""
    try:
        return store.get_run(run_id)
    except NotFound:
        matches = store.find_runs(run_id) if len(run_id) >= 4 else []
        if len(matches) == 1:
            return store.get_run(matches[0])
        raise


def _page_offset(page_token: str) -> int:
    """Where ``page_token`` starts; InvalidArgument when it is not one of ours."""
    return search_query([], None, (), max_results=1, page_token=page_token or None)[1]


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Row:
    run: Run
    cells: tuple[tuple[str, bool], ...]  # (text, is a number)


class Pages:
    """The page handlers of one app (see ``routes.py`` for their URLs)."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    # -- experiments ------------------------------------------------------------------------

    def experiments(self, request: Request) -> Response:
        rows = store_of(request).list_experiments()
        return self.renderer.page(request, "experiments.html", {"experiments": rows})

    # -- the runs table ---------------------------------------------------------------------

    def runs(self, request: Request) -> Response:
        store = store_of(request)
        experiment = _experiment(store, str(request.path_params["experiment_id"]))
        eid = experiment.experiment_id
        path = f"{self._base(request)}/experiments/{eid}"
        query = TableQuery.parse(request.query_params.multi_items())
        error: ModelyardError | None = None
        runs: list[Run] = []
        next_token: str | None = None
        offset = 0
        try:
            offset = _page_offset(query.page_token)
            found = store.search_runs(
                [eid],
                query.filter or None,
                list(query.order_by),
                max_results=PAGE_SIZE,
                page_token=query.page_token or None,
            )
            runs, next_token = list(found), found.next_page_token
        except InvalidArgument as exc:
            error = exc
        recent = experiment_keys(store, eid)
        keys = ExperimentKeys(
            params=tuple(sorted({*recent.params, *(k for r in runs for k in r.params)})),
            metrics=tuple(sorted({*recent.metrics, *(k for r in runs for k in r.metrics)})),
        )
        picked: list[tuple[str, str]] = []
        chosen = query.columns
        if chosen is None:
            chosen = default_columns(keys.params, keys.metrics, query)
        for text in chosen:
            try:
                picked.append(parse_column(text))
            except InvalidArgument as exc:
                error = error or exc
        keys = ExperimentKeys(  # picked keys stay in the picker, however old their runs
            params=tuple(sorted({*keys.params, *(k for c, k in picked if c == "params")})),
            metrics=tuple(sorted({*keys.metrics, *(k for c, k in picked if c == "metrics")})),
        )
        columns = [
            Column(
                id=attr,
                label=label,
                kind="attribute",
                key=attr,
                sort=query.sorted_by(attr),
                sort_url=query.sort_url(path, attr),
            )
            for attr, label in ATTRIBUTE_COLUMNS
        ]
        columns.append(Column("duration", "Duration", "attribute", "duration", None, None))
        for kind, key in picked:
            column_id = f"{kind}.{key}"
            columns.append(
                Column(
                    id=column_id,
                    label=key,
                    kind=kind,
                    key=key,
                    sort=query.sorted_by(column_id),
                    sort_url=query.sort_url(path, column_id),
                )
            )
        rows = [
            _Row(
                run,
                tuple(
                    (
                        _format_cell(getattr(run, kind).get(key)),
                        kind == "metrics",
                    )
                    for kind, key in picked
                ),
            )
            for run in runs
        ]
        prev_url = None
        if offset > 0:
            back = max(0, offset - PAGE_SIZE)
            token = next_page_token(0, back) if back else ""
            prev_url = query.url(path, page_token=token)
        total = count_runs(store, eid)
        position = None
        if error is not None and error.message.startswith("invalid filter"):
            match = _POSITION_RE.search(error.message)
            position = int(match.group(1)) if match else None
        picked_ids = {f"{kind}.{key}" for kind, key in picked}
        context = {
            "experiment": experiment,
            "path": path,
            "query": query,
            "columns": columns,
            "picked": picked_ids,
            "keys": keys,
            "rows": rows,
            "error": error,
            "error_position": position,
            "offset": offset,
            "total": total,
            "page_size": PAGE_SIZE,
            "prev_url": prev_url,
            "next_url": query.url(path, page_token=next_token) if next_token else None,
            "max_compare": MAX_COMPARE,
        }
        return self.renderer.page(
            request, "runs.html", context, status=error.status if error else 200
        )

    # -- one run ----------------------------------------------------------------------------

    def run(self, request: Request) -> Response:
        store = store_of(request)
        requested = str(request.path_params["run_id"])
        run = _find_run(store, requested)
        base = self._base(request)
        if run.run_id != requested:
            target = f"{base}/runs/{run.run_id}"
            if request.url.query:
                target += f"?{request.url.query}"
            return RedirectResponse(target, status_code=302)
        experiment = store.get_experiment(run.experiment_id)
        artifacts = store.list_artifacts(run.run_id)
        preview, preview_error = self._preview(
            request, run, str(request.query_params.get("artifact", ""))
        )
        diff, diff_truncated, diff_error = self._diff(request, run)
        parent = None
        if run.parent_run_id:
            try:
                parent = store.get_run(run.parent_run_id)
            except NotFound:
                parent = None
        children = store.search_runs(
            [run.experiment_id],
            f"attributes.parent_run_id = {_sql_string(run.run_id)}",
            ["attributes.start_time asc"],
            max_results=100,
        )
        x_axis = request.query_params.get("x", "step")
        settings = settings_of(request)
        timeout_ms = int(max(settings.heartbeat_interval, 1.0) * 3 * 1000)
        datasets = [
            (inp, column_views(inp.profile), _profile_columns(inp.profile)) for inp in run.inputs
        ]
        environment = run.environment or {}
        context = {
            "run": run,
            "experiment": experiment,
            "parent": parent,
            "parent_run_id": run.parent_run_id,
            "children": list(children),
            "stale": run.stale_reason(now_ms(), timeout_ms),
            "metric_keys": sorted(run.metrics),
            "x_axis": x_axis if x_axis in X_AXES else "step",
            "max_points": MAX_POINTS,
            "code": run.code or {},
            "diff": diff,
            "diff_truncated": diff_truncated,
            "diff_error": diff_error,
            "environment": environment,
            "packages": sorted((environment.get("packages") or {}).items()),
            "hardware": environment.get("hardware") or {},
            "datasets": datasets,
            "max_profile_columns": MAX_COLUMNS,
            "artifacts": artifacts,
            "tree": artifact_tree(artifacts),
            "preview": preview,
            "preview_error": preview_error,
            "selected": preview.artifact.path if preview else None,
            "quote": _quote_path,
        }
        return self.renderer.page(request, "run.html", context, charts=True)

    def _preview(
        self, request: Request, run: Run, wanted: str
    ) -> tuple[Preview | None, ModelyardError | None]:
        if not wanted:
            return None, None
        try:
            path = validate_artifact_path(wanted)
            artifact = store_of(request).get_artifact(run.run_id, path)
            return build_preview(artifacts_of(request), artifact), None
        except ModelyardError as exc:
            return None, exc

    def _diff(self, request: Request, run: Run) -> tuple[list[tuple[str, str]], bool, str | None]:
        path = (run.code or {}).get("diff_artifact")
        if not path:
            return [], False, None
        try:
            artifact = store_of(request).get_artifact(run.run_id, str(path))
            text, truncated = read_diff(artifacts_of(request), artifact)
        except ModelyardError as exc:
            return [], False, exc.message
        return diff_lines(text), truncated, None

    # -- comparison -------------------------------------------------------------------------

    def compare(self, request: Request) -> Response:
        store = store_of(request)
        ids = parse_run_ids(request.query_params.getlist("runs"))
        runs = [_find_run(store, run_id) for run_id in ids]
        comparison = compare_runs(runs)
        counts: dict[str, int] = {}
        for run in runs:
            for key in run.metrics:
                counts[key] = counts.get(key, 0) + 1
        shared = sorted(k for k, n in counts.items() if n >= 2)
        single = sorted(k for k, n in counts.items() if n < 2)
        sections: dict[str, list[Any]] = {}
        for row in comparison.rows:
            sections.setdefault(row.section, []).append(row)
        experiments = {run.experiment_id for run in runs}
        context = {
            "runs": runs,
            "colours": RUN_COLOURS,
            "sections": sections,
            "shared_keys": shared,
            "single_keys": single,
            "run_ids": ",".join(r.run_id for r in runs),
            "meta": [
                {"run_id": r.run_id, "name": r.name, "colour": RUN_COLOURS[i]}
                for i, r in enumerate(runs)
            ],
            "experiment": (
                store.get_experiment(runs[0].experiment_id) if len(experiments) == 1 else None
            ),
            "x_axis": request.query_params.get("x", "step"),
            "differing": sum(1 for row in comparison.rows if row.differs),
        }
        return self.renderer.page(request, "compare.html", context, charts=True)

    # -- artifact files ---------------------------------------------------------------------

    def artifact(self, request: Request) -> Response:
        """The bytes of one artifact, streamed; ``?download=1`` makes it an attachment."""
        run_id = str(request.path_params["run_id"])
        path = validate_artifact_path(str(request.path_params["path"]))
        artifact = store_of(request).get_artifact(run_id, path)
        etag = f'"{artifact.digest}"'
        media_type, inline = content_type(path)
        download = request.query_params.get("download", "") not in ("", "0", "false", "no")
        name = path.rsplit("/", 1)[-1]
        fallback = name.encode("ascii", "replace").decode("ascii").replace('"', "_")
        disposition = "attachment" if download or not inline else "inline"
        headers = {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "Content-Disposition": (
                f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": (
                "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
            ),
        }
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        reader = artifacts_of(request).open(artifact.digest)
        headers["Content-Length"] = str(artifact.size)

        def chunks() -> Iterator[bytes]:
            with reader:
                while chunk := reader.read(CHUNK_SIZE):
                    yield chunk

        return StreamingResponse(chunks(), media_type=media_type, headers=headers)


def _format_cell(value: Any) -> str:
    from modelyard.ui.render import fmt_value

    return fmt_value(value)


def _quote_path(path: str) -> str:
    return quote(path, safe="/")


def _profile_columns(profile: Any) -> int:
    columns = profile.get("columns") if isinstance(profile, dict) else None
    return len(columns) if isinstance(columns, dict) else 0
