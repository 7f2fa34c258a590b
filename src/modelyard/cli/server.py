"""``modelyard server``: serve the REST API and the web UI over this project's stores."""

from __future__ import annotations

import click

__all__ = ["server"]


@click.command()
@click.option(
    "--host",
    envvar="MODELYARD_SERVER_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on (0.0.0.0 for every interface).",
)
@click.option(
    "--port",
    envvar="MODELYARD_SERVER_PORT",
    type=click.IntRange(0, 65535),
    default=5050,
    show_default=True,
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--workers",
    envvar="MODELYARD_SERVER_WORKERS",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes; one is best for SQLite.",
)
@click.option(
    "--tokens-file",
    envvar="MODELYARD_SERVER_TOKENS_FILE",
    default=None,
    help="File of '<token> read|write' lines; every request then needs a token.",
)
@click.option(
    "--access-log/--no-access-log",
    envvar="MODELYARD_SERVER_ACCESS_LOG",
    default=False,
    show_default=True,
    help="Log every request.",
)
@click.pass_context
def server(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int,
    tokens_file: str | None,
    access_log: bool,
) -> None:
    """Serve the REST API (/api) and the web UI (/) of this project's stores.

    \b
    Clients point at it with:
      MODELYARD_TRACKING_URI=http://HOST:PORT  (and MODELYARD_TOKEN when tokens are on)
    Tokens: MODELYARD_SERVER_TOKEN, or --tokens-file. Stop with Ctrl-C or SIGTERM.
    """
    from modelyard.cli.main import settings_from
    from modelyard.server.runner import serve

    settings = settings_from(ctx)
    if tokens_file:
        settings = settings.replace(server_tokens_file=tokens_file)

    def ready(url: str) -> None:
        auth = (
            "tokens required"
            if settings.server_token or settings.server_tokens_file
            else ("no tokens: anyone who can reach it can read and write")
        )
        click.echo(f"Modelyard server on {url}  (API {url}/api, UI {url}/; {auth})")
        click.echo(f"  metadata:  {settings.database_url}")
        click.echo(f"  artifacts: {settings.artifact_url}")
        click.echo(f"  clients:   export MODELYARD_TRACKING_URI={url}", nl=True)

    serve(settings, host, port, workers=workers, access_log=access_log, on_ready=ready)
