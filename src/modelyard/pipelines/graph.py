"""Pipelines: ``@yard.pipeline`` and the DAG its function builds when traced.

A :class:`Pipeline` wraps a function that calls steps. :meth:`Pipeline.graph` calls it with
the params while a :class:`Tracer` is active, so each step call adds a :class:`Node` (the step,
its plain-value params, and which upstream outputs feed which argument) and returns handles.
The result is a :class:`Graph` in topological order (the call order, which respects every
edge). :meth:`Pipeline.run` hands the graph to the runner (see :mod:`modelyard.pipelines.runner`).

>>> from modelyard.pipelines.steps import step
>>> @step
... def load(n):
...     return list(range(n))
>>> @step
... def total(xs):
...     return sum(xs)
>>> @pipeline
... def flow(n: int = 3):
...     total(load(n))
>>> [node.name for node in flow.graph().nodes], flow.graph().edges
(['load', 'total'], [('load', 'total')])
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal, overload

from modelyard.errors import InvalidArgument
from modelyard.pipelines.closure import module_label
from modelyard.pipelines.steps import OutputHandle, Step, set_tracer

if TYPE_CHECKING:
    from modelyard.pipelines.entities import PipelinePlan, PipelineRun
    from modelyard.tracking.client import TrackingClient

__all__ = ["RESERVED_PARAMS", "Graph", "Node", "Pipeline", "Tracer", "pipeline"]

RESERVED_PARAMS = frozenset(
    {"executor", "max_workers", "force", "dry_run", "experiment", "client", "params"}
)


@dataclass(frozen=True)
class Node:
    """One step call in a pipeline: ``inputs`` maps argument names to ``(node, output)``."""

    name: str
    step: Step
    params: dict[str, Any]
    inputs: dict[str, tuple[str, str]]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def upstream(self) -> list[str]:
        return sorted({node for node, _ in self.inputs.values()})

    def to_dict(self) -> dict[str, Any]:
        func = self.step.func
        return {
            "name": self.name,
            "step": self.step.name,
            "function": f"{module_label(func.__module__)}.{func.__qualname__}",
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "params": sorted(self.params),
            "files": dict(self.files),
            "outputs": list(self.step.options.outputs),
            "options": self.step.options.to_dict(),
        }


@dataclass(frozen=True)
class Graph:
    """The DAG of a pipeline for one set of params, nodes in topological order."""

    pipeline: str
    params: dict[str, Any]
    nodes: tuple[Node, ...]

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(up, node.name) for node in self.nodes for up in node.upstream]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise InvalidArgument(
            f"pipeline {self.pipeline!r} has no step {name!r}",
            hint="its steps are: " + ", ".join(n.name for n in self.nodes),
        )

    def downstream(self, names: Iterable[str]) -> set[str]:
        """``names`` and every step that reads from them, directly or not."""
        out = set(names)
        for node in self.nodes:
            if any(up in out for up in node.upstream):
                out.add(node.name)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "steps": [n.to_dict() for n in self.nodes]}


class Tracer:
    """Collects the nodes of a pipeline while its function runs."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: list[Node] = []
        self._names: set[str] = set()

    def add(self, step: Step, arguments: dict[str, Any]) -> str:
        name = step.name
        n = 2
        while name in self._names:
            name = f"{step.name}_{n}"
            n += 1
        self._names.add(name)
        params: dict[str, Any] = {}
        inputs: dict[str, tuple[str, str]] = {}
        files: dict[str, str] = {}
        declared = set(step.options.inputs)
        for arg, value in arguments.items():
            if isinstance(value, OutputHandle):
                if value._tracer is not self:
                    raise InvalidArgument(
                        f"step {name!r} got an output of another pipeline's step {value.node!r}",
                        hint="pass outputs only between steps of the same pipeline",
                    )
                inputs[arg] = (value.node, value.name)
                continue
            _no_nested_handles(name, arg, value)
            if arg in declared or isinstance(value, PurePath):
                if not isinstance(value, (str, os.PathLike)):
                    raise InvalidArgument(
                        f"input {arg!r} of step {name!r} must be a path, got {value!r}",
                        hint="inputs= names params whose values are paths of files or folders",
                    )
                files[arg] = os.fspath(value)
            params[arg] = value
        self.nodes.append(Node(name, step, params, inputs, files))
        return name


def _no_nested_handles(step: str, arg: str, value: Any, depth: int = 0) -> None:
    if depth > 3:
        return
    items: Iterable[Any] = ()
    if isinstance(value, (list, tuple, set)):
        items = value
    elif isinstance(value, dict):
        items = value.values()
    for item in items:
        if isinstance(item, OutputHandle):
            raise InvalidArgument(
                f"argument {arg!r} of step {step!r} holds the output of step {item.node!r} "
                "inside a container",
                hint="pass step outputs as separate arguments, e.g. merge(a, b) rather than "
                "merge([a, b])",
            )
        _no_nested_handles(step, arg, item, depth + 1)


class Pipeline:
    """A function that wires steps together, made a pipeline by :func:`pipeline`."""

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name
        self.signature = inspect.signature(func)
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    @property
    def source(self) -> str | None:
        """Where to find this pipeline again: ``module:name`` or ``/path/file.py:name``."""
        module = sys.modules.get(self.func.__module__)
        path = getattr(module, "__file__", None)
        attr = self.func.__qualname__
        if "<locals>" in attr:
            return None
        if self.func.__module__ == "__main__" or getattr(module, "__modelyard_file__", False):
            return f"{os.path.abspath(path)}:{attr}" if path else None
        return f"{self.func.__module__}:{attr}"

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The full params of a run: ``params`` over the function's defaults."""
        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            accepted = ", ".join(self.signature.parameters) or "none"
            raise InvalidArgument(
                f"pipeline {self.name!r} cannot take params {sorted(params)}: {exc}",
                hint=f"its params are: {accepted}",
            ) from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def graph(self, **params: Any) -> Graph:
        """Trace the pipeline with ``params`` (over the defaults) into its :class:`Graph`."""
        full = self.bind(params)
        tracer = Tracer(self.name)
        set_tracer(tracer)
        try:
            self.func(**full)
        finally:
            set_tracer(None)
        if not tracer.nodes:
            raise InvalidArgument(
                f"pipeline {self.name!r} calls no steps",
                hint="decorate the functions it calls with @yard.step",
            )
        return Graph(self.name, full, tuple(tracer.nodes))

    @overload
    def run(
        self,
        *,
        dry_run: Literal[False] = False,
        executor: str = "local",
        max_workers: int | None = None,
        force: Iterable[str] = (),
        experiment: str | None = None,
        client: TrackingClient | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> PipelineRun: ...

    @overload
    def run(
        self,
        *,
        dry_run: Literal[True],
        executor: str = "local",
        max_workers: int | None = None,
        force: Iterable[str] = (),
        experiment: str | None = None,
        client: TrackingClient | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> PipelinePlan: ...

    def run(
        self,
        *,
        dry_run: bool = False,
        executor: str = "local",
        max_workers: int | None = None,
        force: Iterable[str] = (),
        experiment: str | None = None,
        client: TrackingClient | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> PipelineRun | PipelinePlan:
        """Run the pipeline with ``**kwargs`` as params; returns a :class:`PipelineRun`.

        ``executor`` is ``"local"`` (a process pool of ``max_workers`` workers; ``0`` runs every
        step in this process), ``"inline"`` (same as ``max_workers=0``) or ``"ray"``.
        ``force`` names steps to run even when cached (their downstream steps then see new
        inputs only if the outputs changed). ``dry_run=True`` runs nothing and returns a
        :class:`PipelinePlan` saying, step by step, whether the cache would serve it and why
        not. ``params`` (a dict) may hold the params instead of keywords.

        >>> result = training.run(C=0.5)                     # doctest: +SKIP
        >>> result.status, result.steps["train"].cached      # doctest: +SKIP
        ('FINISHED', False)
        """
        from modelyard.pipelines.plans import plan_pipeline
        from modelyard.pipelines.runner import run_graphs

        all_params = {**(params or {}), **kwargs}
        graph = self.graph(**all_params)
        if dry_run:
            return plan_pipeline(self, graph, force=force, client=client)
        runs = run_graphs(
            [(self, graph, None)],
            executor=executor,
            max_workers=max_workers,
            force=force,
            experiment=experiment,
            client=client,
        )
        return runs[0]


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function that calls steps a pipeline (``@yard.pipeline``, or with ``name=``).

    Its params are the pipeline's params; calling steps inside it builds the DAG. Params
    named like an option of ``run`` (``executor``, ``max_workers``, ``force``, ``dry_run``,
    ``experiment``, ``client``, ``params``) are refused.

    >>> @pipeline
    ... def nothing():
    ...     pass
    >>> nothing.name
    'nothing'
    """

    def wrap(f: Callable[..., Any]) -> Pipeline:
        if not callable(f) or not hasattr(f, "__code__"):
            raise InvalidArgument(
                f"@yard.pipeline decorates a Python function, got {type(f).__qualname__}",
                hint="put @yard.pipeline right above a def",
            )
        clash = RESERVED_PARAMS.intersection(inspect.signature(f).parameters)
        if clash:
            raise InvalidArgument(
                f"pipeline {f.__name__!r} has params named {sorted(clash)}, which run() uses "
                "for its own options",
                hint="rename them, e.g. 'executor' -> 'executor_name'",
            )
        return Pipeline(f, name or f.__name__)

    if func is not None:
        return wrap(func)
    return wrap
