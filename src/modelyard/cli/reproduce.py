"""``modelyard reproduce URI``: rerun a model version's recipe and check its metrics."""

from __future__ import annotations

import click

from modelyard.cli.output import echo_json, fmt_value, json_option, print_table

__all__ = ["reproduce"]

_STYLE = {"reproduced": "green", "differs": "yellow", "could_not_run": "red"}


@click.command()
@click.argument("uri")
@click.option(
    "--tolerance", default=1e-6, show_default=True, type=float, help="Relative tolerance."
)
@click.option(
    "--abs-tolerance", default=1e-9, show_default=True, type=float, help="Absolute tolerance."
)
@click.option("--metric", "metrics", multiple=True, help="Compare only this metric (repeatable).")
@click.option(
    "--timeout", default=3600.0, show_default=True, type=float, help="Seconds the rerun may take."
)
@click.option("--repo", default=None, help="A clone to use instead of the recorded repository.")
@click.option("--no-record", is_flag=True, help="Do not record the verdict on the version.")
@json_option
@click.pass_context
def reproduce(
    ctx: click.Context,
    uri: str,
    tolerance: float,
    abs_tolerance: float,
    metrics: tuple[str, ...],
    timeout: float,
    repo: str | None,
    no_record: bool,
    as_json: bool,
) -> None:
    """Rerun the recipe of model URI (models:/NAME/VERSION) and check its metrics match.

    Checks out the recorded commit in a temporary git worktree, applies the recorded
    uncommitted diff, checks the input datasets by digest, warns where the environment
    differs, reruns the entry point and compares the metrics within the tolerance. The
    verdict is recorded on the version. Exit status 0 when reproduced, 1 otherwise.
    """
    from modelyard.cli.main import settings_from
    from modelyard.registry import reproduce as reproduce_version
    from modelyard.tracking.client import TrackingClient

    result = reproduce_version(
        uri,
        tolerance=tolerance,
        abs_tolerance=abs_tolerance,
        timeout=timeout,
        metrics=list(metrics) or None,
        repo=repo,
        record=not no_record,
        client=TrackingClient(settings_from(ctx)),
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        from rich.console import Console
        from rich.markup import escape

        style = _STYLE.get(result.status, "")
        console = Console()
        console.print(
            f"[bold]models:/{result.name}/{result.version}[/bold]  "
            f"[{style}]{result.status}[/{style}]"
        )
        console.print(escape(result.details))
        if result.metrics:
            print_table(
                ["metric", "original", "rerun", "delta", "within"],
                [
                    (
                        c.key,
                        fmt_value(c.original),
                        fmt_value(c.new),
                        fmt_value(c.delta),
                        "yes" if c.within else "[bold red]no[/bold red]",
                    )
                    for c in result.metrics
                ],
                title="Metrics",
            )
        if result.datasets:
            print_table(
                ["dataset", "context", "digest", "status", "source"],
                [
                    (d.name, d.context, d.digest[:12], d.status, d.source or "")
                    for d in result.datasets
                ],
                title="Input data",
            )
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
        if result.status == "could_not_run" and result.log_tail:
            console.print("[dim]last output of the rerun:[/dim]")
            console.print(escape(result.log_tail[-1500:]))
    if not result.ok:
        ctx.exit(1)
