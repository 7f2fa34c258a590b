"""Steps: ``@yard.step`` and the lazy output handles steps return inside a pipeline.

A :class:`Step` wraps a function with its options — retries and backoff, a timeout, whether it
may be served from the cache and for how long, the resources it needs on Ray, the names of its
outputs. Called outside a pipeline it is the plain function. Called while a pipeline is being
traced it runs nothing: it records a node in the graph and returns an :class:`OutputHandle`
(or a tuple of them, one per name in ``outputs=``) that later steps take as arguments.

>>> @step(retries=2, timeout="10m")
... def train(df, C=1.0):
...     return C
>>> train.options.timeout, train.options.retries
(600.0, 2)
>>> train(None, C=0.5)  # outside a pipeline: just the function
0.5
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Tracer

__all__ = ["OutputHandle", "Step", "StepOptions", "parse_duration", "step"]

_DURATION_RE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*\Z")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.\-]{0,127}\Z")
_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")
#: Ray's own names for what ``num_cpus``, ``num_gpus`` and ``memory`` ask for.
_RAY_RESERVED = frozenset({"CPU", "GPU", "object_store_memory"})
_tracing = threading.local()


def parse_duration(value: Any, what: str) -> float | None:
    """Seconds from ``None``, a number of seconds, or text like ``"90s"``, ``"10m"``, ``"2h"``.

    >>> parse_duration("10m", "timeout"), parse_duration(1.5, "timeout")
    (600.0, 1.5)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        pass
    elif isinstance(value, (int, float)) and value > 0:
        return float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match and float(match.group(1)) > 0:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise InvalidArgument(
        f"{what} must be a positive number of seconds or a duration like '90s', '10m', '2h', "
        f"'7d', got {value!r}",
        hint=f"e.g. @yard.step({what}='10m')",
    )


@dataclass(frozen=True)
class StepOptions:
    """How a step runs: see :func:`step` for each option."""

    name: str
    retries: int = 0
    retry_delay: float = 1.0
    retry_backoff: float = 2.0
    timeout: float | None = None
    cache: bool = True
    cache_expiry: float | None = None
    resources: dict[str, float] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("output",)
    inputs: tuple[str, ...] = ()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (2 = the first retry)."""
        return float(self.retry_delay * self.retry_backoff ** max(0, attempt - 2))

    def to_dict(self) -> dict[str, Any]:
        return {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "retry_backoff": self.retry_backoff,
            "timeout": self.timeout,
            "cache": self.cache,
            "cache_expiry": self.cache_expiry,
            "resources": dict(self.resources),
            "outputs": list(self.outputs),
            "inputs": list(self.inputs),
        }


class OutputHandle:
    """A step output that does not exist yet: pass it to another step inside the pipeline."""

    def __init__(self, node: str, name: str, tracer: Tracer) -> None:
        self.node = node
        self.name = name
        self._tracer = tracer

    def __repr__(self) -> str:
        return f"OutputHandle({self.node!r}, {self.name!r})"

    def __bool__(self) -> bool:
        raise InvalidArgument(
            f"the output of step {self.node!r} has no value while the pipeline is being built",
            hint="pass it to another step; decide on its value inside a step, not in the "
            "pipeline function",
        )

    def __iter__(self) -> Any:
        raise InvalidArgument(
            f"the output of step {self.node!r} cannot be unpacked while the pipeline is built",
            hint="declare several outputs with @yard.step(outputs=['a', 'b'])",
        )


class Step:
    """A function made into a pipeline step by :func:`step`."""

    def __init__(self, func: Callable[..., Any], options: StepOptions) -> None:
        self.func = func
        self.options = options
        self.signature = inspect.signature(func)
        functools.update_wrapper(self, func)

    @property
    def name(self) -> str:
        return self.options.name

    def __repr__(self) -> str:
        return f"Step({self.name!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer: Tracer | None = getattr(_tracing, "tracer", None)
        if tracer is None:
            return self.func(*args, **kwargs)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgument(
                f"step {self.name!r} was called with arguments it does not take: {exc}",
                hint=f"its signature is {self.name}{self.signature}",
            ) from None
        bound.apply_defaults()
        node = tracer.add(self, dict(bound.arguments))
        handles = tuple(OutputHandle(node, out, tracer) for out in self.options.outputs)
        return handles[0] if len(handles) == 1 else handles


def _check_options(
    name: str,
    retries: Any,
    retry_delay: Any,
    retry_backoff: Any,
    resources: Any,
    outputs: Any,
    inputs: Any,
) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidArgument(
            f"step name must be 1-128 letters, digits, '_', '-' or '.', got {name!r}",
            hint="e.g. @yard.step(name='train_model')",
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgument(
            f"retries of step {name!r} must be an int >= 0, got {retries!r}",
            hint="e.g. @yard.step(retries=2)",
        )
    for what, value in (("retry_delay", retry_delay), ("retry_backoff", retry_backoff)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidArgument(
                f"{what} of step {name!r} must be a number >= 0, got {value!r}",
                hint="e.g. @yard.step(retries=3, retry_delay=1, retry_backoff=2)",
            )
    if not isinstance(resources, Mapping) or any(
        not isinstance(k, str)
        or not _NAME_RE.match(k)
        or k in _RAY_RESERVED
        or isinstance(v, bool)
        or not isinstance(v, (int, float))
        or v < 0
        for k, v in resources.items()
    ):
        raise InvalidArgument(
            f"resources of step {name!r} must map {', '.join(_RESOURCE_KEYS)} or the name of a "
            f"custom Ray resource to numbers >= 0, got {resources!r}",
            hint="e.g. @yard.step(resources={'num_cpus': 2, 'num_gpus': 1}) or "
            "resources={'num_cpus': 1, 'big_disk': 1} for a resource a node was started with",
        )
    if (
        isinstance(outputs, str)
        or not isinstance(outputs, Sequence)
        or not outputs
        or any(not isinstance(o, str) or not _NAME_RE.match(o) for o in outputs)
        or len(set(outputs)) != len(outputs)
    ):
        raise InvalidArgument(
            f"outputs of step {name!r} must be a list of distinct names, got {outputs!r}",
            hint="e.g. @yard.step(outputs=['train', 'test']) for a step returning two values",
        )
    if isinstance(inputs, str) or not isinstance(inputs, Sequence):
        raise InvalidArgument(
            f"inputs of step {name!r} must be a list of parameter names, got {inputs!r}",
            hint="e.g. @yard.step(inputs=['path']) for a param naming a file the step reads",
        )


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    retry_backoff: float = 2.0,
    timeout: float | str | None = None,
    cache: bool = True,
    cache_expiry: float | str | None = None,
    resources: Mapping[str, float] | None = None,
    outputs: Sequence[str] = ("output",),
    inputs: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    retry_backoff: float = 2.0,
    timeout: float | str | None = None,
    cache: bool = True,
    cache_expiry: float | str | None = None,
    resources: Mapping[str, float] | None = None,
    outputs: Sequence[str] = ("output",),
    inputs: Sequence[str] = (),
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step: ``@yard.step`` or ``@yard.step(retries=2, ...)``.

    - ``retries``: attempts after the first failure; the n-th retry waits
      ``retry_delay * retry_backoff ** (n - 1)`` seconds.
    - ``timeout``: seconds or ``"90s"``/``"10m"``/``"2h"``; a step still running then is killed
      (its worker process, or its Ray task) and the attempt fails with "timed out after ...".
    - ``cache``: ``False`` always runs the step; ``cache_expiry`` (seconds or a duration) makes
      cached outputs older than that count as a miss.
    - ``resources``: ``{"num_cpus": 2, "num_gpus": 1, "memory": bytes}`` for the Ray executor;
      any other name is a custom Ray resource (``{"big_disk": 1}`` runs the step only on a node
      started with ``ray start --resources='{"big_disk": 1}'``). Other executors ignore them.
    - ``outputs``: names of the outputs when the step returns a tuple of several values.
    - ``inputs``: names of params whose values are paths of files or folders the step reads:
      their content digests enter the cache key (``pathlib.Path`` values always do).

    >>> @step(cache=False)
    ... def now():
    ...     return 1
    >>> now.options.cache
    False
    """

    def wrap(f: Callable[..., Any]) -> Step:
        if isinstance(f, Step):
            f = f.func
        if not callable(f) or not hasattr(f, "__code__"):
            raise InvalidArgument(
                f"@yard.step decorates a Python function, got {type(f).__qualname__}",
                hint="put @yard.step right above a def",
            )
        step_name = name or f.__name__
        _check_options(
            step_name, retries, retry_delay, retry_backoff, resources or {}, outputs, inputs
        )
        params = inspect.signature(f).parameters
        for param in inputs:
            if param not in params:
                raise InvalidArgument(
                    f"step {step_name!r} declares input {param!r}, which is not one of its "
                    f"params ({', '.join(params) or 'none'})",
                    hint="inputs= names params whose values are paths the step reads",
                )
        options = StepOptions(
            name=step_name,
            retries=retries,
            retry_delay=float(retry_delay),
            retry_backoff=float(retry_backoff),
            timeout=parse_duration(timeout, "timeout"),
            cache=bool(cache),
            cache_expiry=parse_duration(cache_expiry, "cache_expiry"),
            resources={k: float(v) for k, v in (resources or {}).items()},
            outputs=tuple(outputs),
            inputs=tuple(inputs),
        )
        return Step(f, options)

    if func is not None:
        return wrap(func)
    return wrap


def current_tracer() -> Tracer | None:
    """The tracer of the pipeline being built in this thread, if any."""
    return getattr(_tracing, "tracer", None)


def set_tracer(tracer: Tracer | None) -> None:
    _tracing.tracer = tracer
