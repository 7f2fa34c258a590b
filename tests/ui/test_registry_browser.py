"""The registry pages in a real browser: Chromium (Playwright) against ``modelyard server``.

Two scikit-learn runs are logged with the real SDK and registered as ``churn`` v1 and v2
(``champion`` → v2); the whole server app (API and UI) runs on 127.0.0.1 in a thread. The
tab fails the test if any request leaves 127.0.0.1, a script throws, or a dialog opens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_tabs import watched_tab

HOSTILE = "<img src=x onerror=alert(1)>"


def populate(root: Path) -> Any:
    """``churn`` v1 (C=1, 8 rows) and v2 (C=0.1, 12 rows, a hostile run name), champion → v2."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelyard as yard
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
        for c, rows, name in ((1.0, 8, "baseline"), (0.1, 12, HOSTILE)):
            frame = pd.DataFrame(
                {
                    "age": [20 + 3 * i for i in range(rows)],
                    "income": [1.5 * i for i in range(rows)],
                    "churned": [i % 2 for i in range(rows)],
                }
            )
            features = frame[["age", "income"]]
            with yard.start_run(experiment="registry-demo", name=name):
                yard.log_input(frame, name="train", context="training")
                yard.log_params({"C": c})
                model = LogisticRegression(C=c).fit(features, frame["churned"])
                yard.log_metrics({"accuracy": model.score(features, frame["churned"])})
                yard.log_metrics({"auc": 0.8 + c / 10})
                info = yard.log_model(model, name="model", input_example=features.head(3))
            yard.register_model(info, "churn")
        yard.set_alias("churn", "champion", 2)
    finally:
        yard.configure(settings)  # closes the SDK's client and its connections
        fluent._experiment = None
    return settings


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from modelyard.server.runner import ThreadedServer

    settings = populate(tmp_path_factory.mktemp("registry-browser"))
    with ThreadedServer(settings) as server:
        yield server.url


@pytest.fixture
def tab(browser_context: Any, registry_server: str) -> Iterator[Any]:
    with watched_tab(browser_context) as page:
        yield page


def test_browse_models_versions_lineage_and_diff(tab, registry_server: str):
    base = registry_server
    tab.goto(base + "/")
    tab.click(".nav a[href='/models']")
    tab.wait_for_url(base + "/models")
    assert tab.title() == "Models · Modelyard"
    tab.click("#models >> text=churn")
    tab.wait_for_url(base + "/models/churn")
    assert tab.locator("h1").inner_text() == "churn"
    versions = tab.locator("#versions-table tbody tr")
    assert versions.count() == 2
    assert versions.nth(0).locator("td").nth(0).inner_text() == "v2"
    assert HOSTILE in versions.nth(0).inner_text()  # shown as text, never run

    # the chart of one metric across versions
    tab.wait_for_selector("#version-chart[data-state=ready]")
    trace = tab.evaluate(
        "() => { const t = document.getElementById('version-chart').data[0];"
        " return {x: t.x, y: t.y, text: t.text}; }"
    )
    assert trace["x"] == [1, 2] and trace["text"] == ["v1", "v2 @champion"]
    tab.select_option("#metric-select", "auc")
    tab.wait_for_selector("#version-chart[data-metric=auc][data-state=ready]")
    auc = tab.evaluate("() => document.getElementById('version-chart').data[0].y")
    assert auc == pytest.approx([0.9, 0.81])
    assert "metric=auc" in tab.url

    # a version: its lineage drawn as a picture
    versions.nth(0).locator("a", has_text="v2").click()
    tab.wait_for_url(base + "/models/churn/versions/2")
    assert tab.locator("#version-uri").inner_text() == "models:/churn/2"
    labels = tab.locator("#lineage-graph svg g.node text").all_text_contents()
    assert "churn v2 @champion" in labels and "model version" in labels
    assert any(label.startswith("train (") for label in labels)
    assert any(label.startswith("<img src=x") for label in labels)
    box = tab.locator("#lineage-graph svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 40
    assert tab.locator("#files-table .badge", has_text="matches").count() == 1

    # pick another version to diff against
    tab.select_option("#diff-select", "1")
    tab.click("#diff-button")
    tab.wait_for_url(re.compile(r".*/models/churn/versions/2\?diff=1#diff$"))
    changed = tab.eval_on_selector_all(
        "#compare-table tr.differs", "(rows) => rows.map((r) => r.dataset.key)"
    )
    assert {"model_digest", "input: train (training)", "C", "auc"} <= set(changed)
    highlight = tab.eval_on_selector(
        "#compare-table tr.differs[data-key=C] td", "(td) => getComputedStyle(td).backgroundColor"
    )
    plain = tab.eval_on_selector(
        "#compare-table tr.same[data-key=flavor] td", "(td) => getComputedStyle(td).backgroundColor"
    )
    assert highlight != plain
    tab.check("#only-differences")
    assert not tab.locator("#compare-table tr.same[data-key=flavor]").is_visible()
    assert tab.locator("#compare-table tr.differs[data-key=C]").is_visible()


def test_unknown_version_is_a_friendly_page(tab, registry_server: str):
    response = tab.goto(registry_server + "/models/churn/versions/9")
    assert response is not None and response.status == 404
    assert tab.title() == "Not found · Modelyard"
    assert "model 'churn' has no version 9 (latest is 2)" in tab.inner_text(".error-message")
