"""The UI's pure parts: downsampling, the runs-table URL state, profiles, previews."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelyard.errors import InvalidArgument
from modelyard.tracking.entities import Artifact, Metric
from modelyard.ui.datasets import CHART_HEIGHT, column_views
from modelyard.ui.previews import artifact_kind, artifact_tree, content_type, diff_lines
from modelyard.ui.render import fmt_duration, fmt_size, fmt_value
from modelyard.ui.series import metric_series, minmax_indices, parse_x_axis
from modelyard.ui.table import TableQuery, default_columns, sort_key


def test_short_series_are_kept_whole():
    assert minmax_indices(np.arange(10.0), 100).tolist() == list(range(10))


@pytest.mark.parametrize(
    ("n", "limit"), [(5001, 5000), (12_000, 5000), (1_000_000, 5000), (99, 10)]
)
def test_downsampling_keeps_ends_spikes_and_order(n, limit):
    rng = np.random.default_rng(1)
    values = rng.normal(size=n)
    values[n // 3] = 50.0  # a spike
    values[2 * n // 3] = -50.0
    keep = minmax_indices(values, limit)
    assert len(keep) <= limit
    assert keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0)
    assert n // 3 in keep and 2 * n // 3 in keep
    assert len(keep) > limit * 0.9  # the budget is used


def test_downsampling_keeps_gaps_of_missing_values():
    values = np.linspace(0, 1, 10_000)
    values[4000:6000] = np.nan
    values[7000] = np.inf
    keep = minmax_indices(values, 100)
    assert any(4000 <= i < 6000 for i in keep)  # the gap stays visible
    assert len(keep) <= 100


def test_metric_series_by_step_and_time():
    history = [Metric("loss", step, 1000 - step, float(step)) for step in range(10)]
    history.append(Metric("loss", 10, 5000, math.nan))
    by_step = metric_series(history, "step")
    assert by_step["x"] == list(range(11)) and by_step["y"][-1] is None
    by_time = metric_series(history, "time")
    assert by_time["x"] == sorted(by_time["x"]) and by_time["x"][0] == 991
    assert by_time["points"] == by_time["shown"] == 11 and by_time["downsampled"] is False
    big = [Metric("m", i, i, float(i % 7)) for i in range(20_000)]
    assert metric_series(big, "step", max_points=1000)["shown"] <= 1000


def test_x_axis_names():
    assert parse_x_axis(None) == "step" and parse_x_axis("time") == "time"
    with pytest.raises(InvalidArgument, match="expected 'step' or 'time'"):
        parse_x_axis("epoch")


def test_table_query_round_trips_through_the_url():
    query = TableQuery.parse(
        [
            ("filter", " metrics.auc > 0.9 "),
            ("order_by", "metrics.auc desc"),
            ("columns", "metrics.auc,params.lr"),
            ("columns", "params.lr,tags.team"),
            ("page_token", "abc"),
            ("other", "ignored"),
        ]
    )
    assert query.filter == "metrics.auc > 0.9"
    assert query.columns == ("metrics.auc", "params.lr", "tags.team")
    url = query.url("/experiments/3")
    assert TableQuery.parse([]) == TableQuery()  # an empty query is the default state
    assert url.startswith("/experiments/3?filter=metrics.auc+%3E+0.9&order_by=metrics.auc+desc")
    assert TableQuery.parse([("columns", "")]).columns == ()
    assert TableQuery.parse([]).columns is None


def test_sort_links_toggle_and_quote():
    query = TableQuery(order_by=("metrics.auc desc",))
    assert query.sorted_by("metrics.auc") == "desc"
    assert "order_by=metrics.auc+asc" in query.sort_url("/e/1", "metrics.auc")
    assert "order_by=params.lr+asc" in query.sort_url("/e/1", "params.lr")
    assert TableQuery().sorted_by("start_time") == "desc"  # the store's default order
    assert TableQuery(order_by=("attributes.name",)).sorted_by("name") == "asc"
    assert TableQuery(order_by=("metric.auc DESC",)).sorted_by("metrics.auc") == "desc"
    assert sort_key("metrics.val loss") == "metrics.`val loss`"
    assert sort_key("params.a/b") == "params.a/b"


def test_default_columns_put_the_named_keys_first():
    query = TableQuery(filter="params.z = '1'")
    columns = default_columns(["a", "z"], ["m1", "m2"], query, limit=3)
    assert columns == ("params.z", "metrics.m1", "metrics.m2")


def test_profile_columns_become_bars():
    profile = {
        "version": 1,
        "rows": 10,
        "columns": {
            "x": {
                "type": "numeric", "dtype": "float64", "count": 10, "missing": 0.0,
                "min": 0.0, "max": 1.0, "mean": 0.5, "std": 0.3, "infinite": 0,
                "histogram": {"edges": [0.0, 0.5, 1.0], "counts": [4, 6]},
            },
            "c": {
                "type": "categorical", "dtype": "str", "count": 9, "missing": 0.1,
                "unique": 3, "top": [{"value": "a", "count": 5}, {"value": "b", "count": 3}],
                "other_count": 1,
            },
            "t": {"type": "datetime", "dtype": "datetime64[ns]", "count": 1, "missing": 0.0,
                  "min": "2024-01-01T00:00:00", "max": "2024-01-02T00:00:00"},
            "e": {"type": "numeric", "dtype": "float64", "count": 0, "missing": None,
                  "min": None, "max": None, "mean": None, "std": None, "histogram": None},
        },
    }  # fmt: skip
    x, c, t, e = column_views(profile)
    assert [b.label for b in x.bars] == ["[0, 0.5): 4", "[0.5, 1]: 6"]
    assert x.bars[1].height == CHART_HEIGHT and x.bars[0].height < CHART_HEIGHT
    assert [b.label for b in c.bars] == ["a: 5", "b: 3", "other values: 1"]
    assert ("missing", "10.0%") in c.stats and ("top", "a") in c.stats
    assert t.bars == () and ("min", "2024-01-01T00:00:00") in t.stats
    assert e.bars == () and ("missing", "–") in e.stats
    assert column_views(None) == [] and column_views({"columns": []}) == []
    assert len(column_views(profile, limit=2)) == 2


def test_artifact_kinds_and_how_they_are_served():
    assert artifact_kind("plots/a.PNG") == "image"
    assert artifact_kind("metrics.json") == "json"
    assert artifact_kind("head.tsv") == "csv"
    assert artifact_kind("MLmodel") == "text"
    assert artifact_kind("model.pkl") == "binary"
    assert content_type("page.html") == ("text/plain; charset=utf-8", True)  # never rendered
    assert content_type("x.svg") == ("image/svg+xml", True)
    assert content_type("model.pkl") == ("application/octet-stream", False)


def test_artifact_tree_nests_folders_first():
    digest = "0" * 64
    tree = artifact_tree(
        [
            Artifact("z.txt", digest, 1),
            Artifact("a/b/c.txt", digest, 2),
            Artifact("a/d.txt", digest, 3),
        ]
    )
    assert [n.name for n in tree] == ["a", "z.txt"]
    folder = tree[0]
    assert folder.is_folder and folder.size == 5 and folder.files == 2
    assert [n.name for n in folder.children] == ["b", "d.txt"]
    assert folder.children[0].children[0].path == "a/b/c.txt"


def test_diff_lines_are_classified():
    text = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n c"
    kinds = [k for k, _ in diff_lines(text)]
    assert kinds == ["meta", "meta", "meta", "hunk", "del", "add", "ctx"]


def test_formatters():
    assert fmt_duration(850) == "850 ms" and fmt_duration(12_500) == "12.5 s"
    assert fmt_duration(7_500_000) == "2h 05m" and fmt_duration(None) == ""
    assert fmt_value(math.nan) == "NaN" and fmt_value(-math.inf) == "-inf"
    assert fmt_value(0.1234567) == "0.123457" and fmt_value(True) == "yes"
    assert fmt_size(812) == "812 B" and fmt_size(1536) == "1.5 KB"
