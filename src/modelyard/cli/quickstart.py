"""``modelyard quickstart``: train and track a few models here, then show what to run next."""

from __future__ import annotations

import click

from modelyard.cli.output import echo_json, fmt_value, json_option, print_table

__all__ = ["quickstart"]


@click.command()
@json_option
@click.pass_context
def quickstart(ctx: click.Context, as_json: bool) -> None:
    """Train four scikit-learn models on a bundled dataset, tracked in .modelyard/."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from modelyard.cli.main import settings_from
    from modelyard.quickstart import run_pipeline_demo, run_quickstart
    from modelyard.tracking.client import TrackingClient

    settings = settings_from(ctx)
    console = Console(stderr=as_json)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]training[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=4)
        seen: list[str] = []

        def step(name: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(name)
            bar.update(task, description=name)

        result = run_quickstart(settings, progress=step)
        bar.advance(task)
    with console.status("[bold]the same training as a pipeline[/bold], run twice"):
        demo = run_pipeline_demo(settings)
    runs = TrackingClient(settings).search_runs(
        result.experiment, order_by=["metrics.roc_auc desc"]
    )
    if as_json:
        echo_json(
            {
                "experiment": result.experiment,
                "best_run_id": result.best_run_id,
                "model_uri": result.model_uri,
                "model_version": result.model_version,
                "pipeline": {
                    "first_run_id": demo.first_run_id,
                    "second_run_id": demo.second_run_id,
                    "steps": [
                        {"step": name, "status": status, "cached_first": a, "cached_second": b}
                        for name, status, a, b in demo.steps
                    ],
                    "model_uri": demo.model_uri,
                },
                "runs": [
                    {"run_id": r.run_id, "name": r.name, "params": r.params, "metrics": r.metrics}
                    for r in runs
                ],
            }
        )
        return
    keys = ["roc_auc", "accuracy", "f1", "log_loss", "fit_seconds"]
    print_table(
        ["run", "name", "model", *keys],
        [
            [
                r.run_id[:8],
                r.name,
                r.params.get("model", ""),
                *[fmt_value(r.metrics.get(k)) for k in keys],
            ]
            for r in runs
        ],
        title=f"Experiment '{result.experiment}' — best first",
    )
    print_table(
        ["step", "first run", "second run"],
        [
            [name, "cached" if a else "ran", "cached" if b else "ran"]
            for name, _, a, b in demo.steps
        ],
        title="Pipeline prepare → train → evaluate, run twice",
        caption=f"second run {demo.second_run_id[:8]} reused every step; "
        f"its model is registered as {demo.model_uri}",
    )
    best = result.best_run_id
    console.print(
        f"\nBest: [bold]{result.best_name}[/bold] (roc_auc {result.best_auc:.4f}), "
        f"stored in {result.database_url}\n"
        f"Registered as {result.model_uri} (version {result.model_version})\n"
        "\n[bold]Next[/bold]\n"
        f"  modelyard runs show {best[:8]}        everything the best run recorded\n"
        f"  modelyard runs compare {runs[0].run_id[:8]} {runs[-1].run_id[:8]}"
        "   what differs between the best and the worst\n"
        '  modelyard runs list -e quickstart --filter "metrics.roc_auc > 0.99"\n'
        f"  modelyard models show {result.model_uri.split('/')[1].split('@')[0]}"
        "        the registered model, its versions and aliases\n"
        f"  modelyard models lineage {result.model_uri}   data, code and run behind it\n"
        f"  modelyard pipelines show {demo.second_run_id[:8]}"
        "    the pipeline run and its cache hits\n"
        "  modelyard server              the web UI at http://127.0.0.1:5050"
        f" (this pipeline run: /pipelines/runs/{demo.second_run_id})\n"
        '  python -c "import modelyard as yard; '
        "print(yard.search_runs('quickstart').to_pandas())\""
    )
