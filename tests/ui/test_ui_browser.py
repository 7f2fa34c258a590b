"""The UI in a real browser: Chromium (Playwright) against the real server on 127.0.0.1.

The ``page`` fixture fails a test when any request leaves 127.0.0.1 or a script throws.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

UIData = Any  # tests/ui/conftest.py: the session's stored data

ROWS = "#runs tbody tr[data-run-id]"


def column_texts(page: Any, column: str) -> list[str]:
    """The text of one column of the runs table, by its data-column id."""
    return page.evaluate(
        """(column) => {
            const heads = Array.from(document.querySelectorAll('#runs thead th'));
            const index = heads.findIndex((th) => th.dataset.column === column);
            return Array.from(document.querySelectorAll('#runs tbody tr[data-run-id]'))
                .map((row) => row.cells[index].textContent.trim());
        }""",
        column,
    )


def wait_for_charts(page: Any, count: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('.chart[data-state=ready]').length >= n", arg=count
    )


def traces(page: Any, key: str) -> list[dict[str, Any]]:
    """Type and number of points of each Plotly trace of the chart of metric ``key``."""
    return page.evaluate(
        """(key) => {
            const el = document.querySelector(`.chart[data-key="${key}"]`);
            return el.data.map((t) => ({type: t.type, points: t.x.length, name: t.name}));
        }""",
        key,
    )


def test_experiments_list_leads_to_the_runs_table(page, server, ui_data: UIData):
    page.goto(server + "/")
    assert page.title() == "Experiments · Modelyard"
    assert page.locator(".nav-item.soon").count() >= 3  # deployments, monitors, automations
    page.click("#experiments >> text=churn")
    page.wait_for_url(f"{server}/experiments/{ui_data.churn_id}")
    assert page.locator(ROWS).count() == 50
    assert page.locator("h1").inner_text() == "churn"


def test_search_box_filters_runs(page, server, ui_data: UIData):
    page.goto(f"{server}/experiments/{ui_data.churn_id}")
    page.fill("#filter", "params.optimizer = 'sgd' and metrics.auc > 0.6")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r".*filter=params\.optimizer.*"))
    assert set(column_texts(page, "params.optimizer")) == {"sgd"}
    aucs = [float(v) for v in column_texts(page, "metrics.auc")]
    assert aucs and min(aucs) > 0.6
    assert page.locator(ROWS).count() == len([i for i in range(60) if i % 3 == 0 and i > 20])


def test_malformed_filter_shows_the_error_inline_at_its_position(page, server, ui_data):
    page.goto(f"{server}/experiments/{ui_data.churn_id}")
    page.fill("#filter", "metrics.auc > 0.9 or params.lr = '0.1'")
    page.press("#filter", "Enter")
    page.wait_for_selector("#filter-error")
    message = page.inner_text("#filter-error")
    assert "invalid filter at position 18: OR is not supported" in message
    assert "^" in message
    assert page.evaluate("document.getElementById('filter').selectionStart") == 18
    assert page.locator("#runs").count() == 1  # the table is still on the page


def test_clicking_a_metric_header_sorts_by_it(page, server, ui_data: UIData):
    page.goto(f"{server}/experiments/{ui_data.churn_id}")
    page.click('th[data-column="metrics.auc"] a')
    page.wait_for_url(re.compile(r".*order_by=metrics\.auc\+desc.*"))
    assert page.locator(f"{ROWS} td.name a").first.inner_text() == "rich-run"
    aucs = [float(v) for v in column_texts(page, "metrics.auc") if v]
    assert aucs == sorted(aucs, reverse=True)
    page.click('th[data-column="metrics.auc"] a')
    page.wait_for_url(re.compile(r".*order_by=metrics\.auc\+asc.*"))
    assert page.locator(f"{ROWS} td.name a").first.inner_text() == "run-000"


def test_column_picker_keeps_the_choice_in_the_url(page, server, ui_data: UIData):
    page.goto(f"{server}/experiments/{ui_data.churn_id}")
    page.click("#column-picker summary")
    for box in page.locator("#column-picker input[type=checkbox]").all():
        box.uncheck()
    page.check('#column-picker input[value="metrics.auc"]')
    page.check('#column-picker input[value="params.lr"]')
    page.click("#column-picker button[type=submit]")
    page.wait_for_url(re.compile(r".*columns=metrics\.auc,params\.lr.*"))
    picked = page.eval_on_selector_all(
        "#runs thead th[data-column*='.']", "(ths) => ths.map((th) => th.dataset.column)"
    )
    assert picked == ["metrics.auc", "params.lr"]
    # a stable link: the same URL gives the same table
    page.goto(page.url)
    assert page.locator("#runs thead th[data-column='params.lr']").count() == 1


def test_next_page(page, server, ui_data: UIData):
    page.goto(f"{server}/experiments/{ui_data.churn_id}")
    first = set(page.eval_on_selector_all(ROWS, "(rows) => rows.map((r) => r.dataset.runId)"))
    page.click("#next-page")
    page.wait_for_url(re.compile(r".*page_token=.*"))
    assert page.inner_text("#page-range") == "runs 51–63"
    second = set(page.eval_on_selector_all(ROWS, "(rows) => rows.map((r) => r.dataset.runId)"))
    assert len(second) == 13 and not first & second
    page.click("#prev-page")
    page.wait_for_url(f"{server}/experiments/{ui_data.churn_id}")
    assert page.locator(ROWS).count() == 50


def test_tick_two_runs_and_compare(page, server, ui_data: UIData):
    page.goto(f"{server}/experiments/{ui_data.churn_id}")
    assert page.is_disabled("#compare-button")
    page.check(f'tr[data-run-id="{ui_data.rich_run}"] input[name=runs]')
    assert page.is_disabled("#compare-button")
    page.check(f'tr[data-run-id="{ui_data.small_runs[-1]}"] input[name=runs]')
    assert page.is_enabled("#compare-button")
    page.click("#compare-button")
    page.wait_for_url(f"{server}/compare?runs={ui_data.rich_run},{ui_data.small_runs[-1]}")
    wait_for_charts(page, 2)
    assert page.locator(".js-plotly-plot").count() == 2
    loss = traces(page, "loss")
    assert [t["name"] for t in loss] == ["rich-run", "run-059"]
    assert loss[0]["type"] == "scattergl" and loss[0]["points"] <= 5000
    assert loss[1]["points"] == 20
    assert page.locator("#compare-table tr.differs[data-key='lr']").count() == 1
    page.check("#only-differences")
    assert page.locator("#compare-table tr[data-key='status']").is_hidden()


def test_run_page_charts_downsample_and_toggle_the_x_axis(page, server, ui_data: UIData):
    page.goto(f"{server}/runs/{ui_data.rich_run}")
    assert page.title() == "rich-run · run · Modelyard"
    assert "num_leaves" in page.inner_text("#params-table")
    assert "0.97" in page.inner_text("#metrics-table")
    wait_for_charts(page, 4)
    loss = traces(page, "loss")
    assert len(loss) == 1 and loss[0]["type"] == "scattergl"
    assert 4000 < loss[0]["points"] <= 5000  # 12,000 points, thinned on the server
    assert "12,000 points · showing" in page.inner_text("#chart-3 figcaption")
    assert traces(page, "accuracy")[0]["points"] == ui_data.accuracy_points
    assert traces(page, "val loss")[0]["points"] == 30
    page.check("input[name=x-axis][value=time]")
    page.wait_for_function(
        "document.querySelector('.chart[data-key=loss]').layout.xaxis.type === 'date'"
    )
    wait_for_charts(page, 4)
    assert "x=time" in page.url
    assert (
        page.evaluate("document.querySelector('.chart[data-key=accuracy]').layout.xaxis.type")
        == "date"
    )


def test_dataset_profile_histograms(page, server, ui_data: UIData):
    page.goto(f"{server}/runs/{ui_data.rich_run}#datasets")
    dataset = page.locator('[data-dataset="train"]')
    assert "500 × 4" in dataset.inner_text()
    assert dataset.locator('.profile-col[data-column="age"] svg.hist rect').count() == 20
    assert dataset.locator('.profile-col[data-column="city"] svg.hist rect').count() == 4
    dataset.locator(".schema summary").click()
    assert "income" in dataset.locator(".schema table").inner_text()


def test_artifact_previews_and_download(page, server, ui_data: UIData, tmp_path: Path):
    page.goto(f"{server}/runs/{ui_data.rich_run}")
    page.click('.artifact-link[data-path="plots/curve.png"]')
    page.wait_for_selector("#preview-image")
    page.wait_for_function("document.getElementById('preview-image').complete")
    assert page.evaluate("document.getElementById('preview-image').naturalWidth") == 64
    page.click('.artifact-link[data-path="config.json"]')
    text = page.inner_text("#preview-text")
    assert text.startswith('{\n  "model": {\n    "kind": "lgbm"')
    page.click('.artifact-link[data-path="data/sample.csv"]')
    assert page.locator("#preview-csv tbody tr").count() == 20
    assert page.locator("#preview-csv thead th").all_inner_texts() == ["id", "age", "city"]
    with page.expect_download() as download:
        page.click("#preview-download")
    assert Path(download.value.path()).read_text() == ui_data.csv_text
    with page.expect_download() as download:
        page.click('.download[href*="model/weights.bin"]')
    assert download.value.suggested_filename == "weights.bin"
    assert Path(download.value.path()).read_bytes() == ui_data.weights
    assert "+EPOCHS = 20" in page.inner_text("#diff .d-add >> nth=1")


def test_unknown_run_is_a_friendly_404(page, server):
    response = page.goto(f"{server}/runs/0123456789abcdef0123456789abcdef")
    assert response.status == 404
    assert page.title() == "Not found · Modelyard"
    assert "does not exist" in page.inner_text(".error-message")
    page.click("text=Back to the experiments")
    page.wait_for_url(f"{server}/")


def test_screenshots(page, server, ui_data: UIData, tmp_path: Path):
    """Pictures to look at: the runs table, the run page, the comparison at 800 px."""
    page.goto(f"{server}/experiments/{ui_data.churn_id}?order_by=metrics.auc+desc")
    page.screenshot(path=tmp_path / "runs-1280.png")
    page.goto(f"{server}/runs/{ui_data.rich_run}?artifact=plots/curve.png")
    wait_for_charts(page, 4)
    page.screenshot(path=tmp_path / "run-1280.png", full_page=True)
    page.set_viewport_size({"width": 800, "height": 900})
    runs = f"{ui_data.rich_run},{ui_data.small_runs[0]},{ui_data.small_runs[1]}"
    page.goto(f"{server}/compare?runs={runs}")
    wait_for_charts(page, 2)
    page.screenshot(path=tmp_path / "compare-800.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 800  # nothing wider than the window at 800 px
    for name in ("runs-1280.png", "run-1280.png", "compare-800.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    print(f"\nscreenshots in {tmp_path}")
