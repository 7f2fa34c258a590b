"""How commands print: rich tables for people, JSON for scripts, times people can read."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import click

__all__ = ["echo_json", "fmt_duration", "fmt_time", "fmt_value", "json_option", "print_table"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON (NaN and infinities as strings, so any parser reads it)."""
    click.echo(json.dumps(_plain(data), indent=2, default=str))


def fmt_time(ms: int | None, *, short: bool = False) -> str:
    if ms is None:
        return ""
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def fmt_duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return "" if value is None else str(value)


_STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}


def status_text(status: str) -> str:
    style = _STATUS_STYLE.get(status.split()[0], "")
    return f"[{style}]{status}[/{style}]" if style else status


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    caption: str | None = None,
    highlight: Sequence[Sequence[bool]] | None = None,
) -> None:
    """Print a table; cells in ``highlight`` (same shape as rows) are shown in bold yellow."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, header_style="bold", show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            text = cell if isinstance(cell, str) else fmt_value(cell)
            if highlight and highlight[i][j]:
                text = f"[bold yellow]{text}[/bold yellow]"
            cells.append(text)
        table.add_row(*cells)
    Console().print(table)
