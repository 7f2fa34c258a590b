"""Pipelines: steps and DAGs with a correct cache key, lineage for every step, resume, and Ray.

``@yard.step`` makes a function a step; ``@yard.pipeline`` makes a function that calls steps a
pipeline, whose calls build a DAG. ``training.run(C=0.5)`` runs it as a tracked run whose child
runs are the steps; outputs travel between steps through the artifact store, and a step whose
cache key — its code closure, params, input digests, files, environment and output spec — was
seen before is served from the shared cache instead of running. Runs can be resumed, explained
(which part of the key changed) and swept over params; executors are ``local`` (a process pool,
or in-process with ``max_workers=0``) and ``ray``.

>>> @step
... def double(x):
...     return 2 * x
>>> @pipeline
... def flow(x: int = 1):
...     double(double(x))
>>> [n.name for n in flow.graph(x=3).nodes]
['double', 'double_2']
"""

from __future__ import annotations

from modelyard.pipelines.closure import code_closure
from modelyard.pipelines.entities import (
    KeyChange,
    OutputRef,
    PipelineDiff,
    PipelinePlan,
    PipelineRun,
    PipelineSummary,
    PlannedStep,
    StepDiff,
    StepRun,
    SweepResult,
    Trial,
)
from modelyard.pipelines.graph import Graph, Node, Pipeline, pipeline
from modelyard.pipelines.outputs import Model
from modelyard.pipelines.runs import (
    explain_runs,
    get_pipeline_run,
    list_pipeline_runs,
    list_pipelines,
    resume_pipeline,
)
from modelyard.pipelines.steps import Step, StepOptions, step
from modelyard.pipelines.svg import pipeline_svg
from modelyard.pipelines.sweeps import Distribution, loguniform, randint, sweep, uniform

__all__ = [
    "Distribution",
    "Graph",
    "KeyChange",
    "Model",
    "Node",
    "OutputRef",
    "Pipeline",
    "PipelineDiff",
    "PipelinePlan",
    "PipelineRun",
    "PipelineSummary",
    "PlannedStep",
    "Step",
    "StepDiff",
    "StepOptions",
    "StepRun",
    "SweepResult",
    "Trial",
    "code_closure",
    "explain_runs",
    "get_pipeline_run",
    "list_pipeline_runs",
    "list_pipelines",
    "loguniform",
    "pipeline",
    "pipeline_svg",
    "randint",
    "resume_pipeline",
    "step",
    "sweep",
    "uniform",
]
