"""Registry operations on a SQL metadata store (SQLite or PostgreSQL).

:class:`SqlRegistryStore` owns every SQL statement of the registry: registered models, their
versions and aliases, the model's history in ``events``, and the lineage look-ups (which runs
read or wrote a dataset digest, which versions came from which runs). The SDK functions in
:mod:`modelyard.registry` call it through ``client.store.db``, so a remote store can take its
place later with the same inputs and outputs.

Version numbers never repeat, even when processes register the same name at once: the version
is chosen inside the write transaction that inserts it. On SQLite that transaction holds the
database write lock from ``BEGIN IMMEDIATE``; on PostgreSQL the ``registered_models`` row is
locked with ``SELECT ... FOR UPDATE`` first, and a unique violation (two transactions that
both created the model row) is retried.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Text, cast, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from modelyard.errors import InvalidArgument, InvalidState, NotFound
from modelyard.registry.entities import (
    ARCHIVED,
    READY,
    ModelAlias,
    ModelEvent,
    ModelVersion,
    RegisteredModel,
)
from modelyard.store import tables as t
from modelyard.store.database import Database, now_ms, upsert

__all__ = ["SUBJECT_TYPE", "SqlRegistryStore"]

#: ``events.subject_type`` of everything the registry records (``subject_id`` is the model name).
SUBJECT_TYPE = "model"
_RETRIES = 5


def _versions_hint(name: str) -> str:
    return f"list them with: modelyard models versions {name}"


def _plain_metrics(metrics: dict[str, float]) -> dict[str, Any]:
    """JSON cannot hold NaN or infinities: store them as strings, read them back as floats."""
    return {k: (v if math.isfinite(v) else str(v)) for k, v in metrics.items()}


def _float_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (metrics or {}).items()}


class SqlRegistryStore:
    """The model registry on a :class:`~modelyard.store.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- registered models ------------------------------------------------------------------

    def _require_model(self, conn: Connection, name: str, *, lock: bool = False) -> Any:
        query = select(t.registered_models).where(t.registered_models.c.name == name)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            names = list(
                conn.execute(
                    select(t.registered_models.c.name)
                    .order_by(t.registered_models.c.name)
                    .limit(10)
                ).scalars()
            )
            raise NotFound(
                f"registered model {name!r} does not exist"
                + (f" (there are: {', '.join(names)})" if names else " (there are none yet)"),
                hint="register one with yard.register_model('runs:/<run_id>/model', "
                f"{name!r}); list them with: modelyard models list",
            )
        return row

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = self._require_model(conn, name)
            return self._models(conn, [row])[0]

    def list_registered_models(self) -> list[RegisteredModel]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.registered_models).order_by(t.registered_models.c.name)
            ).all()
            return self._models(conn, rows)

    def _models(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        names = [row.name for row in rows]
        if not names:
            return []
        mv = t.model_versions.c
        stats = {
            name: (latest, count)
            for name, latest, count in conn.execute(
                select(mv.name, func.max(mv.version), func.count())
                .where(mv.name.in_(names))
                .group_by(mv.name)
            )
        }
        aliases: dict[str, dict[str, int]] = {name: {} for name in names}
        ma = t.model_aliases.c
        for name, alias, version in conn.execute(
            select(ma.name, ma.alias, ma.version).where(ma.name.in_(names)).order_by(ma.alias)
        ):
            aliases[name][alias] = version
        out = []
        for row in rows:
            latest, count = stats.get(row.name, (None, 0))
            out.append(
                RegisteredModel(
                    name=row.name,
                    description=row.description,
                    tags=dict(row.tags or {}),
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                    created_by=row.created_by,
                    latest_version=latest,
                    versions=int(count),
                    aliases=aliases[row.name],
                )
            )
        return out

    def update_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        """Set the description and/or merge tags (a tag set to ``""`` is removed)."""
        with self.db.write() as conn:
            row = self._require_model(conn, name, lock=True)
            values: dict[str, Any] = {"updated_at": now_ms()}
            if description is not None:
                values["description"] = description
            if tags is not None:
                merged = {**(row.tags or {}), **tags}
                values["tags"] = {k: v for k, v in merged.items() if v != ""}
            conn.execute(
                update(t.registered_models)
                .where(t.registered_models.c.name == name)
                .values(**values)
            )
            changed = {"description": description, "tags": tags}
            payload = {k: v for k, v in changed.items() if v is not None}
            self._event(conn, "registered_model.updated", name, actor, payload)
        return self.get_registered_model(name)

    # -- versions ---------------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        *,
        run_id: str,
        artifact_path: str,
        model_digest: str | None,
        flavor: str | None,
        signature: dict[str, Any] | None,
        metrics: dict[str, float],
        params: dict[str, str],
        status: str = READY,
        status_message: str | None = None,
        description: str | None = None,
        actor: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Insert the next version of ``name`` (creating the registered model if needed).

        ``request_id`` makes a retry harmless: it is kept in the registration's event, and when
        ``name`` already has a version registered under it, that version is returned instead.
        """
        for attempt in range(_RETRIES):
            try:
                version = self._insert_version(
                    name,
                    run_id=run_id,
                    artifact_path=artifact_path,
                    model_digest=model_digest,
                    flavor=flavor,
                    signature=signature,
                    metrics=metrics,
                    params=params,
                    status=status,
                    status_message=status_message,
                    description=description,
                    actor=actor,
                    request_id=request_id,
                )
                break
            except SqlIntegrityError:
                # Another transaction inserted the model row or the same version first; the
                # next attempt sees its commit and picks the next number.
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        return self.get_model_version(name, version)

    def _insert_version(
        self, name: str, *, run_id: str, actor: str, request_id: str | None, **values: Any
    ) -> int:
        ts = now_ms()
        with self.db.write() as conn:
            run = conn.execute(
                select(t.runs.c.run_id, t.runs.c.lifecycle_stage).where(t.runs.c.run_id == run_id)
            ).first()
            if run is None:
                raise NotFound(
                    f"run {run_id!r} does not exist",
                    hint="list runs with: modelyard runs list",
                )
            if run.lifecycle_stage != "active":
                raise InvalidState(
                    f"run {run_id} is deleted; a model cannot be registered from it",
                    hint="register a model logged by an active run",
                )
            created = conn.execute(
                upsert(conn, t.registered_models)
                .values(name=name, tags={}, created_at=ts, updated_at=ts, created_by=actor)
                .on_conflict_do_nothing()
                .returning(t.registered_models.c.name)
            ).first()
            self._require_model(conn, name, lock=True)
            if request_id is not None:  # under the model's lock: a concurrent retry waits here
                done = self._registered_under(conn, name, request_id)
                if done is not None:
                    return done
            mv = t.model_versions.c
            latest = conn.execute(select(func.max(mv.version)).where(mv.name == name)).scalar()
            version = int(latest or 0) + 1
            values["metrics"] = _plain_metrics(values["metrics"])
            conn.execute(
                insert(t.model_versions).values(
                    name=name,
                    version=version,
                    run_id=run_id,
                    created_at=ts,
                    updated_at=ts,
                    created_by=actor,
                    **values,
                )
            )
            conn.execute(
                update(t.registered_models)
                .where(t.registered_models.c.name == name)
                .values(updated_at=ts)
            )
            if created is not None:
                self._event(conn, "registered_model.created", name, actor, {}, ts)
            self._event(
                conn,
                "model_version.created",
                name,
                actor,
                {
                    "version": version,
                    "run_id": run_id,
                    "artifact_path": values["artifact_path"],
                    "model_digest": values["model_digest"],
                    "status": values["status"],
                }
                | ({"request_id": request_id} if request_id is not None else {}),
                ts,
            )
        return version

    def _registered_under(self, conn: Connection, name: str, request_id: str) -> int | None:
        """The version of ``name`` a registration with ``request_id`` created, if any."""
        e = t.events.c
        rows = conn.execute(
            select(e.payload).where(
                e.subject_type == SUBJECT_TYPE,
                e.subject_id == name,
                e.kind == "model_version.created",
                cast(e.payload, Text).like(f"%{request_id}%"),
            )
        ).scalars()
        for payload in rows:
            if isinstance(payload, dict) and payload.get("request_id") == request_id:
                return int(payload["version"])
        return None

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self.db.read() as conn:
            found = self._versions(conn, name, [version])
            if not found:
                self._require_model(conn, name)
                latest = conn.execute(
                    select(func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.name == name
                    )
                ).scalar()
                raise NotFound(
                    f"model {name!r} has no version {version}"
                    + (f" (latest is {latest})" if latest else " (it has no versions yet)"),
                    hint=_versions_hint(name),
                )
        return found[0]

    def list_model_versions(
        self, name: str, statuses: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Versions of ``name``, oldest first (only those with one of ``statuses`` if given)."""
        with self.db.read() as conn:
            self._require_model(conn, name)
            return self._versions(conn, name, None, statuses)

    def latest_version(self, name: str, statuses: Sequence[str] = (READY,)) -> ModelVersion | None:
        mv = t.model_versions.c
        with self.db.read() as conn:
            self._require_model(conn, name)
            version = conn.execute(
                select(func.max(mv.version)).where(mv.name == name, mv.status.in_(statuses))
            ).scalar()
            if version is None:
                return None
            return self._versions(conn, name, [int(version)])[0]

    def _versions(
        self,
        conn: Connection,
        name: str,
        versions: Sequence[int] | None,
        statuses: Sequence[str] | None = None,
    ) -> list[ModelVersion]:
        mv = t.model_versions.c
        query = select(t.model_versions).where(mv.name == name)
        if versions is not None:
            query = query.where(mv.version.in_(list(versions)))
        if statuses:
            query = query.where(mv.status.in_(list(statuses)))
        rows = conn.execute(query.order_by(mv.version)).all()
        return self._hydrate_versions(conn, rows)

    def _hydrate_versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        if not rows:
            return []
        ma = t.model_aliases.c
        keys = {(row.name, row.version) for row in rows}
        aliases: dict[tuple[str, int], list[str]] = {}
        names = sorted({row.name for row in rows})
        for name, alias, version in conn.execute(
            select(ma.name, ma.alias, ma.version).where(ma.name.in_(names)).order_by(ma.alias)
        ):
            if (name, version) in keys:
                aliases.setdefault((name, version), []).append(alias)
        out = []
        for row in rows:
            data = row._asdict()
            data["metrics"] = _float_metrics(data["metrics"])
            data["params"] = dict(data["params"] or {})
            data["aliases"] = tuple(aliases.get((row.name, row.version), ()))
            out.append(ModelVersion(**data))
        return out

    def update_model_version(
        self, name: str, version: int, *, description: str | None, actor: str = ""
    ) -> ModelVersion:
        with self.db.write() as conn:
            self._require_version(conn, name, version)
            conn.execute(
                update(t.model_versions)
                .where(t.model_versions.c.name == name, t.model_versions.c.version == version)
                .values(description=description, updated_at=now_ms())
            )
            self._event(
                conn,
                "model_version.updated",
                name,
                actor,
                {"version": version, "description": description},
            )
        return self.get_model_version(name, version)

    def set_version_status(
        self, name: str, version: int, status: str, *, message: str | None, actor: str = ""
    ) -> ModelVersion:
        """Archive (or restore to ready) a version; archiving refuses while aliases point at it."""
        with self.db.write() as conn:
            row = self._require_version(conn, name, version)
            if status == ARCHIVED:
                ma = t.model_aliases.c
                aliases = list(
                    conn.execute(
                        select(ma.alias).where(ma.name == name, ma.version == version)
                    ).scalars()
                )
                if aliases:
                    shown = ", ".join(repr(a) for a in sorted(aliases))
                    raise InvalidState(
                        f"version {version} of model {name!r} is pointed at by alias(es) "
                        f"{shown}; archiving it would leave them pointing at an archived model",
                        hint=f"move them first: modelyard models alias {name} "
                        f"{sorted(aliases)[0]} <other version>",
                    )
            if row.status != status:
                conn.execute(
                    update(t.model_versions)
                    .where(t.model_versions.c.name == name, t.model_versions.c.version == version)
                    .values(status=status, status_message=message, updated_at=now_ms())
                )
                kind = "model_version.archived" if status == ARCHIVED else "model_version.status"
                self._event(
                    conn,
                    kind,
                    name,
                    actor,
                    {"version": version, "from": row.status, "to": status, "message": message},
                )
        return self.get_model_version(name, version)

    def record_reproduce(
        self, name: str, version: int, verdict: dict[str, Any], *, actor: str = ""
    ) -> None:
        """Store the verdict of a reproduce on the version and append it to the history."""
        with self.db.write() as conn:
            self._require_version(conn, name, version)
            conn.execute(
                update(t.model_versions)
                .where(t.model_versions.c.name == name, t.model_versions.c.version == version)
                .values(reproduce=verdict, updated_at=now_ms())
            )
            self._event(
                conn,
                "model_version.reproduced",
                name,
                actor,
                {
                    "version": version,
                    "status": verdict.get("status"),
                    "details": verdict.get("details"),
                    "new_run_id": verdict.get("new_run_id"),
                },
            )

    def _require_version(self, conn: Connection, name: str, version: int) -> Any:
        mv = t.model_versions.c
        row = conn.execute(
            select(mv.name, mv.version, mv.status).where(mv.name == name, mv.version == version)
        ).first()
        if row is None:
            self._require_model(conn, name)
            latest = conn.execute(select(func.max(mv.version)).where(mv.name == name)).scalar()
            raise NotFound(
                f"model {name!r} has no version {version}"
                + (f" (latest is {latest})" if latest else " (it has no versions yet)"),
                hint=_versions_hint(name),
            )
        return row

    # -- aliases ----------------------------------------------------------------------------

    def get_alias(self, name: str, alias: str) -> int:
        """The version ``alias`` points at; NotFound (listing the aliases) when it is unset."""
        ma = t.model_aliases.c
        with self.db.read() as conn:
            self._require_model(conn, name)
            rows = dict(
                conn.execute(
                    select(ma.alias, ma.version).where(ma.name == name).order_by(ma.alias)
                ).all()
            )
        if alias in rows:
            return int(rows[alias])
        shown = ", ".join(f"{a} → {v}" for a, v in rows.items())
        raise NotFound(
            f"model {name!r} has no alias {alias!r}"
            + (f" (its aliases: {shown})" if shown else " (it has no aliases)"),
            hint=f"set it with: modelyard models alias {name} {alias} <version>",
        )

    def set_alias(self, name: str, alias: str, version: int, *, actor: str = "") -> ModelAlias:
        ts = now_ms()
        ma = t.model_aliases.c
        with self.db.write() as conn:
            row = self._require_version(conn, name, version)
            if row.status != READY:
                raise InvalidState(
                    f"version {version} of model {name!r} is {row.status}; an alias can only "
                    "point at a ready version",
                    hint=_versions_hint(name),
                )
            previous = conn.execute(
                select(ma.version).where(ma.name == name, ma.alias == alias)
            ).scalar()
            if previous == version:
                found = conn.execute(
                    select(ma.updated_at, ma.updated_by).where(ma.name == name, ma.alias == alias)
                ).one()
                return ModelAlias(name, alias, version, previous, found[0], found[1])
            stmt = upsert(conn, t.model_aliases)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name", "alias"],
                set_={
                    "version": stmt.excluded.version,
                    "updated_at": stmt.excluded.updated_at,
                    "updated_by": stmt.excluded.updated_by,
                },
            )
            conn.execute(
                stmt.values(
                    name=name, alias=alias, version=version, updated_at=ts, updated_by=actor
                )
            )
            self._event(
                conn,
                "alias.set",
                name,
                actor,
                {"alias": alias, "from": previous, "to": version},
                ts,
            )
        return ModelAlias(name, alias, version, previous, ts, actor)

    def delete_alias(self, name: str, alias: str, *, actor: str = "") -> ModelAlias:
        ts = now_ms()
        ma = t.model_aliases.c
        with self.db.write() as conn:
            self._require_model(conn, name)
            previous = conn.execute(
                select(ma.version).where(ma.name == name, ma.alias == alias)
            ).scalar()
            if previous is None:
                raise NotFound(
                    f"model {name!r} has no alias {alias!r} to delete",
                    hint=f"see its aliases with: modelyard models show {name}",
                )
            conn.execute(t.model_aliases.delete().where(ma.name == name, ma.alias == alias))
            self._event(
                conn,
                "alias.deleted",
                name,
                actor,
                {"alias": alias, "from": previous, "to": None},
                ts,
            )
        return ModelAlias(name, alias, None, int(previous), ts, actor)

    # -- history ----------------------------------------------------------------------------

    def _event(
        self,
        conn: Connection,
        kind: str,
        name: str,
        actor: str,
        payload: dict[str, Any],
        ts: int | None = None,
    ) -> None:
        conn.execute(
            insert(t.events).values(
                time=ts or now_ms(),
                kind=kind,
                subject_type=SUBJECT_TYPE,
                subject_id=name,
                actor=actor,
                payload=payload,
            )
        )

    def list_events(self, name: str, limit: int = 1000) -> list[ModelEvent]:
        """The model's history, oldest first (the newest ``limit`` entries)."""
        e = t.events.c
        with self.db.read() as conn:
            self._require_model(conn, name)
            rows = conn.execute(
                select(t.events)
                .where(e.subject_type == SUBJECT_TYPE, e.subject_id == name)
                .order_by(e.time.desc(), e.event_id.desc())
                .limit(limit)
            ).all()
        return [ModelEvent(**row._asdict()) for row in reversed(rows)]

    # -- lineage look-ups -------------------------------------------------------------------

    def find_datasets(self, prefix: str) -> list[str]:
        """Dataset digests starting with ``prefix`` (at most 10)."""
        ds = t.datasets.c
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            raise InvalidArgument(
                f"dataset digest {prefix!r} is not hexadecimal",
                hint="pass the digest (or its first 8+ characters) shown by modelyard runs show",
            )
        with self.db.read() as conn:
            if len(prefix) == 64:
                query = select(ds.digest).where(ds.digest == prefix)
            else:
                query = select(ds.digest).where(ds.digest.like(prefix + "%")).limit(10)
            return list(conn.execute(query.order_by(ds.digest)).scalars())

    def run_datasets(
        self, digests: Iterable[str], direction: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows of ``run_datasets`` (with the run's name, experiment, status) for ``digests``."""
        rd, r = t.run_datasets.c, t.runs.c
        digests = sorted(set(digests))
        if not digests:
            return []
        query = (
            select(
                rd.run_id,
                rd.dataset_digest.label("digest"),
                rd.direction,
                rd.name,
                rd.context,
                rd.source,
                r.name.label("run_name"),
                r.experiment_id,
                r.status,
                r.start_time,
            )
            .join(t.runs, r.run_id == rd.run_id)
            .where(rd.dataset_digest.in_(digests), r.lifecycle_stage == "active")
        )
        if direction is not None:
            query = query.where(rd.direction == direction)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(r.start_time, rd.id)).all()
        return [row._asdict() for row in rows]

    def datasets_of_runs(
        self, run_ids: Iterable[str], direction: str | None = None
    ) -> list[dict[str, Any]]:
        """``(run_id, digest, direction, name, context)`` rows of the datasets of ``run_ids``."""
        rd = t.run_datasets.c
        ids = sorted(set(run_ids))
        if not ids:
            return []
        query = select(
            rd.run_id, rd.dataset_digest.label("digest"), rd.direction, rd.name, rd.context
        ).where(rd.run_id.in_(ids))
        if direction is not None:
            query = query.where(rd.direction == direction)
        with self.db.read() as conn:
            return [row._asdict() for row in conn.execute(query.order_by(rd.id))]

    def versions_of_runs(self, run_ids: Iterable[str]) -> list[ModelVersion]:
        """Every model version registered from one of ``run_ids``."""
        ids = sorted(set(run_ids))
        if not ids:
            return []
        mv = t.model_versions.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.model_versions).where(mv.run_id.in_(ids)).order_by(mv.name, mv.version)
            ).all()
            return self._hydrate_versions(conn, rows)

    def dataset_rows(self, digests: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``datasets`` rows (without manifests) by digest."""
        ds = t.datasets.c
        digests = sorted(set(digests))
        if not digests:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(ds.digest, ds.kind, ds.rows, ds.columns, ds.size_bytes, ds.note).where(
                    ds.digest.in_(digests)
                )
            ).all()
        return {row.digest: row._asdict() for row in rows}

    def find_runs_by_tag(self, key: str, value: str) -> list[str]:
        """Ids of active runs whose tag ``key`` is ``value``, oldest first."""
        tg, r = t.tags.c, t.runs.c
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(r.run_id)
                    .join(t.tags, tg.run_id == r.run_id)
                    .where(tg.key == key, tg.value == value, r.lifecycle_stage == "active")
                    .order_by(r.start_time)
                ).scalars()
            )

    def experiment_name(self, experiment_id: int) -> str | None:
        with self.db.read() as conn:
            return conn.execute(
                select(t.experiments.c.name).where(t.experiments.c.experiment_id == experiment_id)
            ).scalar()
