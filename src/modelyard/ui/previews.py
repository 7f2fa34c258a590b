"""Artifacts in the browser: the folder tree, previews, safe content types and the code diff.

:func:`artifact_tree` folds a run's flat artifact paths into folders; :func:`build_preview` reads
the head of one artifact from the artifact store and returns what the run page shows: an image,
text, JSON pretty-printed, or the first rows of a CSV as a table. :func:`content_type` decides
how the file route serves bytes: images and plain text inline (HTML, scripts and anything
unknown never render as a page of ours), everything else as a download. :func:`diff_lines`
colours a unified diff line by line.

>>> [n.name for n in artifact_tree([Artifact("plots/a.png", "0" * 64, 3)])]
['plots']
>>> diff_lines("+x\\n-y")
[('add', '+x'), ('del', '-y')]
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelyard.tracking.entities import Artifact

if TYPE_CHECKING:
    from modelyard.artifacts import ArtifactStore

__all__ = [
    "CSV_PREVIEW_ROWS",
    "Preview",
    "TreeNode",
    "artifact_kind",
    "artifact_tree",
    "build_preview",
    "content_type",
    "diff_lines",
    "read_diff",
]

#: Rows of a CSV shown in the preview table (after the header).
CSV_PREVIEW_ROWS = 20
TEXT_PREVIEW_BYTES = 256 * 1024
JSON_PREVIEW_BYTES = 2 * 1024 * 1024
DIFF_PREVIEW_BYTES = 2 * 1024 * 1024
_CSV_HEAD_BYTES = 256 * 1024

_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
}
_JSON = {".json", ".ipynb", ".geojson"}
_CSV = {".csv": ",", ".tsv": "\t"}
_TEXT = {
    ".txt", ".md", ".rst", ".log", ".out", ".err", ".py", ".r", ".sql", ".sh", ".yaml", ".yml",
    ".toml", ".cfg", ".ini", ".conf", ".diff", ".patch", ".jsonl", ".ndjson", ".xml", ".html",
    ".htm", ".js", ".ts", ".css", ".c", ".h", ".cpp", ".java", ".go", ".rs", ".tex", ".mlmodel",
    ".properties", ".env", ".dockerfile", ".gitignore", ".requirements",
}  # fmt: skip
_TEXT_NAMES = {"MLmodel", "Dockerfile", "Makefile", "LICENSE", "README", "requirements.txt"}


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def artifact_kind(path: str) -> str:
    """How to preview ``path`` from its name: image, json, csv, text or binary."""
    suffix = _suffix(path)
    if suffix in _IMAGES:
        return "image"
    if suffix in _JSON:
        return "json"
    if suffix in _CSV:
        return "csv"
    if suffix in _TEXT or path.rsplit("/", 1)[-1] in _TEXT_NAMES:
        return "text"
    return "binary"


def content_type(path: str) -> tuple[str, bool]:
    """``(media type, inline)`` for serving ``path``: only images and plain text are inline.

    Text of any kind, including HTML and scripts, is sent as ``text/plain`` so a logged file can
    never run as a page of the UI; unknown files are ``application/octet-stream`` downloads.
    """
    kind = artifact_kind(path)
    if kind == "image":
        return _IMAGES[_suffix(path)], True
    if kind == "json":
        return "application/json", True
    if kind in ("text", "csv"):
        return "text/plain; charset=utf-8", True
    guessed, _ = mimetypes.guess_type(path)
    if guessed == "application/pdf":
        return guessed, True
    return "application/octet-stream", False


@dataclass(frozen=True)
class TreeNode:
    """A folder (with ``children``) or a file (with ``artifact``) of a run's artifacts."""

    name: str
    path: str
    size: int
    artifact: Artifact | None = None
    children: tuple[TreeNode, ...] = field(default=())

    @property
    def is_folder(self) -> bool:
        return self.artifact is None

    @property
    def files(self) -> int:
        return 1 if self.artifact is not None else sum(c.files for c in self.children)


def artifact_tree(artifacts: Sequence[Artifact]) -> list[TreeNode]:
    """Folders first, then files, each sorted by name; folder sizes are their totals."""

    def build(prefix: str, items: list[tuple[list[str], Artifact]]) -> list[TreeNode]:
        folders: dict[str, list[tuple[list[str], Artifact]]] = {}
        files: list[TreeNode] = []
        for parts, artifact in items:
            if len(parts) == 1:
                files.append(TreeNode(parts[0], artifact.path, artifact.size, artifact))
            else:
                folders.setdefault(parts[0], []).append((parts[1:], artifact))
        nodes = []
        for name in sorted(folders):
            children = tuple(build(f"{prefix}{name}/", folders[name]))
            size = sum(c.size for c in children)
            nodes.append(TreeNode(name, f"{prefix}{name}", size, None, children))
        return nodes + sorted(files, key=lambda n: n.name)

    return build("", [(a.path.split("/"), a) for a in artifacts])


@dataclass(frozen=True)
class Preview:
    """What the run page shows for one artifact.

    ``kind`` is image, json, text, csv or binary; ``text`` holds text and pretty JSON, ``rows``
    the CSV head (header first); ``truncated`` says only the beginning is shown.
    """

    artifact: Artifact
    kind: str
    text: str | None = None
    rows: tuple[tuple[str, ...], ...] = ()
    truncated: bool = False
    note: str | None = None


def _read_head(store: ArtifactStore, artifact: Artifact, limit: int) -> bytes:
    with store.open(artifact.digest) as reader:
        return reader.read(limit)


def _looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def _decode(data: bytes, truncated: bool) -> str:
    if truncated:  # the cut may split a multi-byte character: drop the broken tail
        return data.decode("utf-8", errors="ignore")
    return data.decode("utf-8", errors="replace")


def build_preview(store: ArtifactStore, artifact: Artifact) -> Preview:
    """Read what the preview needs of ``artifact`` (never the whole of a large file)."""
    kind = artifact_kind(artifact.path)
    if kind == "image":
        return Preview(artifact, "image")
    if kind == "json" and artifact.size <= JSON_PREVIEW_BYTES:
        data = _read_head(store, artifact, JSON_PREVIEW_BYTES)
        try:
            pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
        except (ValueError, UnicodeDecodeError):
            return Preview(
                artifact, "text", _decode(data, False), note="not valid JSON; shown as text"
            )
        return Preview(artifact, "json", pretty)
    if kind == "csv":
        return _csv_preview(store, artifact)
    head = _read_head(store, artifact, TEXT_PREVIEW_BYTES)
    truncated = artifact.size > len(head)
    if kind == "binary" and (_looks_binary(head) or not _is_utf8(head, truncated)):
        return Preview(artifact, "binary", note="no preview for this kind of file")
    return Preview(artifact, "text", _decode(head, truncated), truncated=truncated)


def _is_utf8(data: bytes, truncated: bool) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return truncated and exc.start >= len(data) - 3  # a character cut at the end
    return True


def _csv_preview(store: ArtifactStore, artifact: Artifact) -> Preview:
    head = _read_head(store, artifact, _CSV_HEAD_BYTES)
    truncated = artifact.size > len(head)
    text = _decode(head, truncated)
    lines = text.splitlines(keepends=True)
    if truncated and lines:
        lines = lines[:-1]  # the last line may be cut
    reader = csv.reader(io.StringIO("".join(lines)), delimiter=_CSV[_suffix(artifact.path)])
    rows: list[tuple[str, ...]] = []
    shown = CSV_PREVIEW_ROWS + 1  # the header and the first rows
    try:
        for row in reader:
            rows.append(tuple(row))
            if len(rows) > shown:
                break
    except csv.Error as exc:
        return Preview(artifact, "text", text, truncated=truncated, note=f"not valid CSV: {exc}")
    more = truncated or len(rows) > shown
    return Preview(artifact, "csv", rows=tuple(rows[:shown]), truncated=more)


def read_diff(store: ArtifactStore, artifact: Artifact) -> tuple[str, bool]:
    """The text of a code diff artifact (its first 2 MiB) and whether it was cut."""
    head = _read_head(store, artifact, DIFF_PREVIEW_BYTES)
    truncated = artifact.size > len(head)
    return _decode(head, truncated), truncated


_META_PREFIXES = (
    "diff --git", "index ", "--- ", "+++ ", "new file", "deleted file", "similarity",
    "rename ", "old mode", "new mode", "Binary files", "GIT binary patch",
)  # fmt: skip


def diff_lines(text: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with its class: meta, hunk, add, del or ctx."""
    out = []
    for line in text.splitlines():
        if line.startswith(_META_PREFIXES):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out
