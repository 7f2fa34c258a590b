"""The runs table's state as URL query parameters: filter, order, columns and page.

A :class:`TableQuery` is read from ``?filter=...&order_by=...&columns=...&page_token=...`` and
writes URLs back, so every view of the table (a search, a sort, a column choice, a page) has a
stable link. ``columns`` is a comma-separated list of ``metrics.<key>``, ``params.<key>`` or
``tags.<key>`` (repeated ``columns`` parameters are joined); when it is absent the table picks
default columns, and ``columns=`` (empty) means none. :func:`sort_key` writes an ``order_by``
item for a column, quoting keys that hold spaces or other characters the filter language only
takes between backticks.

>>> q = TableQuery.parse([("filter", "metrics.auc > 0.9"), ("columns", "metrics.auc,params.lr")])
>>> q.columns
('metrics.auc', 'params.lr')
>>> q.url("/experiments/1", page_token="abc")
'/experiments/1?filter=metrics.auc+%3E+0.9&columns=metrics.auc,params.lr&page_token=abc'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from modelyard.errors import InvalidArgument

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "COLUMN_KINDS",
    "Column",
    "TableQuery",
    "default_columns",
    "parse_column",
    "sort_key",
]

#: Prefixes a picked column may have, and what they are called in a Run.
COLUMN_KINDS = {"metrics": "metrics", "params": "params", "tags": "tags"}
#: Run attributes shown as fixed columns, with the attribute they sort by.
ATTRIBUTE_COLUMNS = (("name", "Name"), ("status", "Status"), ("start_time", "Started"))
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-./]+")
_DEFAULT_LIMIT = 10


def _quote(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else f"`{key}`"


def sort_key(column: str) -> str:
    """The ``order_by`` key of a column: ``metrics.auc``, ``params.`a b```, ``start_time``."""
    kind, dot, key = column.partition(".")
    if not dot:
        return column
    return f"{kind}.{_quote(key)}"


def parse_column(text: str) -> tuple[str, str]:
    """``metrics.val loss`` → ``("metrics", "val loss")``; other prefixes are refused."""
    kind, dot, key = text.partition(".")
    if not dot or kind not in COLUMN_KINDS or not key:
        raise InvalidArgument(
            f"column {text!r} is not a metrics.<key>, params.<key> or tags.<key> column",
            hint="pick columns with the Columns button, e.g. columns=metrics.auc,params.lr",
        )
    return kind, key


@dataclass(frozen=True)
class Column:
    """A column of the runs table: what it shows, and how clicking its header sorts."""

    id: str  # "name", "start_time", "metrics.auc"
    label: str
    kind: str  # attribute, metrics, params, tags
    key: str
    sort: str | None  # "asc"/"desc" when the table is sorted by it
    sort_url: str | None


@dataclass(frozen=True)
class TableQuery:
    """The runs table as the URL describes it."""

    filter: str = ""
    order_by: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    page_token: str = ""

    @classmethod
    def parse(cls, items: Iterable[tuple[str, str]]) -> TableQuery:
        """Read the query parameters (repeated keys allowed); unknown ones are ignored."""
        filter_text = ""
        order_by: list[str] = []
        columns: list[str] | None = None
        page_token = ""
        for name, value in items:
            if name == "filter":
                filter_text = value
            elif name == "order_by":
                order_by += [v.strip() for v in value.split(",") if v.strip()]
            elif name == "columns":
                columns = columns or []
                columns += [c.strip() for c in value.split(",") if c.strip()]
            elif name == "page_token":
                page_token = value.strip()
        picked = None if columns is None else tuple(dict.fromkeys(columns))
        return cls(filter_text.strip(), tuple(order_by), picked, page_token)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query parameters of this state with ``changes`` applied, empty ones left out."""
        state = replace(self, **changes)
        out: list[tuple[str, str]] = []
        if state.filter:
            out.append(("filter", state.filter))
        out += [("order_by", item) for item in state.order_by]
        if state.columns is not None:
            out.append(("columns", ",".join(state.columns)))
        if state.page_token:
            out.append(("page_token", state.page_token))
        return out

    def url(self, path: str, **changes: Any) -> str:
        """``path`` with this state's query string (``changes`` applied)."""
        query = urlencode(self.params(**changes), safe=",")
        return f"{path}?{query}" if query else path

    def sorted_by(self, column: str) -> str | None:
        """``asc`` or ``desc`` when the first ``order_by`` item sorts by ``column``."""
        if not self.order_by:
            return "desc" if column == "start_time" else None  # the store's default order
        first = self.order_by[0].split()
        if not first:
            return None
        direction = first[-1].lower() if first[-1].lower() in ("asc", "desc") else "asc"
        key = " ".join(first[:-1]) if first[-1].lower() in ("asc", "desc") else " ".join(first)
        wanted = sort_key(column)
        aliases = {wanted, f"attributes.{wanted}", f"attribute.{wanted}", f"attr.{wanted}"}
        if "." in column:
            kind, _, name = column.partition(".")
            aliases |= {f"{kind}.{name}", f"{kind[:-1]}.{_quote(name)}"}
        return direction if key in aliases else None

    def sort_url(self, path: str, column: str) -> str:
        """The URL that sorts by ``column``: descending first for metrics and times."""
        current = self.sorted_by(column)
        if current is None:
            direction = "desc" if column.startswith("metrics.") or column == "start_time" else "asc"
        else:
            direction = "asc" if current == "desc" else "desc"
        return self.url(path, order_by=(f"{sort_key(column)} {direction}",), page_token="")


def default_columns(
    params: Sequence[str], metrics: Sequence[str], query: TableQuery, limit: int = _DEFAULT_LIMIT
) -> tuple[str, ...]:
    """Metrics and params named in the filter or order first, then the rest, ``limit`` in all."""
    named = " ".join([query.filter, *query.order_by])
    candidates = [f"metrics.{k}" for k in metrics] + [f"params.{k}" for k in params]
    first = [c for c in candidates if sort_key(c) in named or c in named]
    rest = [c for c in candidates if c not in first]
    chosen = first + rest[: max(0, limit - len(first))]
    return tuple(chosen)
