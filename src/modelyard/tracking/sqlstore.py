"""Tracking operations on a SQL metadata store (SQLite or PostgreSQL).

:class:`SqlTrackingStore` writes and reads experiments, runs, params, tags, metric points,
dataset inputs and artifact records. Batches of metric points go in with one ``executemany``
and one upsert of ``latest_metrics`` per key; a ``batch_id`` makes a retried batch a no-op.
Runs returned by :meth:`search_runs` come from one search statement (compiled once per
distinct search) and four ``IN`` queries for their params, metrics, tags and datasets, never
one query per run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelyard.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from modelyard.store import tables as t
from modelyard.store.database import Database, now_ms, upsert
from modelyard.tracking.entities import (
    FINISHED,
    RUN_STATUSES,
    RUNNING,
    Artifact,
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunList,
)

if TYPE_CHECKING:
    from sqlalchemy import Dialect

    from modelyard.data import DatasetInfo
    from modelyard.tracking.environment import EnvironmentInfo

__all__ = ["MetricPoint", "SqlTrackingStore", "now_ms"]

#: ``(run_id, key, value, timestamp_ms, step)`` — the unit the metric buffer hands over.
MetricPoint = tuple[str, str, float, int, int]


class SqlTrackingStore:
    """Tracking on a :class:`~modelyard.store.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str | None = None) -> Experiment:
        ts = now_ms()
        with self.db.write() as conn:
            exists = conn.execute(
                select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)
            ).first()
            if exists:
                raise AlreadyExists(
                    f"experiment {name!r} already exists",
                    hint="use set_experiment(name) to reuse it",
                )
            try:
                row = conn.execute(
                    insert(t.experiments)
                    .values(name=name, description=description, created_at=ts, updated_at=ts)
                    .returning(*t.experiments.c)
                ).one()
            except IntegrityError as exc:  # another process created it between check and insert
                raise AlreadyExists(
                    f"experiment {name!r} already exists",
                    hint="use set_experiment(name) to reuse it",
                ) from exc
        return Experiment(**row._asdict())

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        # Every search by experiment name starts here: one statement on the driver's cursor.
        with self.db.read() as conn:
            sql = _experiment_sql(conn.dialect)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, (name,))
                row = cursor.fetchone()
            finally:
                cursor.close()
        return Experiment(*row) if row else None

    def get_experiment(self, experiment_id: int) -> Experiment:
        if not 0 <= experiment_id < 2**31:  # the column is a 32-bit integer on PostgreSQL
            raise NotFound(
                f"experiment {experiment_id} does not exist",
                hint="list experiments with: modelyard experiments list",
            )
        with self.db.read() as conn:
            row = conn.execute(
                select(t.experiments).where(t.experiments.c.experiment_id == experiment_id)
            ).first()
        if row is None:
            raise NotFound(
                f"experiment {experiment_id} does not exist",
                hint="list experiments with: modelyard experiments list",
            )
        return Experiment(**row._asdict())

    def list_experiments(self) -> list[tuple[Experiment, int, int | None]]:
        """Every active experiment with its number of runs and the time of its latest run."""
        runs = t.runs
        counts = (
            select(
                runs.c.experiment_id,
                func.count().label("n"),
                func.max(runs.c.start_time).label("last"),
            )
            .where(runs.c.lifecycle_stage == "active")
            .group_by(runs.c.experiment_id)
            .subquery()
        )
        query = (
            select(t.experiments, counts.c.n, counts.c.last)
            .outerjoin(counts, counts.c.experiment_id == t.experiments.c.experiment_id)
            .where(t.experiments.c.lifecycle_stage == "active")
            .order_by(t.experiments.c.experiment_id)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            data = row._asdict()
            n, last = data.pop("n"), data.pop("last")
            out.append((Experiment(**data), int(n or 0), last))
        return out

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        run_id: str,
        experiment_id: int,
        name: str,
        start_time: int,
        parent_run_id: str | None = None,
        user: str = "",
        host: str = "",
        pid: int | None = None,
        entry_point: str | None = None,
        code: dict[str, Any] | None = None,
        environment: EnvironmentInfo | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        with self.db.write() as conn:
            if parent_run_id is not None:
                self._require_run(conn, parent_run_id)
            if environment is not None:
                conn.execute(
                    upsert(conn, t.environments)
                    .values(
                        digest=environment.digest,
                        python=environment.python,
                        platform=environment.platform,
                        packages=environment.packages,
                        hardware=environment.hardware,
                        created_at=start_time,
                    )
                    .on_conflict_do_nothing()
                )
            conn.execute(
                insert(t.runs).values(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    name=name,
                    status=RUNNING,
                    start_time=start_time,
                    parent_run_id=parent_run_id,
                    user=user,
                    host=host,
                    pid=pid,
                    heartbeat_at=start_time,
                    entry_point=entry_point,
                    code=code,
                    environment_digest=environment.digest if environment else None,
                )
            )
            if tags:
                conn.execute(
                    insert(t.tags),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
                )

    def end_run(
        self,
        run_id: str,
        status: str = FINISHED,
        end_time: int | None = None,
        error: str | None = None,
    ) -> None:
        if status not in RUN_STATUSES or status == RUNNING:
            raise InvalidArgument(
                f"cannot end run {run_id} with status {status!r}",
                hint="use FINISHED, FAILED or KILLED",
            )
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                update(t.runs)
                .where(t.runs.c.run_id == run_id)
                .values(status=status, end_time=end_time or now_ms(), error=error)
            )

    def update_code(self, run_id: str, code: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(code=code))

    def heartbeat(self, run_ids: Sequence[str], ts: int | None = None) -> None:
        if not run_ids:
            return
        with self.db.write() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.run_id.in_(list(run_ids)), t.runs.c.status == RUNNING)
                .values(heartbeat_at=ts or now_ms())
            )

    def mark_dead_runs(self, host: str, is_alive: Any) -> list[str]:
        """End RUNNING runs of ``host`` whose process is gone as KILLED; return their ids."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.runs.c.run_id, t.runs.c.pid).where(
                    t.runs.c.status == RUNNING, t.runs.c.host == host, t.runs.c.pid.is_not(None)
                )
            ).all()
        dead = [(run_id, pid) for run_id, pid in rows if not is_alive(pid)]
        if not dead:
            return []
        with self.db.write() as conn:
            for run_id, pid in dead:
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.run_id == run_id, t.runs.c.status == RUNNING)
                    .values(
                        status="KILLED",
                        end_time=func.coalesce(t.runs.c.heartbeat_at, t.runs.c.start_time),
                        error=(
                            f"process {pid} on {host} ended without ending the run (killed "
                            "with SIGKILL, out of memory, or crashed); everything flushed "
                            "before that is kept"
                        ),
                    )
                )
        return [run_id for run_id, _ in dead]

    def _require_run(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(
            select(t.runs.c.run_id, t.runs.c.status).where(t.runs.c.run_id == run_id)
        ).first()
        if row is None:
            raise NotFound(
                f"run {run_id!r} does not exist",
                hint="list runs with: modelyard runs list",
            )
        return row

    # -- params and tags --------------------------------------------------------------------

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        if not params:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            existing = dict(
                conn.execute(
                    select(t.params.c.key, t.params.c.value).where(
                        t.params.c.run_id == run_id, t.params.c.key.in_(list(params))
                    )
                ).all()
            )
            for key, value in params.items():
                if key in existing and existing[key] != value:
                    raise InvalidArgument(
                        f"param {key!r} of run {run_id} is already {existing[key]!r}; "
                        f"cannot change it to {value!r} (params are immutable)",
                        hint="log the new value under another key, or start a new run",
                    )
            new = [
                {"run_id": run_id, "key": k, "value": v}
                for k, v in params.items()
                if k not in existing
            ]
            if new:
                conn.execute(insert(t.params), new)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            stmt = upsert(conn, t.tags)
            stmt = stmt.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
            )
            conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key == key))

    # -- metrics ----------------------------------------------------------------------------

    def log_metrics(self, points: Sequence[MetricPoint], batch_id: str | None = None) -> int:
        """Insert metric points; returns how many were written (0 for a repeated batch)."""
        if not points:
            return 0
        run_ids = {p[0] for p in points}
        rows = []
        latest: dict[tuple[str, str], MetricPoint] = {}
        for point in points:
            run_id, key, value, ts, step = point
            nan = math.isnan(value)
            rows.append((run_id, key, step, ts, None if nan else value, nan))
            best = latest.get((run_id, key))
            if best is None or (step, ts) >= (best[4], best[3]):
                latest[(run_id, key)] = point
        with self.db.write() as conn:
            known = set(
                conn.execute(select(t.runs.c.run_id).where(t.runs.c.run_id.in_(run_ids))).scalars()
            )
            missing = run_ids - known
            if missing:
                raise NotFound(
                    f"cannot log metrics to run(s) that do not exist: {', '.join(sorted(missing))}",
                    hint="start the run first with start_run()",
                )
            if batch_id is not None:
                (run_id,) = run_ids if len(run_ids) == 1 else (sorted(run_ids)[0],)
                result = conn.execute(
                    upsert(conn, t.metric_batches)
                    .values(
                        run_id=run_id, batch_id=batch_id, points=len(points), created_at=now_ms()
                    )
                    .on_conflict_do_nothing()
                    .returning(t.metric_batches.c.batch_id)
                )
                if result.first() is None:
                    return 0
            # Points go to the driver's executemany as plain tuples: building one SQLAlchemy
            # parameter dict per point cost more than the database's own insert.
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(_metrics_insert_sql(conn.dialect), rows)
            finally:
                cursor.close()
            stmt = upsert(conn, t.latest_metrics)
            current = t.latest_metrics.c
            stmt = stmt.on_conflict_do_update(
                index_elements=["run_id", "key"],
                set_={
                    "step": stmt.excluded.step,
                    "timestamp": stmt.excluded.timestamp,
                    "value": stmt.excluded.value,
                    "is_nan": stmt.excluded.is_nan,
                },
                where=or_(
                    stmt.excluded.step > current.step,
                    and_(
                        stmt.excluded.step == current.step,
                        stmt.excluded.timestamp >= current.timestamp,
                    ),
                ),
            )
            conn.execute(
                stmt,
                [
                    {
                        "run_id": run_id,
                        "key": key,
                        "step": step,
                        "timestamp": ts,
                        "value": None if math.isnan(value) else value,
                        "is_nan": math.isnan(value),
                    }
                    for (run_id, key, value, ts, step) in latest.values()
                ],
            )
        return len(rows)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        m = t.metrics.c
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(
                select(m.step, m.timestamp, m.value, m.is_nan)
                .where(m.run_id == run_id, m.key == key)
                .order_by(m.step, m.timestamp, m.id)
            ).all()
        return [
            Metric(key=key, step=step, timestamp=ts, value=math.nan if is_nan else float(value))
            for step, ts, value, is_nan in rows
        ]

    # -- datasets and artifacts -------------------------------------------------------------

    def log_dataset(
        self,
        run_id: str,
        info: DatasetInfo,
        *,
        name: str,
        context: str = "",
        direction: str = "input",
    ) -> None:
        ts = now_ms()
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                upsert(conn, t.datasets)
                .values(
                    digest=info.digest,
                    kind=info.kind,
                    rows=info.rows,
                    columns=info.columns,
                    size_bytes=info.size_bytes,
                    schema=info.schema,
                    profile=info.profile,
                    manifest=info.manifest,
                    note=info.note,
                    created_at=ts,
                )
                .on_conflict_do_nothing()
            )
            conn.execute(
                upsert(conn, t.run_datasets)
                .values(
                    run_id=run_id,
                    dataset_digest=info.digest,
                    direction=direction,
                    name=name,
                    context=context,
                    source=info.source,
                    created_at=ts,
                )
                .on_conflict_do_nothing()
            )

    def log_artifact(self, run_id: str, path: str, digest: str, size: int) -> None:
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            stmt = upsert(conn, t.artifacts)
            stmt = stmt.on_conflict_do_update(
                index_elements=["run_id", "path"],
                set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size},
            )
            conn.execute(
                stmt.values(run_id=run_id, path=path, digest=digest, size=size, created_at=now_ms())
            )

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        a = t.artifacts.c
        query = select(a.path, a.digest, a.size, a.created_at).where(a.run_id == run_id)
        if prefix:
            folder = _like_prefix(prefix.rstrip("/") + "/")
            query = query.where(or_(a.path == prefix, a.path.like(folder, escape="\\")))
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(query.order_by(a.path)).all()
        return [Artifact(**row._asdict()) for row in rows]

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        a = t.artifacts.c
        with self.db.read() as conn:
            row = conn.execute(
                select(a.path, a.digest, a.size, a.created_at).where(
                    a.run_id == run_id, a.path == path
                )
            ).first()
        if row is None:
            raise NotFound(
                f"run {run_id} has no artifact {path!r}",
                hint=f"list its artifacts with: modelyard runs show {run_id}",
            )
        return Artifact(**row._asdict())

    # -- reading runs -----------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidArgument(f"run id must be a non-empty string, got {run_id!r}")
        with self.db.read() as conn:
            runs = self._hydrate(conn, [run_id], full=True)
        if not runs:
            raise NotFound(
                f"run {run_id!r} does not exist",
                hint="list runs with: modelyard runs list",
            )
        return runs[0]

    def find_runs(self, prefix: str) -> list[str]:
        """Run ids starting with ``prefix`` (so people can type the first few characters)."""
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(t.runs.c.run_id)
                    .where(t.runs.c.run_id.like(_like_prefix(prefix), escape="\\"))
                    .limit(5)
                ).scalars()
            )

    def search_runs(
        self,
        experiment_ids: Sequence[int],
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunList:
        from modelyard.store.search import cached_search_query, next_page_token

        # The search returns the runs' own columns at once; only child rows are fetched after.
        query, offset = cached_search_query(
            experiment_ids,
            filter,
            order_by,
            max_results=max_results,
            page_token=page_token,
            columns=_LIST_RUN_COLUMNS,
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            token = None
            if len(rows) > max_results:
                rows, token = rows[:max_results], next_page_token(offset, max_results)
            runs = self._hydrate(conn, [row[0] for row in rows], full=False, rows=rows)
        return RunList(runs, next_page_token=token)

    def _hydrate(
        self,
        conn: Connection,
        run_ids: list[str],
        *,
        full: bool,
        rows: Sequence[Sequence[Any]] | None = None,
    ) -> list[Run]:
        """Load runs by id with their params, latest metrics, tags and datasets.

        Search returns up to hundreds of runs with thousands of child rows; these five
        statements run on the driver's cursor of the same connection and transaction, which
        reads rows about twice as fast as compiled SQLAlchemy statements. The SQL is built
        once per dialect from the table names and only ever binds values.
        """
        if not run_ids:
            return []
        sql = _hydrate_sql(conn.dialect, full)
        by_id: dict[str, dict[str, Any]] = {}
        # one dict per run and kind, filled straight from the rows (no lookup through by_id)
        params_of: dict[str, dict[str, str]] = {}
        metrics_of: dict[str, dict[str, float]] = {}
        tags_of: dict[str, dict[str, str]] = {}
        inputs_of: dict[str, list[DatasetInput]] = {}
        nan = math.nan
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for chunk in _chunks(run_ids, 500):
                ids = tuple(chunk)
                marks = ", ".join([sql.mark] * len(ids))
                if rows is None:
                    cursor.execute(sql.runs.format(marks), ids)
                    fetched = cursor.fetchall()
                else:  # already read by the caller (search), in _LIST_RUN_COLUMNS order
                    wanted = set(ids)
                    fetched = [row for row in rows if row[0] in wanted]
                for row in fetched:
                    run_id = row[0]
                    data = _RUN_DEFAULTS.copy()
                    data.update(zip(sql.run_columns, row, strict=True))
                    if full:
                        data["code"] = _json(data["code"])
                    data["params"] = params_of[run_id] = {}
                    data["metrics"] = metrics_of[run_id] = {}
                    data["tags"] = tags_of[run_id] = {}
                    inputs_of[run_id] = []
                    by_id[run_id] = data
                cursor.execute(sql.params.format(marks), ids)
                for run_id, key, value in cursor.fetchall():
                    params_of[run_id][key] = value
                cursor.execute(sql.metrics.format(marks), ids)
                for run_id, key, value, is_nan in cursor.fetchall():
                    metrics_of[run_id][key] = nan if is_nan else float(value)
                cursor.execute(sql.tags.format(marks), ids)
                for run_id, key, value in cursor.fetchall():
                    tags_of[run_id][key] = value
                cursor.execute(sql.datasets.format(marks), ids)
                for row in cursor.fetchall():
                    data = dict(zip(sql.dataset_fields, row, strict=True))
                    if full:
                        data["schema"] = _json(data["schema"])
                        data["profile"] = _json(data["profile"])
                    inputs_of[data.pop("run_id")].append(DatasetInput(**data))
        finally:
            cursor.close()
        if full:
            digests = {d["environment_digest"] for d in by_id.values() if d["environment_digest"]}
            envs = {}
            if digests:
                for row in conn.execute(
                    select(t.environments).where(t.environments.c.digest.in_(digests))
                ):
                    envs[row.digest] = row._asdict()
            for data in by_id.values():
                data["environment"] = envs.get(data["environment_digest"])
        out = []
        for run_id in run_ids:
            if run_id in by_id:
                data = by_id[run_id]
                data["inputs"] = tuple(inputs_of[run_id])
                out.append(_new_run(data))
        return out

    # -- housekeeping -----------------------------------------------------------------------

    def delete_run(self, run_id: str) -> None:
        with self.db.write() as conn:
            row = self._require_run(conn, run_id)
            if row.status == RUNNING:
                raise InvalidState(
                    f"run {run_id} is still RUNNING", hint="end it before deleting it"
                )
            conn.execute(
                update(t.runs).where(t.runs.c.run_id == run_id).values(lifecycle_stage="deleted")
            )


@dataclass(frozen=True)
class _HydrateSql:
    """SQL text of the hydration statements for one dialect; ``{}`` takes the placeholders."""

    mark: str
    run_columns: tuple[str, ...]
    runs: str
    params: str
    metrics: str
    tags: str
    datasets: str
    dataset_fields: tuple[str, ...]


@functools.cache
def _hydrate_sql(dialect: Dialect, full: bool) -> _HydrateSql:
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"

    def select_by_run(table: str, columns: Sequence[str]) -> str:
        names = ", ".join(quote(c) for c in columns)
        return f"SELECT {names} FROM {quote(table)} WHERE {quote('run_id')} IN ({{}})"

    run_columns = tuple(c.name for c in t.runs.c) if full else _LIST_RUN_COLUMNS
    dataset_columns = [
        ("rd", "run_id", "run_id"),
        ("rd", "name", "name"),
        ("rd", "dataset_digest", "digest"),
        ("rd", "direction", "direction"),
        ("rd", "context", "context"),
        ("ds", "kind", "kind"),
        ("ds", "rows", "rows"),
        ("ds", "columns", "columns"),
        ("ds", "size_bytes", "size_bytes"),
        ("rd", "source", "source"),
        ("ds", "note", "note"),
    ]
    if full:
        dataset_columns += [("ds", "schema", "schema"), ("ds", "profile", "profile")]
    names = ", ".join(f"{alias}.{quote(column)}" for alias, column, _ in dataset_columns)
    datasets = (
        f"SELECT {names} FROM {quote('run_datasets')} rd JOIN {quote('datasets')} ds "
        f"ON ds.{quote('digest')} = rd.{quote('dataset_digest')} "
        f"WHERE rd.{quote('run_id')} IN ({{}}) ORDER BY rd.{quote('id')}"
    )
    return _HydrateSql(
        mark=mark,
        run_columns=run_columns,
        runs=select_by_run("runs", run_columns),
        params=select_by_run("params", ("run_id", "key", "value")),
        metrics=select_by_run("latest_metrics", ("run_id", "key", "value", "is_nan")),
        tags=select_by_run("tags", ("run_id", "key", "value")),
        datasets=datasets,
        dataset_fields=tuple(field for _, _, field in dataset_columns),
    )


@functools.cache
def _experiment_sql(dialect: Dialect) -> str:
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(quote(f.name) for f in dataclasses.fields(Experiment))
    return f"SELECT {names} FROM {quote('experiments')} WHERE {quote('name')} = {mark}"


@functools.cache
def _metrics_insert_sql(dialect: Dialect) -> str:
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    columns = ("run_id", "key", "step", "timestamp", "value", "is_nan")
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {quote('metrics')} ({names}) VALUES ({', '.join([mark] * len(columns))})"


_LIST_RUN_COLUMNS = tuple(c.name for c in t.runs.c if c.name != "code")


#: Every field of :class:`Run` with its default; the rows fill in the rest.
_RUN_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Run) if f.default is not dataclasses.MISSING
}


def _new_run(data: dict[str, Any]) -> Run:
    """``Run(**data)`` for data read from the store, without the frozen dataclass's ``__init__``.

    A search returns hundreds of runs; the generated ``__init__`` assigns its 21 fields one
    ``object.__setattr__`` at a time, which cost more than reading the run. ``data`` starts as
    a copy of :data:`_RUN_DEFAULTS` and then gets every column of the run and fresh params,
    metrics and tags, so the result compares equal to ``Run(**data)``; it becomes the run's
    attribute dict as it is.
    """
    run = object.__new__(Run)
    object.__setattr__(run, "__dict__", data)
    return run


def _json(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching strings that start with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
