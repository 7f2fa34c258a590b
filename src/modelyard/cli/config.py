"""``modelyard config show``: every setting, its value and where the value came from."""

from __future__ import annotations

import click

from modelyard.cli.output import echo_json, json_option, print_table

__all__ = ["config"]


@click.group()
def config() -> None:
    """Settings (MODELYARD_* variables, modelyard.toml, defaults)."""


@config.command()
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Show each setting with its value and source."""
    from modelyard.cli.main import settings_from

    rows = settings_from(ctx).as_rows()
    if as_json:
        echo_json([{"name": n, "env": e, "value": v, "source": s} for n, e, v, s in rows])
        return
    print_table(["setting", "variable", "value", "source"], rows, title="Settings")
