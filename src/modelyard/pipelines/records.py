"""The tracked records of a pipeline run: where they live, how a run starts and how it ends.

Pipeline records sit in the same database as the runs of the tracking client, or behind the
same server in remote mode (:func:`pipeline_store`). :func:`start_pipeline_run` creates the
tracked parent run of one traced graph (tags, params as tracking stores them, the full params
as an artifact when they are not plain values, the pipeline record with its graph);
:func:`finish_pipeline_run` copies the step metrics onto it (a cached step inherits those of the
run it was cached from) and ends it. :func:`run_fields` are the fields every step run copies
from its pipeline run.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from modelyard.errors import ConfigError, InvalidArgument
from modelyard.pipelines.keys import canonical
from modelyard.tracking.entities import FAILED, FINISHED

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Graph, Pipeline
    from modelyard.pipelines.scheduler import ScheduledRun
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.tracking.client import TrackingClient

__all__ = [
    "PARAMS_ARTIFACT",
    "finish_pipeline_run",
    "pipeline_store",
    "resolve_client",
    "run_fields",
    "safe_params",
    "start_pipeline_run",
]

PARAMS_ARTIFACT = "_modelyard/pipeline_params.pkl"


def resolve_client(client: TrackingClient | None) -> TrackingClient:
    """``client``, or the client of the module-level SDK when it is None."""
    if client is not None:
        return client
    from modelyard.tracking.fluent import get_client

    return get_client()


def pipeline_store(client: TrackingClient) -> SqlPipelineStore:
    """The pipeline records behind ``client``: the same database as its runs, or the server's.

    In remote mode (the client's store talks to ``modelyard server``) this is a
    :class:`~modelyard.pipelines.remote.RemotePipelineStore` with the same methods, each one
    request to the server's pipeline routes.
    """
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.store.database import Database
    from modelyard.tracking.remote_session import RemoteSession

    store = client.store
    session = getattr(store, "session", None)
    if isinstance(session, RemoteSession):
        from modelyard.pipelines.remote import RemotePipelineStore

        # Same methods, same rows, same errors: over HTTP to the server's pipeline routes.
        return cast("SqlPipelineStore", RemotePipelineStore(session))
    db = getattr(store, "db", None)
    if not isinstance(db, Database):
        raise ConfigError(
            f"pipelines need a metadata store or a Modelyard server, but this client's store is "
            f"a {type(store).__name__}",
            hint="set MODELYARD_DATABASE_URL to a database, or MODELYARD_TRACKING_URI to a "
            "Modelyard server",
        )
    return SqlPipelineStore(db)


def safe_params(values: Mapping[str, Any]) -> dict[str, str]:
    """Params as tracking stores them; values that do not fit are shortened, bad keys skipped."""
    import json

    from modelyard.tracking import validation as v

    out = {}
    for key, value in values.items():
        try:
            key = v.validate_key(key, "param")
        except InvalidArgument:
            continue
        text = value if isinstance(value, str) else json.dumps(canonical(value), sort_keys=True)
        if len(text) > v.MAX_PARAM_VALUE_LENGTH:
            text = text[: v.MAX_PARAM_VALUE_LENGTH - 3] + "..."
        out[key] = text
    return out


def run_fields(client: TrackingClient, run_id: str) -> tuple[int, dict[str, Any]]:
    """The experiment of pipeline run ``run_id`` and the fields its step runs copy."""
    run = client.get_run(run_id)
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = ""
    fields = {
        "user": user,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "entry_point": run.entry_point,
        "code": run.code,
        "environment_digest": run.environment_digest,
    }
    return run.experiment_id, fields


def start_pipeline_run(
    client: TrackingClient,
    store: SqlPipelineStore,
    pipeline: Pipeline,
    graph: Graph,
    *,
    experiment: str | None,
    executor: str,
    parent_run_id: str | None,
    resumed_from: str | None,
    tags: Mapping[str, Any] | None,
) -> str:
    """Create the tracked run of ``pipeline`` for ``graph``; returns its run id."""
    all_tags = {"modelyard.pipeline": pipeline.name, **(tags or {})}
    if resumed_from:
        all_tags["modelyard.pipeline.resumed_from"] = resumed_from
    run_id = client.create_run(
        experiment, name=pipeline.name, parent_run_id=parent_run_id, tags=all_tags
    )
    try:
        params = {k: canonical(v) for k, v in graph.params.items()}
        if params != graph.params:
            import cloudpickle  # type: ignore[import-untyped]

            client.log_bytes(run_id, cloudpickle.dumps(graph.params), PARAMS_ARTIFACT)
        client.log_params(run_id, safe_params(graph.params))
        store.create_pipeline_run(
            run_id,
            pipeline=pipeline.name,
            source=pipeline.source,
            params=params,
            graph=graph.to_dict(),
            executor=executor,
            resumed_from=resumed_from,
        )
    except BaseException as exc:
        client.end_run(run_id, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    return run_id


def finish_pipeline_run(client: TrackingClient, store: SqlPipelineStore, run: ScheduledRun) -> None:
    """Log the metrics of the steps of ``run`` on its pipeline run, then end it."""
    ids = [s.run_id for s in run.steps.values() if s.run_id]
    sources = [s.cached_from for s in run.steps.values() if s.cached_from]
    metrics = store.latest_metrics(ids + sources)
    merged: dict[str, float] = {}
    for step in run.steps.values():
        if step.run_id is None:
            continue
        own = metrics.get(step.run_id, {})
        if step.cached_from and not own:
            own = metrics.get(step.cached_from, {})
            if own:
                client.log_metrics(step.run_id, own)
        merged.update(own)
    if merged:
        client.log_metrics(run.run_id, merged)
    status = FAILED if run.failed else FINISHED
    client.end_run(run.run_id, status, error=run.failed)
