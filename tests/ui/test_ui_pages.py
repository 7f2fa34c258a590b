"""The UI pages without a browser: status codes, key content, errors and artifact paths.

Requests go to the app in-process through httpx's ``ASGITransport``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from modelyard.store.search import next_page_token

UIData = Any  # tests/ui/conftest.py: the session's stored data


@pytest.fixture
def get(asgi_get: Any, app: Any) -> Any:
    """``get(path, **kwargs)``: GET ``path`` from the session's app, in-process."""

    def fetch(path: str, **kwargs: Any) -> httpx.Response:
        return asgi_get(app, path, **kwargs)  # type: ignore[no-any-return]

    return fetch


def run_ids_in(html: str) -> list[str]:
    return re.findall(r'<tr data-run-id="([0-9a-f]+)"', html)


def title_of(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html)
    assert match, "page has no <title>"
    return match.group(1)


# -- experiments and the runs table ------------------------------------------------------------


def test_experiments_page_lists_experiments_with_counts(get, ui_data: UIData):
    response = get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert title_of(html) == "Experiments · Modelyard"
    assert f'href="/experiments/{ui_data.churn_id}">churn</a>' in html
    assert f'href="/experiments/{ui_data.big_id}">big</a>' in html
    assert "10,000" in html
    # the small runs, the rich run, its child and the failed run
    assert f">{ui_data.churn_runs + 3}<" in html
    for section in ("Deployments", "Monitors", "Automations"):
        assert f'title="{section}: coming soon"' in html


def test_runs_page_shows_one_page_with_sortable_headers(get, ui_data: UIData):
    response = get(f"/experiments/{ui_data.churn_id}")
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "churn · runs · Modelyard"
    assert len(run_ids_in(html)) == 50
    assert "rich-run" in html and "broken-run" in html
    assert 'data-column="metrics.auc"' in html and 'data-column="params.lr"' in html
    assert "order_by=metrics.auc+desc" in html  # clicking the auc header sorts descending
    assert 'id="next-page"' in html and 'id="prev-page"' not in html
    assert 'action="/compare"' in html


def test_runs_page_filters_with_the_search_language(get, ui_data: UIData):
    response = get(
        f"/experiments/{ui_data.churn_id}", params={"filter": "params.optimizer = 'sgd'"}
    )
    assert response.status_code == 200
    ids = run_ids_in(response.text)
    assert len(ids) == ui_data.churn_runs // 3
    assert set(ids) <= set(ui_data.small_runs)
    assert 'value="params.optimizer = &#39;sgd&#39;"' in response.text


def test_malformed_filter_is_an_inline_error_with_its_position(get, ui_data: UIData):
    response = get(f"/experiments/{ui_data.churn_id}", params={"filter": "params.lr < '0.1'"})
    assert response.status_code == 400
    html = response.text
    assert 'id="filter-error"' in html
    assert "invalid filter at position 10" in html
    assert "\n              ^" in html  # the caret under the operator
    assert 'data-error-position="10"' in html
    assert "Hint:" in html
    assert 'id="runs"' in html  # the page is still there, with its search box
    assert "Traceback" not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page_token": "not-a-token"}, "is not a token returned by search_runs"),
        ({"order_by": "datasets.name"}, "cannot be ordered by a dataset field"),
        ({"columns": "foo.bar"}, "is not a metrics.&lt;key&gt;"),
    ],
)
def test_bad_table_parameters_are_inline_errors(get, ui_data: UIData, params, message):
    response = get(f"/experiments/{ui_data.churn_id}", params=params)
    assert response.status_code == 400
    assert message in response.text
    assert 'id="filter-error"' in response.text


def test_sorting_by_a_metric_both_ways(get, ui_data: UIData):
    path = f"/experiments/{ui_data.churn_id}"
    desc = get(path, params={"order_by": "metrics.auc desc"}).text
    assert run_ids_in(desc)[0] == ui_data.rich_run  # auc 0.97
    assert 'class="sort sorted sorted-desc"' in desc
    assert "order_by=metrics.auc+asc" in desc  # the next click flips the direction
    asc = get(path, params={"order_by": "metrics.auc asc"}).text
    assert run_ids_in(asc)[0] == ui_data.small_runs[0]  # auc 0.5


def test_columns_parameter_picks_the_columns(get, ui_data: UIData):
    path = f"/experiments/{ui_data.churn_id}"
    html = get(path, params={"columns": "metrics.auc,params.lr"}).text
    assert re.findall(r'<th class="[^"]*" data-column="((?:metrics|params)\.[^"]+)"', html) == [
        "metrics.auc",
        "params.lr",
    ]
    assert "columns=metrics.auc,params.lr" in html  # kept in the sort links
    repeated = get(f"{path}?columns=metrics.auc&columns=params.lr").text
    assert 'data-column="params.lr"' in repeated
    none = get(path, params={"columns": ""}).text
    assert 'data-column="metrics.' not in none and 'data-column="params.' not in none
    spaced = get(path, params={"columns": "metrics.val loss"}).text
    assert "order_by=metrics.%60val+loss%60+desc" in spaced  # quoted for the filter language


def test_pages_follow_page_tokens_without_overlap(get, ui_data: UIData):
    path = f"/experiments/{ui_data.churn_id}"
    first = get(path).text
    link = re.search(r'id="next-page" href="([^"]+)"', first)
    assert link
    token = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)["page_token"][0]
    second = get(path, params={"page_token": token}).text
    ids = run_ids_in(first) + run_ids_in(second)
    assert len(ids) == len(set(ids)) == ui_data.churn_runs + 3
    assert 'id="prev-page"' in second and 'id="next-page"' not in second
    assert "runs 51–63" in second
    assert 'id="prev-page" href="/experiments/' in second


def test_previous_link_of_a_later_page_carries_a_token(get, ui_data: UIData):
    token = next_page_token(0, 5100)
    html = get(f"/experiments/{ui_data.big_id}", params={"page_token": token}).text
    prev = re.search(r'id="prev-page" href="([^"]+)"', html)
    assert prev
    back = parse_qs(urlsplit(prev.group(1).replace("&amp;", "&")).query)["page_token"][0]
    assert back == next_page_token(0, 5050)
    assert "runs 5,101–5,150" in html


# -- the run page ------------------------------------------------------------------------------


def test_run_page_shows_what_the_run_recorded(get, ui_data: UIData):
    response = get(f"/runs/{ui_data.rich_run}")
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "rich-run · run · Modelyard"
    for text in ("num_leaves", "optimizer", "0.97", "stage", "core"):
        assert text in html
    assert f"/ui/data/runs/{ui_data.rich_run}/metrics/loss" in html
    assert f"/ui/data/runs/{ui_data.rich_run}/metrics/val%20loss" in html
    assert "/static/vendor/plotly.min.js?v=" in html
    # code: commit, dirty flag, the diff coloured line by line
    assert "3b18e51c0ffee0ddba11c0de5eed1deadbeef000" in html
    assert 'id="dirty-flag">dirty' in html
    assert '<span class="d-add">+LEARNING_RATE = 0.05</span>' in html
    assert '<span class="d-del">-LEARNING_RATE = 0.1</span>' in html
    assert '<span class="d-hunk">@@ -1,5 +1,6 @@</span>' in html
    # environment: packages collapsed
    assert '<details class="packages" id="packages">' in html
    assert "fastapi" in html
    # datasets: digest, shape, schema and one histogram per profiled column
    assert 'data-dataset="train"' in html and "500 × 4" in html
    assert html.count('<svg class="hist"') == 4
    assert "datasets.digest" in html
    # artifacts: the tree with sizes and download links
    for path in ("plots/curve.png", "config.json", "data/sample.csv", "model/weights.bin"):
        assert f"/runs/{ui_data.rich_run}/artifacts/{path}?download=1" in html
    assert "child-run" in html  # its child run
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;" in html  # values are escaped
    assert "<b>bold</b>" not in html


def test_child_and_failed_runs(get, ui_data: UIData):
    child = get(f"/runs/{ui_data.child_run}").text
    assert f'id="parent-link" href="/runs/{ui_data.rich_run}">rich-run</a>' in child
    failed = get(f"/runs/{ui_data.failed_run}").text
    assert 'id="run-error"' in failed and "ValueError: bad input" in failed
    assert "status-failed" in failed


def test_run_id_prefix_redirects_to_the_full_id(get, ui_data: UIData):
    response = get(f"/runs/{ui_data.rich_run[:10]}?x=time")
    assert response.status_code == 302
    assert response.headers["location"] == f"/runs/{ui_data.rich_run}?x=time"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("config.json", '<pre class="code" id="preview-text">{\n  "model": {\n    "kind"'),
        ("notes.txt", '<pre class="code" id="preview-text">trained for 12,000 steps'),
        ("plots/curve.png", '<img id="preview-image" src="/runs/RUN/artifacts/plots/curve.png"'),
        ("model/weights.bin", "no preview for this kind of file"),
        ("_modelyard/code.diff", "+EPOCHS = 20"),
    ],
)
def test_artifact_previews(get, ui_data: UIData, path, expected):
    html = get(f"/runs/{ui_data.rich_run}", params={"artifact": path}).text
    assert expected.replace("RUN", ui_data.rich_run) in html.replace("&#34;", '"')
    assert f'class="artifact-link selected" href="/runs/{ui_data.rich_run}?artifact=' in html


def test_csv_preview_shows_the_first_twenty_rows(get, ui_data: UIData):
    html = get(f"/runs/{ui_data.rich_run}", params={"artifact": "data/sample.csv"}).text
    table = html.split('id="preview-csv"', 1)[1].split("</table>", 1)[0]
    assert "<th>id</th><th>age</th><th>city</th>" in table
    assert table.count("<tr>") == 21  # the header row and 20 rows
    assert "<td>city-19</td>" in table and "city-20" not in table
    assert "Showing the beginning only" in html


@pytest.mark.parametrize("wanted", ["nope.txt", "../secret", "%2e%2e/x"])
def test_unknown_or_bad_preview_is_shown_inline(get, ui_data: UIData, wanted):
    response = get(f"/runs/{ui_data.rich_run}", params={"artifact": wanted})
    assert response.status_code == 200
    assert 'id="preview-error"' in response.text


# -- artifact files ----------------------------------------------------------------------------


def test_download_returns_the_exact_bytes(get, ui_data: UIData):
    url = f"/runs/{ui_data.rich_run}/artifacts/model/weights.bin"
    response = get(url, params={"download": "1"})
    assert response.status_code == 200
    assert response.content == ui_data.weights
    assert response.headers["content-disposition"].startswith('attachment; filename="weights.bin"')
    assert response.headers["content-length"] == str(len(ui_data.weights))
    assert response.headers["x-content-type-options"] == "nosniff"
    cached = get(url, headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""


def test_images_and_text_are_served_inline(get, ui_data: UIData):
    image = get(f"/runs/{ui_data.rich_run}/artifacts/plots/curve.png")
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert image.content == ui_data.png
    text = get(f"/runs/{ui_data.rich_run}/artifacts/data/sample.csv")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == ui_data.csv_text
    assert "sandbox" in text.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "%252e%252e%252fetc%252fpasswd",
        "/etc/passwd",
        "a%00b",
        "..%5c..%5cwindows%5cwin.ini",
        "plots/%2e/curve.png",
        "~/x",
    ],
)
def test_artifact_paths_that_escape_are_refused_with_400(get, ui_data: UIData, path):
    response = get(f"/runs/{ui_data.rich_run}/artifacts/{path}")
    assert response.status_code == 400, path
    assert "is not allowed" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_artifact_is_a_404_page(get, ui_data: UIData):
    response = get(f"/runs/{ui_data.rich_run}/artifacts/missing.txt")
    assert response.status_code == 404
    assert "has no artifact" in response.text


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/runs/0123456789abcdef0123456789abcdef", 404, "does not exist"),
        ("/runs/zz", 404, "does not exist"),
        ("/experiments/999999", 404, "experiment 999999 does not exist"),
        ("/experiments/churn", 404, "experiment ids are numbers"),
        ("/compare?runs=abc", 400, "compare needs 2 to 10 runs, got 1"),
        ("/compare", 400, "compare needs 2 to 10 runs, got 0"),
        ("/compare?runs=" + ",".join(f"{i:032x}" for i in range(11)), 400, "got 11"),
        ("/compare?runs=0000aaaa,0000bbbb", 404, "does not exist"),
    ],
)
def test_errors_are_friendly_pages(get, path, status, message):
    response = get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert message in html
    assert 'href="/">← Back to the experiments</a>' in html
    assert "<title>" in html and "Traceback" not in html


# -- comparison --------------------------------------------------------------------------------


def test_compare_page_overlays_and_highlights(get, ui_data: UIData):
    a, b = ui_data.rich_run, ui_data.small_runs[0]
    response = get("/compare", params={"runs": f"{a},{b}"})
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "Compare 2 runs · Modelyard"
    assert f'data-runs="{a},{b}"' in html
    assert "/ui/data/compare/metrics/loss" in html and "/ui/data/compare/metrics/auc" in html
    assert "Logged by one run only: accuracy, val loss." in html
    assert '<tr class="differs" data-key="lr">' in html
    assert '<tr class="same" data-key="status">' in html
    repeated = get(f"/compare?runs={a}&runs={b}")
    assert repeated.status_code == 200


# -- chart data --------------------------------------------------------------------------------


def test_metric_data_is_downsampled_above_the_threshold(get, ui_data: UIData):
    body = get(f"/ui/data/runs/{ui_data.rich_run}/metrics/loss").json()
    assert body["points"] == ui_data.loss_points and body["downsampled"] is True
    assert body["shown"] == len(body["x"]) == len(body["y"]) <= 5000
    assert body["x"][0] == 0 and body["x"][-1] == ui_data.loss_points - 1
    assert body["x"] == sorted(body["x"])
    small = get(f"/ui/data/runs/{ui_data.rich_run}/metrics/accuracy?x=time").json()
    assert small["points"] == small["shown"] == ui_data.accuracy_points and not small["downsampled"]
    assert small["x_axis"] == "time" and small["x"][0] > 1_700_000_000_000
    spaced = get(f"/ui/data/runs/{ui_data.rich_run}/metrics/{quote('val loss')}").json()
    assert spaced["key"] == "val loss" and spaced["points"] == 30


def test_compare_data_has_one_series_per_run(get, ui_data: UIData):
    runs = f"{ui_data.rich_run},{ui_data.small_runs[0]},{ui_data.small_runs[1]}"
    body = get("/ui/data/compare/metrics/loss", params={"runs": runs}).json()
    assert [s["run_id"] for s in body["series"]] == runs.split(",")
    assert [s["points"] for s in body["series"]] == [ui_data.loss_points, 20, 20]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/ui/data/runs/{run}/metrics/nope", 404, "NotFound"),
        ("/ui/data/runs/{run}/metrics/loss?x=epoch", 400, "InvalidArgument"),
        ("/ui/data/runs/ffff/metrics/loss", 404, "NotFound"),
        ("/ui/data/compare/metrics/loss", 400, "InvalidArgument"),
    ],
)
def test_data_errors_use_the_json_error_shape(get, ui_data: UIData, path, status, code):
    response = get(path.format(run=ui_data.rich_run))
    assert response.status_code == status
    body = response.json()
    assert body["status"] == status and body["error"]["code"] == code
    assert body["error"]["message"]


# -- static files ------------------------------------------------------------------------------


def test_static_files_and_plotly_from_the_installed_package(get):
    plotly = get("/static/vendor/plotly.min.js")
    assert plotly.status_code == 200
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert "immutable" in plotly.headers["cache-control"]
    assert b"window.Plotly" in plotly.content[-200:]
    css = get("/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert get("/static/nope.js").status_code == 404
    assert get("/static/../conftest.py").status_code == 404


def test_pages_say_how_to_get_charts_without_plotly(ui_data: UIData, app, asgi_get, monkeypatch):
    from fastapi import FastAPI

    from modelyard.ui import mount_ui

    monkeypatch.setitem(sys.modules, "plotly", None)  # as if plotly were not installed
    bare = FastAPI()
    for name in ("store", "artifacts", "settings"):
        setattr(bare.state, name, getattr(app.state, name))
    mount_ui(bare)
    html = asgi_get(bare, f"/runs/{ui_data.rich_run}").text
    assert "pip install plotly" in html
    assert "plotly.min.js" not in html
    assert 'id="params-table"' in html  # the tables are all there
    missing = asgi_get(bare, "/static/vendor/plotly.min.js")
    assert missing.status_code == 404 and "pip install plotly" in missing.text


def test_ui_routes_stay_out_of_the_openapi_schema(app):
    paths = app.openapi()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/runs", "/ui/", "/static"))]


def test_pages_are_html_with_a_title_and_no_outside_links(get, ui_data: UIData):
    for path in ("/", f"/experiments/{ui_data.big_id}", f"/runs/{ui_data.child_run}"):
        html = get(path).text
        assert html.startswith("<!doctype html>")
        assert title_of(html)
        assert "http://" not in html.replace("http://www.w3.org", "")
        assert "https://" not in html.replace("https://example.invalid", "")
    assert json.loads(get(f"/ui/data/runs/{ui_data.child_run}/metrics/loss").text)["y"] == [0.5]


def test_column_picker_offers_keys_of_recent_runs_and_picked_ones(get, app, ui_data: UIData):
    from modelyard.ui.queries import count_runs, experiment_keys

    store = app.state.store
    assert experiment_keys(store, ui_data.churn_id, recent=1).metrics == ()  # broken-run
    assert experiment_keys(store, ui_data.churn_id, recent=2).metrics == ("loss",)
    assert experiment_keys(store, ui_data.big_id).params == ("depth", "lr", "optimizer")
    assert count_runs(store, ui_data.big_id) == ui_data.big_runs
    html = get(f"/experiments/{ui_data.big_id}", params={"columns": "params.retired"}).text
    assert '<input type="checkbox" name="columns" value="params.retired" checked>' in html
