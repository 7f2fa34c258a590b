"""``modelyard runs list|show|compare``."""

from __future__ import annotations

import time

import click

from modelyard.cli.output import (
    echo_json,
    fmt_duration,
    fmt_time,
    fmt_value,
    json_option,
    print_table,
    status_text,
)
from modelyard.tracking.entities import Run

__all__ = ["runs"]

_STALE_HEARTBEATS = 4


def _client(ctx: click.Context):  # type: ignore[no-untyped-def]
    from modelyard.cli.main import settings_from
    from modelyard.tracking.client import TrackingClient

    return TrackingClient(settings_from(ctx))


@click.group()
def runs() -> None:
    """Runs: what each training run was given, measured and produced."""


@runs.command("list")
@click.option("--experiment", "-e", default=None, help="Experiment name (default: Default).")
@click.option(
    "--filter", "filter_", default=None, help="e.g. \"metrics.auc > 0.9 and params.C = '1'\""
)
@click.option("--order-by", multiple=True, help="e.g. 'metrics.auc desc' (repeatable).")
@click.option("--max-results", default=50, show_default=True, type=int)
@click.option("--page-token", default=None, help="Token printed by the previous page.")
@click.option(
    "--columns",
    "columns_opt",
    default=None,
    help="Comma-separated columns, e.g. 'metrics.auc,params.C' (default: fit the terminal).",
)
@json_option
@click.pass_context
def list_runs(
    ctx: click.Context,
    experiment: str | None,
    filter_: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    page_token: str | None,
    columns_opt: str | None,
    as_json: bool,
) -> None:
    """List the runs of an experiment, filtered and ordered like search_runs."""
    client = _client(ctx)
    client.mark_dead_runs()
    experiment = experiment or client.config.experiment_name
    found = client.search_runs(experiment, filter_, list(order_by), max_results, page_token)
    now = int(time.time() * 1000)
    timeout = int(client.config.heartbeat_interval * 1000 * _STALE_HEARTBEATS)
    if as_json:
        echo_json(
            {
                "runs": [
                    {**r.to_dict(), "stale_reason": r.stale_reason(now, timeout)} for r in found
                ],
                "next_page_token": found.next_page_token,
            }
        )
        return
    if not found:
        click.echo(
            f"No runs in experiment {experiment!r}" + (" match the filter." if filter_ else ".")
        )
        return
    columns = _pick_columns(found, columns_opt, filter_, order_by)
    rows = []
    notes = []
    for r in found:
        status = r.status
        reason = r.stale_reason(now, timeout)
        if reason:
            status = "RUNNING (stale)"
            notes.append(f"{r.run_id[:8]}: {reason}")
        elif r.status == "KILLED" and r.error:
            notes.append(f"{r.run_id[:8]}: KILLED — {r.error.splitlines()[0]}")
        rows.append(
            [
                r.run_id[:8],
                r.name,
                status_text(status),
                fmt_time(r.start_time, short=True),
                fmt_duration(r.duration_ms),
                *[fmt_value(_cell(r, c)) for c in columns],
            ]
        )
    caption = None
    if found.next_page_token:
        caption = f"more: --page-token {found.next_page_token}"
    print_table(
        ["run", "name", "status", "started", "duration", *columns],
        rows,
        title=f"Runs of {experiment}",
        caption=caption,
    )
    for note in notes:
        click.echo(note)


def _cell(run: Run, column: str) -> object:
    kind, _, key = column.partition(".")
    return (run.metrics if kind == "metrics" else run.params if kind == "params" else run.tags).get(
        key
    )


def _pick_columns(
    found: list[Run], chosen: str | None, filter_: str | None, order_by: tuple[str, ...]
) -> list[str]:
    """The chosen columns, or as many as fit: metrics named in the query first."""
    if chosen:
        return [c.strip() for c in chosen.split(",") if c.strip()]
    import shutil

    metrics = sorted({k for r in found for k in r.metrics})
    params = sorted({k for r in found for k in r.params})
    named = " ".join([filter_ or "", *order_by])
    candidates = [f"metrics.{k}" for k in metrics if f"metrics.{k}" in named]
    candidates += [f"params.{k}" for k in params if f"params.{k}" in named]
    candidates += [f"metrics.{k}" for k in metrics if f"metrics.{k}" not in candidates]
    candidates += [f"params.{k}" for k in params if f"params.{k}" not in candidates]
    width = shutil.get_terminal_size((120, 40)).columns
    fits = max(0, (width - 62) // 15)
    return candidates[:fits]


@runs.command()
@click.argument("run_id")
@json_option
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show everything a run recorded: params, metrics, data, code, environment, artifacts."""
    client = _client(ctx)
    client.mark_dead_runs()
    run = client.get_run(run_id)
    artifacts = client.list_artifacts(run.run_id)
    if as_json:
        echo_json({**run.to_dict(), "artifacts": [a.to_dict() for a in artifacts]})
        return
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{run.name}[/bold]  {run.run_id}")
    console.print(
        f"status {status_text(run.status)}   started {fmt_time(run.start_time)}   "
        f"duration {fmt_duration(run.duration_ms) or '-'}   experiment {run.experiment_id}"
        + (f"   parent {run.parent_run_id}" if run.parent_run_id else "")
    )
    if run.error:
        console.print(f"[red]error:[/red] {run.error.strip().splitlines()[-1]}")
    if run.params:
        print_table(["param", "value"], sorted(run.params.items()), title="Params")
    if run.metrics:
        print_table(
            ["metric", "latest"],
            [(k, fmt_value(v)) for k, v in sorted(run.metrics.items())],
            title="Metrics",
        )
    if run.tags:
        print_table(["tag", "value"], sorted(run.tags.items()), title="Tags")
    if run.inputs:
        print_table(
            ["direction", "name", "context", "kind", "rows", "columns", "digest"],
            [
                (
                    i.direction,
                    i.name,
                    i.context,
                    i.kind,
                    fmt_value(i.rows),
                    fmt_value(i.columns),
                    i.digest[:16],
                )
                for i in run.inputs
            ],
            title="Data",
        )
    code = run.code or {}
    if code:
        dirty = " (dirty: uncommitted changes stored as " + str(code.get("diff_artifact")) + ")"
        console.print(
            "[bold]Code[/bold]  "
            f"commit {code.get('commit') or '-'}  branch {code.get('branch') or '-'}"
            + (dirty if code.get("dirty") else "")
            + f"\n      entry point {code.get('entry_point') or '-'}"
            + f"  remote {code.get('remote') or '-'}"
        )
    env = run.environment or {}
    if env:
        console.print(
            f"[bold]Environment[/bold]  Python {env.get('python')}  {env.get('platform')}  "
            f"{len(env.get('packages') or {})} packages  digest {str(env.get('digest'))[:16]}"
        )
    if artifacts:
        print_table(
            ["artifact", "size", "digest"],
            [(a.path, f"{a.size:,}", a.digest[:16]) for a in artifacts],
            title="Artifacts",
        )


@runs.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--all", "show_all", is_flag=True, help="Also show rows that are the same.")
@json_option
@click.pass_context
def compare(ctx: click.Context, run_ids: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Compare 2 to 10 runs: params, metrics, data, code and environment side by side."""
    from modelyard.tracking.compare import compare_runs

    client = _client(ctx)
    comparison = compare_runs([client.get_run(r) for r in run_ids])
    if as_json:
        echo_json(comparison.to_dict())
        return
    rows = [r for r in comparison.rows if show_all or r.differs or r.key == "name"]
    print_table(
        ["section", "key", *[rid[:8] for rid in comparison.run_ids]],
        [[r.section, r.key, *[fmt_value(v) for v in r.values]] for r in rows],
        title="Differences" if not show_all else "Comparison",
        highlight=[[False, False, *([r.differs] * len(r.values))] for r in rows],
        caption=None if show_all else "only rows that differ; --all shows every row",
    )
