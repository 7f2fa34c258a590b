"""``modelyard pipelines run|list|show|resume|explain``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from modelyard.cli.output import (
    echo_json,
    fmt_duration,
    fmt_time,
    json_option,
    print_table,
    status_text,
)

if TYPE_CHECKING:
    from modelyard.pipelines import Pipeline, PipelinePlan, PipelineRun
    from modelyard.tracking.client import TrackingClient

__all__ = ["pipelines"]

_EXECUTORS = click.Choice(["local", "inline", "ray"])


def _client(ctx: click.Context) -> TrackingClient:
    """The process-wide client on this invocation's stores (steps run here log through it)."""
    from modelyard.cli.main import settings_from
    from modelyard.tracking import fluent

    fluent.configure(settings_from(ctx))
    return fluent.get_client()


@click.group()
def pipelines() -> None:
    """Pipelines: steps with a shared cache, lineage for every step, resume and explain."""


def _coerce(pipeline: Pipeline, name: str, text: str) -> Any:
    """A --param value: text for str params, else JSON when it parses (0.5, true, [1, 2])."""
    param = pipeline.signature.parameters.get(name)
    if param is not None and (isinstance(param.default, str) or param.annotation in (str, "str")):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _params(pipeline: Pipeline, pairs: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        out[name.strip()] = _coerce(pipeline, name.strip(), value)
    return out


def _step_rows(run: PipelineRun) -> list[list[str]]:
    rows = []
    for name, s in run.steps.items():
        cached = f"from {s.cached_from_run_id[:8]}" if s.cached_from_run_id else ""
        error = (s.error or "").strip().splitlines()[0][:60] if s.error else ""
        rows.append(
            [
                name,
                status_text(s.status),
                cached,
                fmt_duration(None if s.duration is None else int(s.duration * 1000)),
                str(s.attempts or ""),
                (s.run_id or "")[:8],
                error,
            ]
        )
    return rows


def _print_run(run: PipelineRun) -> None:
    click.echo(
        f"pipeline {run.pipeline}  run {run.run_id}  status {run.status}  "
        f"executor {run.executor}  duration {fmt_duration(_ms(run.duration)) or '-'}"
        + (f"  resumed from {run.resumed_from_run_id}" if run.resumed_from_run_id else "")
    )
    if run.params:
        click.echo("params: " + ", ".join(f"{k}={v!r}" for k, v in run.params.items()))
    print_table(
        ["step", "status", "cached", "duration", "attempts", "run", "error"],
        _step_rows(run),
        title="Steps",
    )
    if run.metrics:
        click.echo("metrics: " + ", ".join(f"{k}={v:.6g}" for k, v in sorted(run.metrics.items())))
    if run.error:
        click.secho(f"error: {run.error.strip().splitlines()[0]}", fg="red", err=True)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _print_plan(plan: PipelinePlan) -> None:
    rows = [[name, "run" if s.would_run else "cached", s.reason] for name, s in plan.steps.items()]
    print_table(["step", "would", "why"], rows, title=f"Dry run of {plan.pipeline}")


@pipelines.command("run")
@click.argument("reference")
@click.option(
    "--param",
    "-p",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A pipeline param (repeatable); read as JSON when it parses, as text for str params.",
)
@click.option("--dry-run", is_flag=True, help="Say what would run or come from the cache, and why.")
@click.option("--force", multiple=True, metavar="STEP", help="Run STEP even when cached.")
@click.option("--executor", type=_EXECUTORS, default="local", show_default=True)
@click.option(
    "--max-workers", type=int, default=None, help="Steps at once (0: all in this process)."
)
@click.option("--experiment", "-e", default=None, help="Experiment of the run.")
@json_option
@click.pass_context
def run_command(
    ctx: click.Context,
    reference: str,
    param_pairs: tuple[str, ...],
    dry_run: bool,
    force: tuple[str, ...],
    executor: str,
    max_workers: int | None,
    experiment: str | None,
    as_json: bool,
) -> None:
    """Run the pipeline REFERENCE (FILE.py:NAME or MODULE:NAME).

    \b
    Example:
      modelyard pipelines run flows.py:training --param C=0.5
      modelyard pipelines run flows.py:training --dry-run
    """
    from modelyard.pipelines.loading import load_pipeline

    client = _client(ctx)
    pipeline = load_pipeline(reference)
    params = _params(pipeline, param_pairs)
    if dry_run:
        plan = pipeline.run(params=params, dry_run=True, force=force, client=client)
        if as_json:
            echo_json(plan.to_dict())
        else:
            _print_plan(plan)
        return
    result = pipeline.run(
        params=params,
        executor=executor,
        max_workers=max_workers,
        force=force,
        experiment=experiment,
        client=client,
    )
    _report(ctx, result, as_json)


def _report(ctx: click.Context, result: PipelineRun, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_run(result)
    if result.status != "FINISHED":
        ctx.exit(1)


@pipelines.command("list")
@click.option("--pipeline", "name", default=None, help="Only runs of this pipeline.")
@click.option("--max-results", default=50, show_default=True, type=int)
@json_option
@click.pass_context
def list_command(ctx: click.Context, name: str | None, max_results: int, as_json: bool) -> None:
    """List pipeline runs, newest first."""
    from modelyard.pipelines import list_pipeline_runs

    found = list_pipeline_runs(name, max_results=max_results, client=_client(ctx))
    if as_json:
        echo_json({"pipeline_runs": [r.to_dict() for r in found]})
        return
    if not found:
        click.echo("No pipeline runs yet: start one with modelyard pipelines run FILE.py:NAME")
        return
    rows = []
    for r in found:
        done = sum(1 for s in r.steps.values() if s.status == "FINISHED")
        cached = len(r.cached_steps)
        rows.append(
            [
                r.run_id[:8],
                r.pipeline,
                status_text(r.status),
                f"{done}/{len(r.steps)}" + (f" ({cached} cached)" if cached else ""),
                r.executor,
                fmt_time(r.start_time, short=True),
                fmt_duration(_ms(r.duration)),
            ]
        )
    print_table(
        ["run", "pipeline", "status", "steps done", "executor", "started", "duration"],
        rows,
        title="Pipeline runs",
    )


@pipelines.command("show")
@click.argument("run_id")
@click.option("--svg", "svg_path", default=None, help="Also write the DAG picture to this file.")
@json_option
@click.pass_context
def show_command(ctx: click.Context, run_id: str, svg_path: str | None, as_json: bool) -> None:
    """Show a pipeline run: its steps, their status, cache hits, durations and errors."""
    from modelyard.pipelines import get_pipeline_run, pipeline_svg

    client = _client(ctx)
    client.mark_dead_runs()
    run = get_pipeline_run(run_id, client=client)
    if svg_path:
        with open(svg_path, "w", encoding="utf-8") as fileobj:
            fileobj.write(pipeline_svg(run))
    if as_json:
        echo_json(run.to_dict())
        return
    _print_run(run)


@pipelines.command("resume")
@click.argument("run_id")
@click.option("--executor", type=_EXECUTORS, default=None, help="Default: the run's executor.")
@click.option("--max-workers", type=int, default=None, help="Steps at once.")
@json_option
@click.pass_context
def resume_command(
    ctx: click.Context,
    run_id: str,
    executor: str | None,
    max_workers: int | None,
    as_json: bool,
) -> None:
    """Rerun a failed or killed pipeline run; steps that completed are reused, not rerun."""
    from modelyard.pipelines import resume_pipeline

    result = resume_pipeline(
        run_id, executor=executor, max_workers=max_workers, client=_client(ctx)
    )
    _report(ctx, result, as_json)


@pipelines.command("explain")
@click.argument("run_a")
@click.argument("run_b")
@json_option
@click.pass_context
def explain_command(ctx: click.Context, run_a: str, run_b: str, as_json: bool) -> None:
    """Say, for each step, which part of its cache key changed from RUN_A to RUN_B.

    Names the function whose code changed, the param, the input, the file or the package.
    """
    from modelyard.pipelines import explain_runs

    diff = explain_runs(run_a, run_b, client=_client(ctx))
    if as_json:
        echo_json(diff.to_dict())
        return
    rows = [
        [name, "same" if d.same_key else "changed", d.describe()] for name, d in diff.steps.items()
    ]
    print_table(
        ["step", "cache key", "what changed"],
        rows,
        title=f"{diff.run_a[:8]} -> {diff.run_b[:8]}",
    )
