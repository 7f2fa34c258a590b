"""Every SQL statement of pipelines: pipeline runs, step runs, and the shared step cache.

:class:`SqlPipelineStore` works on the same database as tracking (``client.store.db``). A step
run is a tracked child run, so starting one inserts the ``runs`` row with its params and tags
and the ``step_runs`` row in one transaction; finishing one records its output artifacts,
dataset links, cache entry and end status in one more — two transactions per executed step,
one per cache hit, which keeps the overhead per step in milliseconds.

Cache entries are written with an atomic insert-or-ignore (``ON CONFLICT DO NOTHING`` on
SQLite and PostgreSQL): two runs computing the same key at once both succeed and the first
entry stays; outputs are content-addressed, so both are equally valid. An entry found stale
(expired, files changed, blobs gone) is replaced with a conditional upsert.

Every write may be repeated with the same effect (remote mode retries a request whose answer
was lost): a pipeline run's record is inserted once under its run id, a step run's child run
and rows once under the run id the client chose (a repeat writes nothing; an id taken by
another run is ``AlreadyExists``), and ends, attempt counts and links are updates or upserts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, desc, func, insert, select, update

from modelyard.errors import AlreadyExists, NotFound
from modelyard.store import tables as t
from modelyard.store.database import Database, now_ms, upsert

__all__ = ["SqlPipelineStore"]


class SqlPipelineStore:
    """Pipeline records in the metadata store behind ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- pipeline runs ----------------------------------------------------------------------

    def create_pipeline_run(
        self,
        run_id: str,
        *,
        pipeline: str,
        source: str | None,
        params: dict[str, Any],
        graph: dict[str, Any],
        executor: str,
        resumed_from: str | None,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                upsert(conn, t.pipeline_runs)
                .values(
                    run_id=run_id,
                    pipeline=pipeline,
                    source=source,
                    params=params,
                    graph=graph,
                    executor=executor,
                    resumed_from=resumed_from,
                    created_at=now_ms(),
                )
                .on_conflict_do_nothing()
            )

    def get_pipeline_run(self, run_id: str) -> dict[str, Any]:
        """The ``pipeline_runs`` row joined with its run, plus its ``step_runs`` rows."""
        with self.db.read() as conn:
            row = (
                conn.execute(
                    select(
                        t.pipeline_runs,
                        t.runs.c.status,
                        t.runs.c.start_time,
                        t.runs.c.end_time,
                        t.runs.c.error,
                        t.runs.c.parent_run_id,
                    )
                    .join(t.runs, t.runs.c.run_id == t.pipeline_runs.c.run_id)
                    .where(t.pipeline_runs.c.run_id == run_id)
                )
                .mappings()
                .first()
            )
            if row is None:
                matches = (
                    conn.execute(
                        select(t.pipeline_runs.c.run_id).where(
                            t.pipeline_runs.c.run_id.like(f"{run_id}%")
                        )
                    )
                    .scalars()
                    .all()
                    if len(run_id) >= 4
                    else []
                )
                if len(matches) != 1:
                    raise NotFound(
                        f"there is no pipeline run {run_id!r}",
                        hint="list them with: modelyard pipelines list",
                    )
                return self.get_pipeline_run(matches[0])
            out = dict(row)
            out["steps"] = self._step_rows(conn, [row["run_id"]]).get(row["run_id"], [])
            out["metrics"] = self._latest_metrics(conn, row["run_id"])
        return out

    def _latest_metrics(self, conn: Connection, run_id: str) -> dict[str, float]:
        rows = conn.execute(
            select(
                t.latest_metrics.c.key, t.latest_metrics.c.value, t.latest_metrics.c.is_nan
            ).where(t.latest_metrics.c.run_id == run_id)
        ).all()
        return {k: float("nan") if nan else float(v) for k, v, nan in rows}

    def latest_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """The latest value of every metric of each run in ``run_ids``."""
        if not run_ids:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    t.latest_metrics.c.run_id,
                    t.latest_metrics.c.key,
                    t.latest_metrics.c.value,
                    t.latest_metrics.c.is_nan,
                ).where(t.latest_metrics.c.run_id.in_(sorted(set(run_ids))))
            ).all()
        out: dict[str, dict[str, float]] = {}
        for run_id, key, value, nan in rows:
            out.setdefault(run_id, {})[key] = float("nan") if nan else float(value)
        return out

    def _step_rows(
        self, conn: Connection, pipeline_run_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        rows = (
            conn.execute(
                select(
                    t.step_runs,
                    t.runs.c.status,
                    t.runs.c.start_time,
                    t.runs.c.end_time,
                    t.runs.c.error,
                )
                .join(t.runs, t.runs.c.run_id == t.step_runs.c.run_id)
                .where(t.step_runs.c.pipeline_run_id.in_(list(pipeline_run_ids)))
                .order_by(t.step_runs.c.created_at, t.step_runs.c.step)
            )
            .mappings()
            .all()
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["pipeline_run_id"], []).append(dict(row))
        return out

    def list_pipeline_runs(
        self, pipeline: str | None = None, max_results: int = 50
    ) -> list[dict[str, Any]]:
        """Newest first: pipeline run rows with status, times and step counts."""
        with self.db.read() as conn:
            query = (
                select(
                    t.pipeline_runs,
                    t.runs.c.status,
                    t.runs.c.start_time,
                    t.runs.c.end_time,
                    t.runs.c.error,
                    t.runs.c.parent_run_id,
                )
                .join(t.runs, t.runs.c.run_id == t.pipeline_runs.c.run_id)
                .order_by(desc(t.pipeline_runs.c.created_at))
                .limit(max_results)
            )
            if pipeline is not None:
                query = query.where(t.pipeline_runs.c.pipeline == pipeline)
            rows = [dict(r) for r in conn.execute(query).mappings().all()]
            steps = self._step_rows(conn, [r["run_id"] for r in rows])
        for row in rows:
            row["steps"] = steps.get(row["run_id"], [])
        return rows

    def list_pipelines(self) -> list[dict[str, Any]]:
        """One row per pipeline name, by name: its run count and its newest run (id, status,
        times, source, executor)."""
        p = t.pipeline_runs.c
        counts = (
            select(p.pipeline, func.count().label("runs"), func.max(p.created_at).label("last"))
            .group_by(p.pipeline)
            .subquery()
        )
        query = (
            select(
                counts.c.pipeline,
                counts.c.runs,
                p.run_id,
                p.source,
                p.executor,
                t.runs.c.status,
                t.runs.c.start_time,
                t.runs.c.end_time,
                t.runs.c.experiment_id,
            )
            .join(
                t.pipeline_runs,
                and_(p.pipeline == counts.c.pipeline, p.created_at == counts.c.last),
            )
            .join(t.runs, t.runs.c.run_id == p.run_id)
            .order_by(counts.c.pipeline, desc(p.run_id))
        )
        with self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        out: dict[str, dict[str, Any]] = {}
        for row in rows:  # two runs created in the same millisecond: keep one
            out.setdefault(row["pipeline"], dict(row))
        return list(out.values())

    # -- step runs --------------------------------------------------------------------------

    def start_step_run(
        self,
        *,
        run_id: str,
        pipeline_run_id: str,
        experiment_id: int,
        step: str,
        run_fields: dict[str, Any],
        params: dict[str, str],
        tags: dict[str, str],
        cache_key: str | None,
        components: dict[str, Any] | None,
    ) -> None:
        """Insert the child run (RUNNING), its params and tags, and its ``step_runs`` row."""
        ts = now_ms()
        with self.db.write() as conn:
            if not self._insert_run(
                conn, run_id, pipeline_run_id, experiment_id, step, ts, run_fields, params, tags
            ):
                return
            conn.execute(
                insert(t.step_runs).values(
                    run_id=run_id,
                    pipeline_run_id=pipeline_run_id,
                    step=step,
                    cache_key=cache_key,
                    components=components,
                    created_at=ts,
                    attempts=0,
                )
            )

    def _insert_run(
        self,
        conn: Connection,
        run_id: str,
        parent: str,
        experiment_id: int,
        name: str,
        ts: int,
        fields: dict[str, Any],
        params: dict[str, str],
        tags: dict[str, str],
        *,
        status: str = "RUNNING",
        end_time: int | None = None,
    ) -> bool:
        """Insert the child run, its params and tags; False when this step run exists already
        (a repeated request), AlreadyExists when ``run_id`` is another run's."""
        inserted = conn.execute(
            upsert(conn, t.runs)
            .values(
                run_id=run_id,
                experiment_id=experiment_id,
                name=name,
                status=status,
                start_time=ts,
                end_time=end_time,
                parent_run_id=parent,
                heartbeat_at=ts,
                **fields,
            )
            .on_conflict_do_nothing()
        ).rowcount
        if not inserted:
            found = conn.execute(
                select(t.step_runs.c.pipeline_run_id, t.step_runs.c.step).where(
                    t.step_runs.c.run_id == run_id
                )
            ).first()
            if found is None or tuple(found) != (parent, name):
                raise AlreadyExists(
                    f"run {run_id} already exists and is not step {name!r} of pipeline run "
                    f"{parent}",
                    hint="start each step run under a fresh run id (uuid4().hex)",
                )
            return False
        if params:
            conn.execute(
                insert(t.params),
                [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()],
            )
        if tags:
            conn.execute(
                insert(t.tags), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
            )
        return True

    def record_cached_step(
        self,
        *,
        run_id: str,
        pipeline_run_id: str,
        experiment_id: int,
        step: str,
        run_fields: dict[str, Any],
        params: dict[str, str],
        tags: dict[str, str],
        cache_key: str | None,
        components: dict[str, Any] | None,
        cached_from: str,
        outputs: list[dict[str, Any]],
        artifacts: list[tuple[str, str, int]],
        datasets: list[tuple[str, str, str]],
    ) -> None:
        """One transaction: a FINISHED child run that reuses outputs computed by ``cached_from``."""
        ts = now_ms()
        with self.db.write() as conn:
            if not self._insert_run(
                conn,
                run_id,
                pipeline_run_id,
                experiment_id,
                step,
                ts,
                run_fields,
                params,
                tags,
                status="FINISHED",
                end_time=ts,
            ):
                return
            conn.execute(
                insert(t.step_runs).values(
                    run_id=run_id,
                    pipeline_run_id=pipeline_run_id,
                    step=step,
                    cache_key=cache_key,
                    components=components,
                    cached_from=cached_from,
                    outputs=outputs,
                    created_at=ts,
                    attempts=0,
                )
            )
            self._links(conn, run_id, artifacts, datasets, ts)

    def _links(
        self,
        conn: Connection,
        run_id: str,
        artifacts: Iterable[tuple[str, str, int]],
        datasets: Iterable[tuple[str, str, str]],
        ts: int,
    ) -> None:
        arts = [
            {"run_id": run_id, "path": p, "digest": d, "size": s, "created_at": ts}
            for p, d, s in artifacts
        ]
        if arts:
            stmt = upsert(conn, t.artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size},
                ),
                arts,
            )
        links = [
            {
                "run_id": run_id,
                "dataset_digest": d,
                "direction": direction,
                "name": name,
                "context": "pipeline",
                "source": None,
                "created_at": ts,
            }
            for d, direction, name in datasets
        ]
        if links:
            known = set(
                conn.execute(
                    select(t.datasets.c.digest).where(
                        t.datasets.c.digest.in_(sorted({x["dataset_digest"] for x in links}))
                    )
                ).scalars()
            )
            links = [x for x in links if x["dataset_digest"] in known]
        if links:
            conn.execute(upsert(conn, t.run_datasets).on_conflict_do_nothing(), links)

    def save_datasets(self, infos: Iterable[Any]) -> None:
        """Upsert dataset records (digest, kind, shape, schema, profile) for output links."""
        rows = [
            {
                "digest": i.digest,
                "kind": i.kind,
                "rows": i.rows,
                "columns": i.columns,
                "size_bytes": i.size_bytes,
                "schema": i.schema,
                "profile": i.profile,
                "manifest": i.manifest,
                "note": i.note,
                "created_at": now_ms(),
            }
            for i in infos
        ]
        if not rows:
            return
        with self.db.write() as conn:
            conn.execute(upsert(conn, t.datasets).on_conflict_do_nothing(), rows)

    def finish_step_run(
        self,
        *,
        run_id: str,
        status: str,
        error: str | None,
        attempts: int,
        outputs: list[dict[str, Any]] | None,
        artifacts: list[tuple[str, str, int]],
        datasets: list[tuple[str, str, str]],
        cache: dict[str, Any] | None,
        components: dict[str, Any] | None = None,
    ) -> None:
        """One transaction: links, the step row, the cache entry and the run's end status."""
        ts = now_ms()
        with self.db.write() as conn:
            values: dict[str, Any] = {"attempts": attempts, "outputs": outputs}
            if components is not None:
                values["components"] = components
            self._update_step(conn, run_id, values)
            self._links(conn, run_id, artifacts, datasets, ts)
            if cache is not None:
                self._put_cache(conn, run_id=run_id, ts=ts, **cache)
            conn.execute(
                update(t.runs)
                .where(t.runs.c.run_id == run_id)
                .values(status=status, end_time=ts, error=error)
            )

    def update_attempts(self, run_id: str, attempts: int) -> None:
        with self.db.write() as conn:
            self._update_step(conn, run_id, {"attempts": attempts})

    @staticmethod
    def _update_step(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
        done = conn.execute(
            update(t.step_runs).where(t.step_runs.c.run_id == run_id).values(**values)
        ).rowcount
        if not done:
            raise NotFound(
                f"there is no step run {run_id}",
                hint="start it first (PUT /api/pipelines/steps/{run_id})",
            )

    def dataset_reads(self, run_id: str) -> list[dict[str, str]]:
        """Files and folders a step run recorded as inputs itself (``yard.log_input(path)``)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.run_datasets.c.source, t.run_datasets.c.dataset_digest)
                .join(t.datasets, t.datasets.c.digest == t.run_datasets.c.dataset_digest)
                .where(
                    and_(
                        t.run_datasets.c.run_id == run_id,
                        t.run_datasets.c.direction == "input",
                        t.run_datasets.c.source.is_not(None),
                        t.datasets.c.kind.in_(["file", "folder"]),
                    )
                )
            ).all()
        return [{"path": str(p), "digest": str(d)} for p, d in sorted(set(rows))]

    # -- the cache --------------------------------------------------------------------------

    def _put_cache(
        self,
        conn: Connection,
        *,
        run_id: str,
        ts: int,
        key: str,
        step: str,
        outputs: list[dict[str, Any]],
        reads: list[dict[str, str]] | None,
        expires_at: int | None,
        replace: bool,
    ) -> None:
        stmt = upsert(conn, t.step_cache).values(
            cache_key=key,
            step=step,
            run_id=run_id,
            outputs=outputs,
            reads=reads,
            created_at=ts,
            expires_at=expires_at,
        )
        if replace:
            stmt = stmt.on_conflict_do_update(
                index_elements=["cache_key"],
                set_={
                    "run_id": run_id,
                    "outputs": outputs,
                    "reads": reads,
                    "created_at": ts,
                    "expires_at": expires_at,
                    "step": step,
                },
            )
        else:
            stmt = stmt.on_conflict_do_nothing()
        conn.execute(stmt)

    def get_cache(self, key: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = (
                conn.execute(select(t.step_cache).where(t.step_cache.c.cache_key == key))
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    def previous_step_run(
        self, pipeline: str, step: str, before: int | None = None
    ) -> dict[str, Any] | None:
        """The newest finished run of ``step`` in a run of ``pipeline`` (for explanations)."""
        with self.db.read() as conn:
            query = (
                select(t.step_runs, t.runs.c.status)
                .join(t.runs, t.runs.c.run_id == t.step_runs.c.run_id)
                .join(t.pipeline_runs, t.pipeline_runs.c.run_id == t.step_runs.c.pipeline_run_id)
                .where(
                    and_(
                        t.pipeline_runs.c.pipeline == pipeline,
                        t.step_runs.c.step == step,
                        t.runs.c.status == "FINISHED",
                    )
                )
                .order_by(desc(t.step_runs.c.created_at))
                .limit(1)
            )
            if before is not None:
                query = query.where(t.step_runs.c.created_at < before)
            row = conn.execute(query).mappings().first()
        return None if row is None else dict(row)
