"""The model registry: named models, numbered versions, aliases, lineage, diff and reproduce.

A model logged by a run becomes version 1, 2, 3… of a registered model with
:func:`register_model`; aliases such as ``champion`` point at one version each and every move is
recorded; ``models:/churn/3``, ``models:/churn@champion`` and ``models:/churn/latest`` name a
version everywhere a model is taken (:func:`resolve_model_uri`). :func:`lineage` says which
data, code and environment made a version, :func:`lineage_of_dataset` which versions a dataset
made, :func:`diff_model_versions` what changed between two versions, and :func:`reproduce`
reruns a version's recipe and checks its metrics.

>>> import modelyard as yard
>>> v = yard.register_model("runs:/<run_id>/model", "churn")    # doctest: +SKIP
>>> yard.set_alias("churn", "champion", v.version)             # doctest: +SKIP
>>> yard.lineage("models:/churn@champion").to_dict()           # doctest: +SKIP
"""

from __future__ import annotations

from modelyard.registry.diff import (
    CodeDiff,
    ColumnShift,
    DatasetDiff,
    EnvironmentDiff,
    MetricDelta,
    ModelDiff,
    ValueChange,
    diff_model_versions,
)
from modelyard.registry.entities import (
    ModelAlias,
    ModelEvent,
    ModelVersion,
    RegisteredModel,
)
from modelyard.registry.lineage import (
    DatasetLineage,
    DatasetUse,
    LineageEdge,
    LineageGraph,
    LineageNode,
    lineage,
    lineage_of_dataset,
)
from modelyard.registry.reproduce import DataCheck, MetricCheck, ReproduceResult, reproduce
from modelyard.registry.uris import ModelUri, parse_model_uri
from modelyard.registry.versions import (
    archive_model_version,
    delete_alias,
    get_model_version,
    get_model_version_by_alias,
    get_registered_model,
    list_model_events,
    list_model_versions,
    list_registered_models,
    register_model,
    resolve_model_uri,
    resolve_model_version,
    restore_model_version,
    set_alias,
    update_model_version,
    update_registered_model,
)

__all__ = [
    "CodeDiff",
    "ColumnShift",
    "DataCheck",
    "DatasetDiff",
    "DatasetLineage",
    "DatasetUse",
    "EnvironmentDiff",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "MetricCheck",
    "MetricDelta",
    "ModelAlias",
    "ModelDiff",
    "ModelEvent",
    "ModelUri",
    "ModelVersion",
    "RegisteredModel",
    "ReproduceResult",
    "ValueChange",
    "archive_model_version",
    "delete_alias",
    "diff_model_versions",
    "get_model_version",
    "get_model_version_by_alias",
    "get_registered_model",
    "lineage",
    "lineage_of_dataset",
    "list_model_events",
    "list_model_versions",
    "list_registered_models",
    "parse_model_uri",
    "register_model",
    "reproduce",
    "resolve_model_uri",
    "resolve_model_version",
    "restore_model_version",
    "set_alias",
    "update_model_version",
    "update_registered_model",
]
