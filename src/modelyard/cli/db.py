"""``modelyard db upgrade`` and ``modelyard db status``: the metadata store's schema."""

from __future__ import annotations

import click

from modelyard.cli.output import echo_json, json_option

__all__ = ["db"]


@click.group()
def db() -> None:
    """The metadata store: schema status and migrations."""


@db.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the store's URL and schema revision."""
    from modelyard.cli.main import settings_from
    from modelyard.store.database import HEAD_REVISION, Database

    settings = settings_from(ctx)
    database = Database(settings.database_url, busy_timeout=settings.busy_timeout)
    current = database.revision()
    info = {
        "database_url": settings.database_url,
        "revision": current,
        "head": HEAD_REVISION,
        "up_to_date": current == HEAD_REVISION,
    }
    if as_json:
        echo_json(info)
        return
    click.echo(f"store:    {settings.database_url}")
    click.echo(f"revision: {current or '(empty)'}   newest: {HEAD_REVISION}")
    if current != HEAD_REVISION:
        click.echo("run `modelyard db upgrade` to migrate it")


@db.command()
@json_option
@click.pass_context
def upgrade(ctx: click.Context, as_json: bool) -> None:
    """Migrate the metadata store to the newest schema (back it up first)."""
    from modelyard.cli.main import settings_from
    from modelyard.store.database import Database

    settings = settings_from(ctx)
    database = Database(settings.database_url, busy_timeout=settings.busy_timeout)
    before, after = database.upgrade()
    if as_json:
        echo_json({"database_url": settings.database_url, "before": before, "after": after})
    elif before == after:
        click.echo(f"{settings.database_url} is already at revision {after}")
    else:
        click.echo(f"migrated {settings.database_url}: {before or '(empty)'} -> {after}")
