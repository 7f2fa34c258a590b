"""Rendering pages: the Jinja2 environment, the value formatters, and the friendly error page.

One :class:`Renderer` per app holds the Jinja2 environment (templates under ``ui/templates/``,
HTML autoescaped) and the static :class:`~modelyard.ui.assets.Assets`. :meth:`Renderer.page`
fills the base layout's context (app base path, asset URLs, the top navigation) and returns an
``HTMLResponse``; :meth:`Renderer.error` turns a :class:`~modelyard.errors.ModelyardError` into
an HTML page with its status, message and hint, so a bad run id is a 404 page with a way back,
never a traceback.

>>> fmt_duration(83_000)
'1m 23s'
>>> fmt_value(0.912345678)
'0.912346'
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.responses import HTMLResponse

from modelyard.ui.assets import PLOTLY_NAME, Assets

if TYPE_CHECKING:
    from starlette.requests import Request

    from modelyard.errors import ModelyardError

__all__ = [
    "COMING_SOON",
    "SECTIONS",
    "Renderer",
    "fmt_duration",
    "fmt_size",
    "fmt_time",
    "fmt_value",
    "iso_time",
]

TEMPLATES_DIR = Path(__file__).with_name("templates")
#: The sections of the top navigation: (label, path, the ``section`` pages of it set).
SECTIONS = (
    ("Experiments", "/", "experiments"),
    ("Models", "/models", "models"),
    ("Pipelines", "/pipelines", "pipelines"),
)
#: The sections that come next, shown greyed in the top navigation.
COMING_SOON = ("Deployments", "Monitors", "Automations")


def fmt_time(ms: int | None) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` UTC ('' for None)."""
    if ms is None:
        return ""
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def iso_time(ms: int | None) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC, for ``<time datetime=...>``."""
    if ms is None:
        return ""
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fmt_duration(ms: int | None) -> str:
    """A duration people read: ``850 ms``, ``12.5 s``, ``1m 23s``, ``2h 05m``."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def fmt_value(value: Any) -> str:
    """A metric or param value: floats with 6 significant digits, NaN and ±inf spelled out."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fmt_size(size: int | None) -> str:
    """Bytes as ``812 B``, ``1.4 KB``, ``3.2 MB``, ``1.1 GB`` (powers of 1024)."""
    if size is None:
        return ""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _fmt_count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


class Renderer:
    """Templates and static assets of one app; builds HTML responses."""

    def __init__(self, assets: Assets, version: str) -> None:
        self.assets = assets
        self.version = version
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=jinja2.select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            fmt_time=fmt_time,
            iso_time=iso_time,
            fmt_duration=fmt_duration,
            fmt_value=fmt_value,
            fmt_size=fmt_size,
            fmt_count=_fmt_count,
        )

    def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        charts: bool = False,
    ) -> HTMLResponse:
        """Render ``template`` inside the base layout; ``charts`` loads Plotly.js and charts.js."""
        base = str(request.scope.get("root_path", "")).rstrip("/")
        full: dict[str, Any] = {
            "base": base,
            "asset": lambda name: self.assets.url(base, name),
            "plotly_url": (
                self.assets.url(base, PLOTLY_NAME) if charts and self.assets.plotly else None
            ),
            "charts": charts,
            "plotly_missing": charts and self.assets.plotly is None,
            "nav_sections": SECTIONS,
            "coming_soon": COMING_SOON,
            "version": self.version,
            **context,
        }
        html = self.env.get_template(template).render(full)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, exc: ModelyardError) -> HTMLResponse:
        """The friendly error page for ``exc``, with its HTTP status."""
        return self.page(
            request,
            "error.html",
            {
                "status": exc.status,
                "code": exc.code,
                "message": exc.message,
                "hint": exc.hint,
            },
            status=exc.status,
        )
