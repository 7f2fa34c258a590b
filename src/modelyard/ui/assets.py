"""The UI's static files: our CSS and JavaScript, and Plotly.js from the installed package.

:func:`load_assets` lists the files under ``ui/static/`` and finds ``plotly.min.js`` inside the
installed ``plotly`` distribution (``plotly/package_data/``) without importing plotly, so no
charting code is committed to our repository and nothing is fetched from a CDN. URLs carry a
short content digest (our files) or the Plotly.js version (``?v=...``), so the responses can be
cached for a year. When plotly is not installed, :attr:`Assets.plotly` is ``None`` and pages say
that charts need ``pip install plotly``.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from modelyard._digest import digest_bytes

__all__ = ["PLOTLY_NAME", "STATIC_DIR", "Assets", "find_plotly_js", "load_assets"]

STATIC_DIR = Path(__file__).with_name("static")
#: The URL name of Plotly.js under ``/static/``.
PLOTLY_NAME = "vendor/plotly.min.js"
#: One year: every URL we hand out names a version, so a cached copy is never stale.
CACHE_CONTROL = "public, max-age=31536000, immutable"

_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_PLOTLY_VERSION_RE = re.compile(rb"plotly\.js v([0-9][0-9A-Za-z.+-]*)")


def find_plotly_js() -> Path | None:
    """``plotly.min.js`` inside the installed ``plotly`` package, or None when not installed."""
    try:
        spec = importlib.util.find_spec("plotly")
    except (ImportError, ValueError):  # ValueError: sys.modules["plotly"] is None or has no spec
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "package_data" / "plotly.min.js"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Assets:
    """What ``/static/`` serves: ``files`` (URL name → path) with ``versions`` for cache busting."""

    files: dict[str, Path]
    versions: dict[str, str]
    plotly: Path | None

    def url(self, base: str, name: str) -> str:
        """The versioned URL of static file ``name`` under the app's ``base`` path."""
        return f"{base}/static/{name}?v={self.versions[name]}"

    @staticmethod
    def media_type(path: Path) -> str | None:
        return _MEDIA_TYPES.get(path.suffix)


def _plotly_version(path: Path) -> str:
    with open(path, "rb") as fileobj:
        head = fileobj.read(512)
    match = _PLOTLY_VERSION_RE.search(head)
    if match:
        return match.group(1).decode("ascii")
    stat = path.stat()
    return f"{stat.st_size:x}-{stat.st_mtime_ns:x}"


def load_assets() -> Assets:
    """Our static files with content digests, plus Plotly.js when the package is installed."""
    files: dict[str, Path] = {}
    versions: dict[str, str] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and path.suffix in _MEDIA_TYPES:
            files[path.name] = path
            versions[path.name] = digest_bytes(path.read_bytes())[:12]
    plotly = find_plotly_js()
    if plotly is not None:
        files[PLOTLY_NAME] = plotly
        versions[PLOTLY_NAME] = _plotly_version(plotly)
    return Assets(files=files, versions=versions, plotly=plotly)
