"""Modelyard: MLOps from a notebook to full automation, with data, model and code linked.

Tracking in one line, no server needed::

    import modelyard as yard

    yard.set_experiment("churn")
    with yard.start_run(name="baseline"):
        yard.log_params({"C": 1.0})
        yard.log_input(train_df, name="train", context="training")
        yard.log_metric("loss", 0.25, step=1)

Everything is stored in ``.modelyard/`` at the project root (SQLite + a local folder) unless
``MODELYARD_DATABASE_URL`` / ``MODELYARD_ARTIFACT_URL`` say otherwise. Heavy libraries are
imported only when a function needs them, so ``import modelyard`` stays fast.
"""

from __future__ import annotations

from modelyard.errors import (
    AlreadyExists,
    BackendError,
    ConfigError,
    IntegrityError,
    InvalidArgument,
    InvalidState,
    ModelyardError,
    NotFound,
    SchemaOutdated,
    StoreError,
    UserError,
)
from modelyard.settings import Settings
from modelyard.tracking.client import TrackingClient
from modelyard.tracking.entities import (
    Artifact,
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunList,
)
from modelyard.tracking.fluent import (
    ActiveRun,
    active_run,
    configure,
    end_run,
    flush,
    get_client,
    get_metric_history,
    get_run,
    list_experiments,
    log_artifact,
    log_artifacts,
    log_dict,
    log_input,
    log_metric,
    log_metrics,
    log_output,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "Artifact",
    "BackendError",
    "ConfigError",
    "DatasetInput",
    "Experiment",
    "IntegrityError",
    "InvalidArgument",
    "InvalidState",
    "Metric",
    "ModelyardError",
    "NotFound",
    "Run",
    "RunList",
    "SchemaOutdated",
    "Settings",
    "StoreError",
    "TrackingClient",
    "UserError",
    "__version__",
    "active_run",
    "configure",
    "end_run",
    "flush",
    "get_client",
    "get_metric_history",
    "get_run",
    "list_experiments",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_output",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]
