"""The pipeline pages: pipelines, a pipeline (its DAG and runs), a pipeline run, explain.

Pipelines run for real through the SDK (in-process executor) into a SQLite store: ``training``
three times (all steps run; all from the cache; ``c`` changed, so ``prepare`` from the cache),
and a pipeline with a hostile name whose first step fails. Pages are fetched in-process, and in
Chromium against the whole server app on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_tabs import watched_tab

from demo_flows import HOSTILE, hostile, training


@dataclass(frozen=True)
class Pipelines:
    settings: Any
    first: Any  # PipelineRun: every step ran
    second: Any  # every step from the cache
    third: Any  # c=2: prepare from the cache
    failed: Any  # the hostile pipeline: explode failed, after never started


def populate(root: Path) -> Pipelines:
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

    settings = Settings.load(
        environ={}, project_root=str(root), artifact_url=str(root / "artifacts"), flush_interval=0.2
    )
    client = TrackingClient(settings)
    try:
        runs = [
            training.run(max_workers=0, client=client),
            training.run(max_workers=0, client=client),
            training.run(c=2.0, max_workers=0, client=client),
            hostile.run(max_workers=0, client=client),
        ]
    finally:
        client.close()
    assert [r.status for r in runs] == ["FINISHED", "FINISHED", "FINISHED", "FAILED"]
    return Pipelines(settings, *runs)


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Pipelines:
    return populate(tmp_path_factory.mktemp("pipelines-ui"))


@pytest.fixture(scope="module")
def pipelines_app(pipelines: Pipelines) -> Iterator[Any]:
    from modelyard.server.app import create_app

    application = create_app(pipelines.settings)
    yield application
    application.state.store.db.dispose()


@pytest.fixture
def get(asgi_get: Any, pipelines_app: Any) -> Any:
    def fetch(path: str, **kwargs: Any) -> httpx.Response:
        return asgi_get(pipelines_app, path, **kwargs)  # type: ignore[no-any-return]

    return fetch


def title_of(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html)
    assert match, "page has no <title>"
    return match.group(1)


def rows_of(html: str, table: str) -> list[str]:
    match = re.search(rf'<table[^>]*id="{table}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, f"no table {table}"
    return re.findall(r"<tr\b.*?</tr>", match.group(1), re.S)


def test_pipelines_page_lists_pipelines_and_newest_runs(get, pipelines: Pipelines):
    response = get("/pipelines")
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "Pipelines · Modelyard"
    assert 'aria-current="page">Pipelines</a>' in html
    assert 'title="Pipelines: coming soon"' not in html
    rows = rows_of(html, "pipelines")
    assert len(rows) == 2
    training_row = next(r for r in rows if 'data-pipeline="training"' in r)
    assert 'href="/pipelines/training"' in training_row
    assert '<td class="num">3</td>' in training_row
    assert f'href="/pipelines/runs/{pipelines.third.run_id}"' in training_row
    assert HOSTILE not in html  # escaped everywhere
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    newest = rows_of(html, "pipeline-runs")
    assert [re.search(r'data-run-id="(\w+)"', r).group(1) for r in newest] == [  # type: ignore[union-attr]
        pipelines.failed.run_id,
        pipelines.third.run_id,
        pipelines.second.run_id,
        pipelines.first.run_id,
    ]
    assert "0 run · 3 cached" in newest[2] and "3 run · 0 cached" in newest[3]
    assert "1 failed" in newest[0]


def test_a_pipeline_page_draws_its_dag_and_tables_its_runs(get, pipelines: Pipelines):
    html = get("/pipelines/training").text
    assert title_of(html) == "training · pipeline · Modelyard"
    svg = re.search(r'id="pipeline-graph">(.*?)</div>', html, re.S).group(1)  # type: ignore[union-attr]
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    for name in ("prepare", "fit", "evaluate"):
        assert f'data-step="{name}"' in svg
    third = pipelines.third.steps
    assert f'data-run-id="{third["fit"].run_id}"' in svg  # a click opens the step run
    assert "finished (cached)" in svg  # prepare, in the newest run
    rows = rows_of(html, "pipeline-runs")
    assert len(rows) == 3
    assert 'title="param c"' in html and 'title="metric auc"' in html  # c varies across runs
    assert 'title="param n"' not in html  # n does not
    assert ">0.952381<" in rows[0]  # auc of c=2: 20 / 21
    assert 'id="explain-form"' in html
    data = json.loads(re.search(r'id="runs-chart-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data["x"] == [1, 2, 3] and data["metric"] == "auc"  # oldest first
    assert data["metrics"]["auc"] == pytest.approx([10 / 11, 10 / 11, 20 / 21])
    assert data["links"][-1] == f"/pipelines/runs/{pipelines.third.run_id}"
    assert data["labels"][-1] == f"{pipelines.third.run_id[:8]} c=2.0"
    picked = get("/pipelines/training", params={"metric": "w"}).text
    assert '<option value="w" selected>' in picked


def test_a_run_page_shows_steps_cache_hits_outputs_and_links(get, pipelines: Pipelines):
    run, first = pipelines.third, pipelines.first
    html = get(f"/pipelines/runs/{run.run_id}").text
    assert title_of(html) == f"training {run.run_id[:8]} · pipeline run · Modelyard"
    assert f'href="/runs/{run.run_id}"' in html  # the tracked run
    rows = {re.search(r'data-step="(\w+)"', r).group(1): r for r in rows_of(html, "steps-table")}  # type: ignore[union-attr]
    assert list(rows) == ["prepare", "fit", "evaluate"]
    assert 'data-cached="true"' in rows["prepare"]
    assert f'href="/runs/{first.steps["prepare"].run_id}"' in rows["prepare"]  # cached from
    assert "cached" not in rows["fit"] and ">ran<" in rows["fit"]
    assert f'href="/runs/{run.steps["fit"].run_id}"' in rows["fit"]
    ref = run.steps["fit"].outputs["output"]
    link = f"/runs/{run.steps['fit'].run_id}/artifacts/{ref.path}"
    assert f'href="{link}"' in rows["fit"]
    output = get(link)
    assert output.status_code == 200 and output.json() == {"w": 20.0}
    assert "2 run · 1 cached" in html
    assert 'id="explain-select"' in html and "Pick another run" in html


def test_explain_on_the_run_page_names_what_changed(get, pipelines: Pipelines):
    first, third = pipelines.first, pipelines.third
    html = get(f"/pipelines/runs/{third.run_id}", params={"explain": first.run_id[:8]}).text
    assert "2 of 3 steps have a different cache key." in html
    rows = {re.search(r'data-step="(\w+)"', r).group(1): r for r in rows_of(html, "explain-table")}  # type: ignore[union-attr]
    assert 'class="same"' in rows["prepare"]
    assert "param c: 1.0 -&gt; 2.0" in rows["fit"]
    assert 'data-part="input"' in rows["evaluate"]
    assert f'<option value="{first.run_id}" selected>' in html

    unknown = get(f"/pipelines/runs/{third.run_id}", params={"explain": "feedbeef"})
    assert unknown.status_code == 200  # the page stands; the explain section says why
    assert 'id="explain-error"' in unknown.text and "feedbeef" in unknown.text


def test_a_failed_run_shows_the_error_and_how_to_resume(get, pipelines: Pipelines):
    run = pipelines.failed
    html = get(f"/pipelines/runs/{run.run_id}").text
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="run-error"' in html and "bad &lt;input&gt; n=1" in html
    assert f"modelyard pipelines resume {run.run_id}" in html
    rows = rows_of(html, "steps-table")
    assert 'data-step="explode" data-status="FAILED"' in rows[0]
    assert 'data-step-error="explode"' in rows[1]
    assert 'data-step="after" data-status="SKIPPED"' in rows[2] and "never started" in rows[2]
    assert "This is the only run of" in html
    svg = re.search(r'id="pipeline-graph">(.*?)</div>', html, re.S).group(1)  # type: ignore[union-attr]
    assert "<img" not in svg


def test_unknown_pipelines_and_runs_are_404_pages(get):
    missing = get("/pipelines/no-such-pipeline")
    assert missing.status_code == 404
    assert "there is no pipeline &#39;no-such-pipeline&#39; with runs" in missing.text
    assert 'href="/pipelines"' in missing.text
    assert get("/pipelines/runs/0123abcd").status_code == 404
    assert get("/pipelines/runs/" + "z" * 40).status_code == 404


def test_an_empty_store_says_how_to_run_a_pipeline(asgi_get, tmp_path: Path):
    from modelyard.server.app import create_app
    from modelyard.settings import Settings

    app = create_app(Settings.load(environ={}, project_root=str(tmp_path)))
    try:
        html = asgi_get(app, "/pipelines").text
    finally:
        app.state.store.db.dispose()
    assert "No pipeline runs yet." in html and "modelyard pipelines run" in html


# -- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipelines_server(pipelines: Pipelines) -> Iterator[str]:
    from modelyard.server.runner import ThreadedServer

    with ThreadedServer(pipelines.settings) as server:
        yield server.url


@pytest.fixture
def tab(browser_context: Any, pipelines_server: str) -> Iterator[Any]:
    with watched_tab(browser_context) as page:
        yield page


def test_browse_from_the_nav_to_a_step_run_and_explain(tab, pipelines_server, pipelines):
    base, first, third = pipelines_server, pipelines.first, pipelines.third
    tab.goto(base + "/")
    tab.click(".nav a[href='/pipelines']")
    tab.wait_for_url(base + "/pipelines")
    tab.click("#pipelines >> text=training")
    tab.wait_for_url(base + "/pipelines/training")
    assert tab.locator("#pipeline-graph svg .step").count() == 3
    tab.wait_for_selector("#runs-chart[data-metric=auc][data-state=ready]")
    drawn = tab.evaluate("() => document.getElementById('runs-chart').data[0].y")
    assert drawn == pytest.approx([10 / 11, 10 / 11, 20 / 21])
    # explain run A -> run B from the pipeline page: lands on B's page with A picked
    tab.select_option("#explain-a", first.run_id)
    tab.select_option("#explain-b", third.run_id)
    tab.click("#explain-button")
    tab.wait_for_url(re.compile(rf".*/pipelines/runs/{third.run_id}\?explain={first.run_id}.*"))
    assert tab.locator("#explain-summary").inner_text() == (
        "2 of 3 steps have a different cache key."
    )
    # a click on a step of the DAG opens the step's own run
    tab.click("#pipeline-graph svg .step[data-step='fit']")
    tab.wait_for_url(base + f"/runs/{third.steps['fit'].run_id}")
    assert tab.locator("#run-name").inner_text() == "fit"


def test_tracked_runs_link_back_to_their_pipeline_pages(get, pipelines: Pipelines):
    run, first = pipelines.third, pipelines.first
    html = get(f"/runs/{run.run_id}").text
    link = re.search(r'id="pipeline-link">(.*?)</p>', html, re.S).group(1)  # type: ignore[union-attr]
    assert f'href="/pipelines/runs/{run.run_id}"' in link and 'href="/pipelines/training"' in link
    cached = get(f"/runs/{run.steps['prepare'].run_id}").text
    link = re.search(r'id="pipeline-link">(.*?)</p>', cached, re.S).group(1)  # type: ignore[union-attr]
    assert f'href="/pipelines/runs/{run.run_id}"' in link
    assert f'href="/runs/{first.steps["prepare"].run_id}"' in link  # computed by
    ran = get(f"/runs/{run.steps['fit'].run_id}").text
    link = re.search(r'id="pipeline-link">(.*?)</p>', ran, re.S).group(1)  # type: ignore[union-attr]
    assert "Step <strong>fit</strong>" in link and "served from the cache" not in link


def test_the_timeline_draws_a_bar_per_step_that_started(get, pipelines: Pipelines):
    run = pipelines.third
    html = get(f"/pipelines/runs/{run.run_id}").text
    svg = re.search(r'id="pipeline-timeline">(.*?)</div>', html, re.S).group(1)  # type: ignore[union-attr]
    bars = dict(re.findall(r'data-step="(\w+)".*?<rect x="([\d.]+)"', svg, re.S))
    assert list(bars) == ["prepare", "fit", "evaluate"]
    # steps ran one after the other here: each bar starts at or after the one before
    starts = [float(x) for x in bars.values()]
    assert starts == sorted(starts)
    assert f'data-run-id="{run.steps["fit"].run_id}"' in svg
    failed = get(f"/pipelines/runs/{pipelines.failed.run_id}").text
    svg = re.search(r'id="pipeline-timeline">(.*?)</div>', failed, re.S).group(1)  # type: ignore[union-attr]
    after = re.search(r'<g class="step skipped" data-step="after".*?</g>', svg, re.S)
    assert after and "<rect" not in after.group(0)  # never started: a name, no bar
