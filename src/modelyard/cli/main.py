"""The ``modelyard`` (and ``yard``) command: ``modelyard <resource> <verb>``.

Each command calls one SDK function and prints a table for people or JSON with ``--json``.
A :class:`~modelyard.errors.ModelyardError` becomes one clean paragraph on stderr and exit
status 1 (2 for configuration errors); anything else is an internal error whose traceback is
shown with ``--debug``. Options can also be set through ``MODELYARD_*`` variables.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from modelyard.errors import ModelyardError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Lists commands in the order they were added and turns errors into clean messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            _print_error(exc)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception:
            if ctx.find_root().params.get("debug"):
                raise
            import traceback

            click.echo(
                "modelyard: internal error, please report it with the output of the same "
                "command run with --debug:\n" + traceback.format_exc().splitlines()[-1],
                err=True,
            )
            ctx.exit(70)


def _print_error(exc: ModelyardError) -> None:
    click.secho(f"Error: {exc.message}", fg="red", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)


@click.group(name="modelyard", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelyard", prog_name="modelyard")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.option(
    "--database-url",
    envvar="MODELYARD_DATABASE_URL",
    default=None,
    help="Metadata store URL (default: SQLite in .modelyard/ at the project root).",
)
@click.option(
    "--artifact-url",
    envvar="MODELYARD_ARTIFACT_URL",
    default=None,
    help="Artifact store: a folder or s3://bucket/prefix.",
)
@click.pass_context
def cli(
    ctx: click.Context, debug: bool, database_url: str | None, artifact_url: str | None
) -> None:
    """Modelyard: tracking, registry, pipelines, serving and monitoring for ML teams.

    \b
    Start here:
      modelyard quickstart          train and track a few models in this folder
      modelyard runs list           the runs of an experiment
      modelyard runs show RUN_ID    everything one run recorded
    """
    ctx.obj = {"database_url": database_url, "artifact_url": artifact_url}


def settings_from(ctx: click.Context) -> Any:
    """The Settings for this invocation (global options override the environment)."""
    from modelyard.settings import Settings

    obj = ctx.find_root().obj or {}
    return Settings.load(**{k: v for k, v in obj.items() if v})


def _register() -> None:
    from modelyard.cli import (
        config,
        db,
        experiments,
        models,
        pipelines,
        quickstart,
        reproduce,
        runs,
        server,
    )

    cli.add_command(quickstart.quickstart)
    cli.add_command(experiments.experiments)
    cli.add_command(runs.runs)
    cli.add_command(models.models)
    cli.add_command(reproduce.reproduce)
    cli.add_command(pipelines.pipelines)
    cli.add_command(db.db)
    cli.add_command(config.config)
    cli.add_command(server.server)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console scripts."""
    cli.main(args=argv, prog_name="modelyard", auto_envvar_prefix="MODELYARD")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
