"""``modelyard models list|show|versions|register|alias|archive|restore|diff|lineage``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from modelyard.cli.output import echo_json, fmt_time, fmt_value, json_option, print_table

if TYPE_CHECKING:
    from modelyard.registry import ModelVersion

__all__ = ["models"]

_STATUS_STYLE = {"ready": "green", "failed": "red", "archived": "dim"}
_VERDICT_STYLE = {"reproduced": "green", "differs": "yellow", "could_not_run": "red"}


def _client(ctx: click.Context):  # type: ignore[no-untyped-def]
    from modelyard.cli.main import settings_from
    from modelyard.tracking.client import TrackingClient

    return TrackingClient(settings_from(ctx))


def _styled(text: str, styles: dict[str, str]) -> str:
    style = styles.get(text, "")
    return f"[{style}]{text}[/{style}]" if style else text


def _verdict(reproduce: dict[str, Any] | None) -> str:
    if not reproduce:
        return ""
    return _styled(str(reproduce.get("status", "")), _VERDICT_STYLE)


@click.group()
def models() -> None:
    """Registered models: versions, aliases, lineage and what changed between versions."""


@models.command("list")
@json_option
@click.pass_context
def list_models(ctx: click.Context, as_json: bool) -> None:
    """List registered models with their latest version and aliases."""
    from modelyard.registry import list_registered_models

    found = list_registered_models(client=_client(ctx))
    if as_json:
        echo_json({"models": [m.to_dict() for m in found]})
        return
    if not found:
        click.echo("No registered models yet; register one with: modelyard models register")
        return
    print_table(
        ["name", "versions", "latest", "aliases", "updated", "description"],
        [
            (
                m.name,
                m.versions,
                m.latest_version,
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                fmt_time(m.updated_at, short=True),
                (m.description or "").splitlines()[0][:60] if m.description else "",
            )
            for m in found
        ],
        title="Registered models",
    )


def _versions_table(versions: Sequence[ModelVersion], title: str) -> None:
    keys = sorted({k for v in versions for k in v.metrics})[:4]
    columns = ["version", "status", "aliases", "run", "flavor", "model digest", "created"]
    print_table(
        [*columns, *keys, "reproduce"],
        [
            (
                str(v.version),
                _styled(v.status, _STATUS_STYLE),
                ", ".join(v.aliases),
                v.run_id[:8],
                v.flavor or "",
                (v.model_digest or "")[:12],
                fmt_time(v.created_at, short=True),
                *[fmt_value(v.metrics.get(k)) for k in keys],
                _verdict(v.reproduce),
            )
            for v in versions
        ],
        title=title,
    )


@models.command()
@click.argument("name")
@json_option
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a model: description, tags, aliases, versions and its recent history."""
    from modelyard.registry import get_registered_model, list_model_events, list_model_versions

    client = _client(ctx)
    model = get_registered_model(name, client=client)
    versions = list_model_versions(name, client=client)
    events = list_model_events(name, limit=20, client=client)
    if as_json:
        echo_json(
            {
                **model.to_dict(),
                "model_versions": [v.to_dict() for v in versions],
                "events": [e.to_dict() for e in events],
            }
        )
        return
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{model.name}[/bold]  {model.versions} version(s)")
    if model.description:
        console.print(model.description)
    if model.tags:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())))
    if model.aliases:
        console.print("aliases: " + ", ".join(f"{a} → {v}" for a, v in model.aliases.items()))
    if versions:
        _versions_table(versions[::-1], "Versions")
    if events:
        print_table(
            ["time", "event", "by", "details"],
            [
                (fmt_time(e.time), e.kind, e.actor, _event_text(e.payload or {}))
                for e in events[::-1]
            ],
            title="History (newest first)",
        )


def _event_text(payload: dict[str, Any]) -> str:
    if "alias" in payload:
        return f"{payload['alias']}: {payload.get('from') or '-'} → {payload.get('to') or '-'}"
    parts = []
    for key in ("version", "status", "run_id", "details"):
        if payload.get(key) is not None:
            value = str(payload[key])
            parts.append(f"{key} {value[:12] if key == 'run_id' else value[:80]}")
    return ", ".join(parts)


@models.command()
@click.argument("name")
@click.option("--archived/--no-archived", default=True, help="Include archived versions.")
@json_option
@click.pass_context
def versions(ctx: click.Context, name: str, archived: bool, as_json: bool) -> None:
    """List the versions of a model, newest first."""
    from modelyard.registry import list_model_versions

    found = list_model_versions(name, include_archived=archived, client=_client(ctx))
    if as_json:
        echo_json({"model_versions": [v.to_dict() for v in found]})
        return
    if not found:
        click.echo(
            f"Model {name!r} has no versions" + ("" if archived else " that are not archived")
        )
        return
    _versions_table(found[::-1], f"Versions of {name}")


@models.command()
@click.argument("source")
@click.argument("name")
@click.option(
    "--artifact-path",
    default="model",
    show_default=True,
    help="Model folder when SOURCE is a run id.",
)
@click.option("--description", default=None, help="Description of the new version.")
@json_option
@click.pass_context
def register(
    ctx: click.Context,
    source: str,
    name: str,
    artifact_path: str,
    description: str | None,
    as_json: bool,
) -> None:
    """Register the model at SOURCE (runs:/RUN_ID/model or a run id) as the next version of NAME."""
    from modelyard.registry import register_model

    version = register_model(
        source, name, artifact_path=artifact_path, description=description, client=_client(ctx)
    )
    if as_json:
        echo_json(version.to_dict())
        return
    click.echo(f"Registered {version.uri} ({version.status}) from {version.source}")
    if version.status_message:
        click.echo(version.status_message)


@models.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead of setting it.")
@json_option
@click.pass_context
def alias(
    ctx: click.Context, name: str, alias: str, version: str | None, delete: bool, as_json: bool
) -> None:
    """Point ALIAS of model NAME at VERSION (or remove it with --delete); moves are recorded."""
    from modelyard.registry import delete_alias, set_alias

    client = _client(ctx)
    if delete:
        if version is not None:
            raise click.UsageError("--delete takes no VERSION")
        result = delete_alias(name, alias, client=client)
    else:
        if version is None:
            raise click.UsageError("give the VERSION to point the alias at, or --delete")
        result = set_alias(name, alias, version, client=client)  # type: ignore[arg-type]
    if as_json:
        echo_json(result.to_dict())
        return
    before = result.previous_version if result.previous_version is not None else "-"
    after = result.version if result.version is not None else "(deleted)"
    click.echo(f"{result.uri}: {before} → {after}")


@models.command()
@click.argument("name")
@click.argument("version")
@json_option
@click.pass_context
def archive(ctx: click.Context, name: str, version: str, as_json: bool) -> None:
    """Archive a version: still loadable by number, no longer models:/NAME/latest."""
    from modelyard.registry import archive_model_version

    result = archive_model_version(name, version, client=_client(ctx))  # type: ignore[arg-type]
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"{result.uri} is {result.status}")


@models.command()
@click.argument("name")
@click.argument("version")
@json_option
@click.pass_context
def restore(ctx: click.Context, name: str, version: str, as_json: bool) -> None:
    """Bring an archived version back to ready."""
    from modelyard.registry import restore_model_version

    result = restore_model_version(name, version, client=_client(ctx))  # type: ignore[arg-type]
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"{result.uri} is {result.status}")


@models.command()
@click.argument("name")
@click.argument("version_a")
@click.argument("version_b")
@click.option("--all", "show_all", is_flag=True, help="Also show rows that are the same.")
@json_option
@click.pass_context
def diff(
    ctx: click.Context, name: str, version_a: str, version_b: str, show_all: bool, as_json: bool
) -> None:
    """What changed from VERSION_A to VERSION_B: data, code, environment, params, metrics.

    Versions are numbers, 'latest' or alias names.
    """
    from modelyard.registry import diff_model_versions

    result = diff_model_versions(name, version_a, version_b, client=_client(ctx))
    if as_json:
        echo_json(result.to_dict())
        return
    rows = result.rows(show_all=show_all)
    if not rows:
        click.echo(f"No differences between versions {result.version_a} and {result.version_b}.")
    else:
        print_table(
            ["section", "key", f"v{result.version_a}", f"v{result.version_b}", "change"],
            [(s, k, fmt_value(a), fmt_value(b), note) for s, k, a, b, note in rows],
            title=f"{name}: v{result.version_a} → v{result.version_b}",
            caption=None if show_all else "only what differs; --all shows every row",
        )
    for d in result.data:
        if d.shifts:
            print_table(
                ["column", "kind", "score", "changes"],
                [
                    (
                        s.column,
                        s.kind,
                        fmt_value(s.score),
                        "; ".join(
                            f"{k} {fmt_value(a)} → {fmt_value(b)}"
                            for k, (a, b) in s.changes.items()
                        ),
                    )
                    for s in sorted(d.shifts, key=lambda s: -(s.score or 0.0))
                ],
                title=f"Profile shifts of {d.direction} {d.name!r}",
            )
    if result.code.stat:
        commits = f"{str(result.code.commit_a)[:12]} {str(result.code.commit_b)[:12]}"
        click.echo(f"git diff --stat {commits}:")
        click.echo(result.code.stat)


@models.command()
@click.argument("uri", required=False)
@click.option("--dataset", default=None, help="A dataset digest (or prefix): who used it.")
@click.option("--depth", default=3, show_default=True, type=int, help="Runs away to follow.")
@click.option("--dot", "as_dot", is_flag=True, help="Print Graphviz DOT.")
@click.option("--svg", "svg_path", default=None, help="Write the graph as an SVG picture here.")
@json_option
@click.pass_context
def lineage(
    ctx: click.Context,
    uri: str | None,
    dataset: str | None,
    depth: int,
    as_dot: bool,
    svg_path: str | None,
    as_json: bool,
) -> None:
    """Which data, code and environment made URI (models:/NAME/VERSION, models:/NAME@ALIAS),
    or with --dataset DIGEST which runs and model versions used a dataset."""
    from modelyard.registry import lineage as lineage_of
    from modelyard.registry import lineage_of_dataset

    client = _client(ctx)
    if dataset is not None:
        if uri is not None:
            raise click.UsageError("give a model URI or --dataset, not both")
        found = lineage_of_dataset(dataset, depth=depth, client=client)
        if as_json:
            echo_json(found.to_dict())
            return
        click.echo(f"dataset {found.digest} ({found.dataset.get('kind', '?')})")
        print_table(
            ["run", "name", "direction", "dataset", "context", "via", "status"],
            [
                (
                    u.run_id[:8],
                    u.run_name,
                    u.direction,
                    u.name,
                    u.context,
                    "direct" if u.distance == 0 else f"{u.distance} step(s): {u.digest[:8]}",
                    u.status,
                )
                for u in found.uses
            ],
            title="Runs that used it",
        )
        if found.model_versions:
            _versions_table(list(found.model_versions), "Model versions trained on it")
        else:
            click.echo("No model version was trained on it.")
        return
    if uri is None:
        raise click.UsageError("give a model URI (models:/NAME/VERSION) or --dataset DIGEST")
    graph = lineage_of(uri, depth=depth, client=client)
    if svg_path:
        from pathlib import Path

        Path(svg_path).write_text(graph.to_svg(), encoding="utf-8")
    if as_json:
        echo_json(graph.to_dict())
        return
    if as_dot:
        click.echo(graph.to_dot(), nl=False)
        return
    labels = {n.id: f"{n.kind} {n.label}" for n in graph.nodes}
    print_table(
        ["kind", "name", "id"],
        [(n.kind, n.label, n.id.split(":", 1)[1][:40]) for n in graph.nodes],
        title=f"Lineage of {uri}",
    )
    print_table(
        ["from", "relation", "to"],
        [(labels[e.source], e.kind, labels[e.target]) for e in graph.edges],
        title="Edges (in the direction data flows)",
    )
    if svg_path:
        click.echo(f"Wrote {svg_path}")
