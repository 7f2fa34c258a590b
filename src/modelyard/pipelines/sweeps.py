"""Sweeps: a pipeline run once per set of params, in parallel, and the best trial picked.

:func:`sweep` takes a grid (every combination) or a search space with ``n_trials`` (random
search: lists are choices, :func:`uniform`, :func:`loguniform` and :func:`randint` are
distributions), traces one graph per trial and runs them all on one executor, so trials share
its workers and its cache: a ``prepare`` step that is the same in every trial runs once. The
sweep is a tracked run; each trial a pipeline run under it. The metric of a trial is the latest
value logged by its steps — a step returning ``{"auc": 0.91}`` logs it — and the best trial is
the highest (``mode="max"``) or lowest.

>>> _grid({"C": [0.1, 1], "kernel": ["rbf"]})
[{'C': 0.1, 'kernel': 'rbf'}, {'C': 1, 'kernel': 'rbf'}]
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument
from modelyard.pipelines.entities import SweepResult, Trial

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Pipeline
    from modelyard.tracking.client import TrackingClient

__all__ = ["Distribution", "loguniform", "randint", "sweep", "uniform"]


@dataclass(frozen=True)
class Distribution:
    """A distribution to sample a param from in random search."""

    kind: str
    low: float
    high: float

    def sample(self, rng: random.Random) -> float | int:
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.randint(int(self.low), int(self.high))


def _bounds(kind: str, low: float, high: float, positive: bool = False) -> Distribution:
    ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    if not ok or not low < high or (positive and low <= 0):
        raise InvalidArgument(
            f"{kind}({low!r}, {high!r}) needs numbers with low < high"
            + (" and low > 0" if positive else ""),
            hint=f"e.g. {kind}(0.001, 10)" if kind != "randint" else "e.g. randint(1, 10)",
        )
    return Distribution(kind, low, high)


def uniform(low: float, high: float) -> Distribution:
    """Floats drawn evenly between ``low`` and ``high``."""
    return _bounds("uniform", low, high)


def loguniform(low: float, high: float) -> Distribution:
    """Floats whose logarithm is drawn evenly (for scales like learning rates)."""
    return _bounds("loguniform", low, high, positive=True)


def randint(low: int, high: int) -> Distribution:
    """Integers from ``low`` to ``high`` inclusive."""
    return _bounds("randint", low, high)


def _grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidArgument(
                f"grid value of {name!r} must be a list of values, got {values!r}",
                hint=f"e.g. grid={{{name!r}: [0.1, 1, 10]}}",
            )
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _random(space: Mapping[str, Any], n_trials: int, seed: int | None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    trials = []
    for _ in range(n_trials):
        params: dict[str, Any] = {}
        for name, dist in space.items():
            if isinstance(dist, Distribution):
                params[name] = dist.sample(rng)
            elif isinstance(dist, (list, tuple)) and dist:
                params[name] = rng.choice(list(dist))
            else:
                raise InvalidArgument(
                    f"search space of {name!r} must be a list of choices or a distribution "
                    f"(uniform, loguniform, randint), got {dist!r}",
                    hint="e.g. space={'C': loguniform(0.001, 10), 'kernel': ['rbf', 'linear']}",
                )
        trials.append(params)
    return trials


def sweep(
    pipeline: Pipeline,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    space: Mapping[str, Any] | None = None,
    n_trials: int | None = None,
    params: Mapping[str, Any] | None = None,
    metric: str | None = None,
    mode: str = "max",
    executor: str = "local",
    max_workers: int | None = None,
    seed: int | None = None,
    experiment: str | None = None,
    client: TrackingClient | None = None,
) -> SweepResult:
    """Run ``pipeline`` once per trial and report the best by ``metric``.

    ``grid`` runs every combination; ``space`` with ``n_trials`` samples that many (``seed``
    makes it repeatable). ``params`` are fixed for every trial. Trials run together on the
    executor (``local``, ``inline`` or ``ray``) with up to ``max_workers`` steps at once.

    >>> result = yard.sweep(training, grid={"C": [0.1, 1, 10]}, metric="auc")  # doctest: +SKIP
    >>> result.best.params                                                     # doctest: +SKIP
    {'C': 1}
    """
    from modelyard.pipelines.graph import Pipeline
    from modelyard.pipelines.records import resolve_client as _client
    from modelyard.pipelines.runner import run_graphs

    if not isinstance(pipeline, Pipeline):
        raise InvalidArgument(
            f"sweep() takes a pipeline, got {type(pipeline).__qualname__}",
            hint="decorate the function with @yard.pipeline",
        )
    if mode not in ("max", "min"):
        raise InvalidArgument(f"mode must be 'max' or 'min', got {mode!r}", hint="e.g. mode='max'")
    if (grid is None) == (space is None):
        raise InvalidArgument(
            "sweep() needs either grid= (every combination) or space= with n_trials= (random "
            "search)",
            hint="e.g. grid={'C': [0.1, 1, 10]} or space={'C': yard.loguniform(0.01, 10)}, "
            "n_trials=20",
        )
    if space is not None:
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise InvalidArgument(
                f"random search needs n_trials >= 1, got {n_trials!r}", hint="e.g. n_trials=20"
            )
        trials = _random(space, n_trials, seed)
    else:
        trials = _grid(grid or {})
    if not trials:
        raise InvalidArgument("the sweep has no trials", hint="give at least one value per param")
    client = _client(client)
    fixed = dict(params or {})
    graphs = [(pipeline, pipeline.graph(**{**fixed, **t}), None) for t in trials]
    sweep_run = client.create_run(
        experiment,
        name=f"{pipeline.name}-sweep",
        tags={"modelyard.sweep": pipeline.name, "modelyard.sweep.trials": str(len(trials))},
    )
    try:
        client.log_params(
            sweep_run,
            {"metric": metric or "", "mode": mode, "trials": len(trials), "executor": executor},
        )
        runs = run_graphs(
            graphs,
            executor=executor,
            max_workers=max_workers,
            experiment=experiment,
            client=client,
            parent_run_id=sweep_run,
            tags={"modelyard.sweep.run_id": sweep_run},
        )
    except BaseException as exc:
        client.end_run(sweep_run, "FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    results = tuple(
        Trial(params=t, run=r, value=r.metrics.get(metric) if metric else None)
        for t, r in zip(trials, runs, strict=True)
    )
    scored = [t for t in results if t.value is not None and not math.isnan(t.value)]
    best = None
    if scored:
        best = (max if mode == "max" else min)(scored, key=lambda t: float(t.value or 0.0))
        client.log_metrics(sweep_run, {f"best_{metric}": float(best.value or 0.0)})
        client.set_tags(sweep_run, {"modelyard.sweep.best_run_id": best.run_id})
    failed = [t for t in results if t.run.status != "FINISHED"]
    client.end_run(
        sweep_run,
        "FAILED" if len(failed) == len(results) else "FINISHED",
        error=f"{len(failed)} of {len(results)} trials failed" if failed else None,
    )
    return SweepResult(sweep_run, metric, mode, results, best)
