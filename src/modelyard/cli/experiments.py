"""``modelyard experiments list``."""

from __future__ import annotations

import click

from modelyard.cli.output import echo_json, fmt_time, json_option, print_table

__all__ = ["experiments"]


@click.group()
def experiments() -> None:
    """Experiments: named groups of runs."""


@experiments.command("list")
@json_option
@click.pass_context
def list_experiments(ctx: click.Context, as_json: bool) -> None:
    """List experiments with their number of runs and latest run."""
    from modelyard.cli.main import settings_from
    from modelyard.tracking.client import TrackingClient

    rows = TrackingClient(settings_from(ctx)).list_experiments()
    if as_json:
        echo_json(
            [{**exp.to_dict(), "runs": n, "last_run_start_time": last} for exp, n, last in rows]
        )
        return
    if not rows:
        click.echo("No experiments yet. Start one with: modelyard quickstart")
        return
    print_table(
        ["id", "name", "runs", "latest run", "created"],
        [
            (str(e.experiment_id), e.name, str(n), fmt_time(last), fmt_time(e.created_at))
            for e, n, last in rows
        ],
        title="Experiments",
    )
