"""The registry pages without a browser: models, a model, a version, its diff, and 404 pages.

A project is filled with the real SDK (two scikit-learn runs with ``yard.log_model`` and
``yard.log_input``, registered as ``churn`` v1 and v2, aliases moved, a reproduce verdict
recorded), and the UI is mounted on a plain FastAPI app over its stores, as in docs/ui.md.
Requests go to the app in-process (httpx ``ASGITransport``).
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

from modelyard.registry import LineageGraph, LineageNode
from modelyard.ui.svg import safe_svg

#: The second run's name: it shows up in tables and in the lineage picture, escaped.
HOSTILE = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Registry:
    settings: Any
    run_1: str
    run_2: str


def populate(root: Path) -> Registry:
    """``churn`` v1 (C=1, 8 rows) and v2 (C=0.1, 12 rows); champion 1 → 2, challenger → 1."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelyard as yard
    from modelyard.registry.versions import registry_store
    from modelyard.settings import Settings
    from modelyard.tracking import fluent

    settings = Settings.load(
        environ={},
        project_root=str(root),
        artifact_url=str(root / "artifacts"),
        capture_code=False,
        flush_interval=0.2,
    )
    yard.configure(settings)
    try:
        runs = []
        for c, rows, name in ((1.0, 8, "baseline"), (0.1, 12, HOSTILE)):
            frame = pd.DataFrame(
                {
                    "age": [20 + 3 * i for i in range(rows)],
                    "income": [1.5 * i for i in range(rows)],
                    "churned": [i % 2 for i in range(rows)],
                }
            )
            features = frame[["age", "income"]]
            with yard.start_run(experiment="registry-demo", name=name) as run:
                yard.log_input(frame, name="train", context="training")
                yard.log_params({"C": c, "max_iter": 100})
                model = LogisticRegression(C=c).fit(features, frame["churned"])
                yard.log_metrics({"accuracy": model.score(features, frame["churned"])})
                yard.log_metrics({"auc": 0.8 + c / 10})
                info = yard.log_model(model, name="model", input_example=features.head(3))
            yard.register_model(info, "churn")
            runs.append(run.id)
        yard.set_alias("churn", "champion", 1)
        yard.set_alias("churn", "champion", 2)
        yard.set_alias("churn", "challenger", 1)
        registry_store(yard.get_client()).record_reproduce(
            "churn",
            1,
            {
                "status": "reproduced",
                "details": "reproduced: 2 metrics match within rel 1e-06",
                "checked_at": 1_717_200_000_000,
                "new_run_id": runs[0],
                "warnings": ["numpy differs: 2.0.0 here"],
            },
            actor="ci@runner",
        )
    finally:
        yard.configure(settings)  # closes the SDK's client and its connections
        fluent._experiment = None
    return Registry(settings, runs[0], runs[1])


def ui_app(settings: Any) -> Any:
    """The UI alone, mounted on a plain FastAPI app over the stores of ``settings``."""
    from fastapi import FastAPI

    from modelyard.artifacts import open_artifact_store
    from modelyard.store.database import Database
    from modelyard.tracking.sqlstore import SqlTrackingStore
    from modelyard.ui import mount_ui

    application = FastAPI()
    application.state.store = SqlTrackingStore(Database.open(settings.database_url))
    application.state.artifacts = open_artifact_store(settings.artifact_url)
    application.state.settings = settings
    mount_ui(application)
    return application


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return populate(tmp_path_factory.mktemp("registry-ui"))


@pytest.fixture(scope="module")
def registry_app(registry: Registry) -> Iterator[Any]:
    application = ui_app(registry.settings)
    yield application
    application.state.store.db.dispose()


@pytest.fixture
def get(asgi_get: Any, registry_app: Any) -> Any:
    def fetch(path: str, **kwargs: Any) -> httpx.Response:
        return asgi_get(registry_app, path, **kwargs)  # type: ignore[no-any-return]

    return fetch


def title_of(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html)
    assert match, "page has no <title>"
    return match.group(1)


def chart_data(html: str) -> dict[str, Any]:
    match = re.search(r'id="version-chart-data">(.*?)</script>', html, re.S)
    assert match, "no chart data on the page"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def rows_of(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table, f"no table #{table_id}"
    return re.findall(r"<tr[^>]*>.*?</tr>", table.group(0), re.S)[1:]


# -- /models -----------------------------------------------------------------------------------


def test_models_page_lists_models_with_latest_version_and_aliases(get):
    response = get("/models")
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "Models · Modelyard"
    [row] = rows_of(html, "models")
    assert '<a href="/models/churn">churn</a>' in row
    assert '<a href="/models/churn/versions/2">v2</a>' in row
    assert "@champion → v2" in row and "@challenger → v1" in row
    assert "<time datetime=" in row
    # the top navigation links here, marked as the current section
    assert '<a class="nav-item active" href="/models" aria-current="page">Models</a>' in html
    assert 'title="Models: coming soon"' not in html


def test_models_page_when_nothing_is_registered(asgi_get, tmp_path):
    from modelyard.settings import Settings

    settings = Settings.load(
        environ={}, project_root=str(tmp_path), artifact_url=str(tmp_path / "artifacts")
    )
    application = ui_app(settings)
    try:
        html = asgi_get(application, "/models").text
    finally:
        application.state.store.db.dispose()
    assert "No registered models yet." in html and "yard.register_model(" in html


# -- /models/{name} ----------------------------------------------------------------------------


def test_model_page_shows_versions_metrics_and_alias_history(get, registry: Registry):
    response = get("/models/churn")
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "churn · model · Modelyard"
    versions = rows_of(html, "versions-table")
    assert [re.search(r'data-version="(\d+)"', r).group(1) for r in versions] == ["2", "1"]
    v2, v1 = versions
    assert "status-ready" in v2 and "@champion" in v2 and "@challenger" in v1
    assert f'href="/runs/{registry.run_1}"' in v1 and ">baseline</a>" in v1
    assert "&lt;img src=x onerror=alert(1)&gt;" in v2 and HOSTILE not in html
    assert "sklearn" in v1 and re.search(r'<code class="digest" title="[0-9a-f]{64}">', v1)
    assert '<th class="num" data-metric="accuracy">' in html and 'data-metric="auc"' in html
    assert ">0.9<" in v1 and ">0.81<" in v2
    data = chart_data(html)
    assert data["x"] == [1, 2] and data["labels"] == ["v1 @challenger", "v2 @champion"]
    assert data["metrics"]["auc"] == pytest.approx([0.9, 0.81])
    assert data["metric"] == "accuracy"  # every version has both; the first by name
    assert 'src="/static/vendor/plotly.min.js' in html
    history = rows_of(html, "alias-history-table")
    moves = [re.sub(r"<[^>]+>|\s+", " ", r).split() for r in history]
    assert [m[2:] for m in moves] == [  # newest first: when (2 words), alias, from, to, who
        ["@challenger", "—", "v1", moves[0][-1]],
        ["@champion", "v1", "v2", moves[1][-1]],
        ["@champion", "—", "v1", moves[2][-1]],
    ]
    assert 'id="history"' in html and "model_version.reproduced" in html


def test_model_page_chart_metric_is_chosen_in_the_url(get):
    html = get("/models/churn", params={"metric": "auc"}).text
    assert '<option value="auc" selected>' in html
    assert chart_data(html)["metric"] == "auc"
    unknown = get("/models/churn", params={"metric": "nope"}).text
    assert '<option value="accuracy" selected>' in unknown


# -- /models/{name}/versions/{version} ---------------------------------------------------------


def test_version_page_shows_signature_files_lineage_and_verdict(get, registry: Registry):
    response = get("/models/churn/versions/1")
    assert response.status_code == 200
    html = response.text
    assert title_of(html) == "churn v1 · model version · Modelyard"
    assert '<code id="version-uri">models:/churn/1</code>' in html
    assert f'<a id="run-link" href="/runs/{registry.run_1}">baseline</a>' in html
    signature = rows_of(html, "signature-table")
    assert ["input", "age", "long"] == re.findall(r"<td>(?:<code>)?([^<]*)", signature[0])[:3]
    assert "income" in signature[1] and 'data-side="output"' in signature[2]
    requirements = re.search(r'id="requirements-list">(.*?)</pre>', html, re.S).group(1)  # type: ignore[union-attr]
    assert "scikit-learn==" in requirements
    [model_file] = rows_of(html, "files-table")
    assert 'data-path="model.skops"' in model_file and "matches" in model_file
    assert f'href="/runs/{registry.run_1}/artifacts/model/model.skops?download=1"' in model_file
    svg = re.search(r'<div class="lineage" id="lineage-graph">(<svg.*?</svg>)</div>', html, re.S)
    assert svg, "the lineage picture is inline"
    picture = svg.group(1)
    assert 'role="img" aria-label="lineage of churn v1"' in picture
    assert "churn v1 @challenger" in picture and "train (" in picture and ">baseline<" in picture
    assert "<script" not in picture and "onerror" not in picture
    [dataset] = rows_of(html, "datasets-table")
    assert "train" in dataset and "input" in dataset and "8 × 3" in dataset
    assert "datasets.digest" in dataset
    verdict = re.search(r'id="reproduce-verdict">(.*?)</p>', html, re.S).group(1)  # type: ignore[union-attr]
    assert 'class="badge ok">reproduced' in verdict and "2 metrics match" in verdict
    assert "numpy differs" in html
    assert "Pick a version to see what changed" in html
    assert '<option value="2">v2 @champion</option>' in html


def test_version_page_with_a_hostile_run_name_stays_inert(get):
    html = get("/models/churn/versions/2").text
    assert HOSTILE not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the run link, escaped
    picture = re.search(r"(<svg.*?</svg>)", html, re.S).group(1)  # type: ignore[union-attr]
    assert "&lt;img src=x onerror=alert(1)&gt;" in picture  # the run's box in the picture
    assert "Not checked yet" in html


def test_diff_against_another_version_highlights_what_changed(get):
    response = get("/models/churn/versions/2", params={"diff": "1"})
    assert response.status_code == 200
    html = response.text
    assert "v1 → v2" in html and '<option value="1" selected>' in html
    table = re.search(r'<table class="table compare" id="compare-table">.*?</table>', html, re.S)
    assert table, "the diff table is on the page"
    rows = re.findall(r'<tr class="(differs|same)" data-key="([^"]*)">', table.group(0))
    sections = re.findall(r'<tbody data-section="(\w+)">', table.group(0))
    assert sections == ["model", "data", "code", "environment", "params", "metrics"]
    changed = {key for state, key in rows if state == "differs"}
    assert {"model_digest", "run_id", "input: train (training)", "C", "auc"} <= changed
    assert {"flavor", "max_iter", "commit"} <= {key for state, key in rows if state == "same"}
    assert f"only rows that differ ({len(changed)})" in html
    assert "rows 8 → 12" in html and "-0.09 (-10.00%)" in html


@pytest.mark.parametrize(
    ("diff", "message"),
    [("7", "has no version 7 (latest is 2)"), ("abc", "versions are numbers"), ("0", "no version")],
)
def test_a_bad_diff_choice_is_shown_inline(get, diff, message):
    response = get("/models/churn/versions/1", params={"diff": diff})
    assert response.status_code == 200
    error = re.search(r'id="diff-error">(.*?)</div>', response.text, re.S)
    assert error and message in error.group(1)


# -- errors and stable URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/models/fraud", "registered model &#39;fraud&#39; does not exist (there are: churn)"),
        ("/models/churn/versions/9", "model &#39;churn&#39; has no version 9 (latest is 2)"),
        ("/models/churn/versions/v1", "versions are numbers 1, 2, 3"),
        ("/models/churn/versions/99999999999", "has no version"),
        ("/models/fraud/versions/1", "&#39;fraud&#39; does not exist"),
        ("/models/churn/aliases/prod", "its aliases: challenger → 1, champion → 2"),
    ],
)
def test_unknown_model_or_version_is_a_friendly_404_page(get, path, message):
    response = get(path, headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert title_of(response.text) == "Not found · Modelyard"
    assert message in response.text and "Traceback" not in response.text


def test_alias_url_redirects_to_its_version(get):
    response = get("/models/churn/aliases/champion")
    assert response.status_code == 302
    assert response.headers["location"] == "/models/churn/versions/2"


# -- the lineage picture is sanitized ----------------------------------------------------------


def test_safe_svg_keeps_the_picture_and_drops_anything_active():
    hostile = (
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)" width="10">'
        "<script>alert(2)</script><style>*{}</style>"
        '<a href="javascript:alert(3)"><text>link</text></a>'
        "<foreignObject><div>x</div></foreignObject>"
        '<g class="node" onclick="alert(4)" style="fill:red"><title>t</title>'
        '<rect x="1" fill="url(https://evil.example/x)"/>'
        '<path d="M 0 0" marker-end="url(https://evil.example/m)"/>'
        '<path d="M 1 1" marker-end="url(#arrow)"/>'
        "<text>a &lt;b&gt; &amp; &quot;c&quot;</text></g></svg>"
    )
    clean = str(safe_svg(hostile, "a <picture>"))
    assert clean == (
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="a &lt;picture&gt;" '
        'width="10"><g class="node"><title>t</title><rect x="1"></rect>'
        '<path d="M 0 0"></path><path d="M 1 1" marker-end="url(#arrow)"></path>'
        '<text>a &lt;b&gt; &amp; "c"</text></g></svg>'
    )


def test_lineage_labels_are_user_data_and_stay_text():
    label = '</text></g><script>alert(1)</script><g onload="x">'
    graph = LineageGraph(root="run:1", nodes=(LineageNode("run:1", "run", label, {}),), edges=())
    clean = str(safe_svg(graph.to_svg()))
    assert "<script" not in clean and "<g onload" not in clean
    assert "&lt;/text&gt;&lt;/g&gt;&lt;script&gt;" in clean
    with pytest.raises(ValueError, match="not valid SVG"):
        safe_svg("<svg><g></svg>")
    with pytest.raises(ValueError, match="not an <svg>"):
        safe_svg("<html></html>")
