"""Logical artifact paths: the run-relative names users type, like ``plots/confusion.png``.

A run's artifacts are named by relative POSIX paths. Those names end up in URLs, in the
metadata store and, when a run is downloaded, on disk under a destination folder, so a name
must never climb out of that folder or smuggle in bytes a shell, a terminal or another OS would
read differently. :func:`validate_artifact_path` is the one gate: it returns the normalized path
(Unicode NFC, repeated slashes collapsed) or raises :class:`~modelyard.errors.InvalidArgument`
naming the path and the rule it broke. It also decodes percent-escapes (twice over, and the
Unicode compatibility forms) and refuses names whose decoded form would traverse.

>>> validate_artifact_path("plots//confusion.png")
'plots/confusion.png'
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from modelyard.errors import InvalidArgument

__all__ = ["MAX_ARTIFACT_PATH_LENGTH", "validate_artifact_path"]

MAX_ARTIFACT_PATH_LENGTH = 1024

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_DECODE_ROUNDS = 3
_HINT = "use a relative POSIX path inside the run, like 'plots/confusion.png'"


def _reject(path: str, rule: str) -> InvalidArgument:
    return InvalidArgument(f"artifact path {path!r} is not allowed: {rule}", hint=_HINT)


def _traversal_rule(candidate: str) -> str | None:
    """The rule ``candidate`` breaks as a path, or None when it is a safe relative path."""
    if any(unicodedata.category(ch) == "Cc" for ch in candidate):
        return "it contains a NUL or control character"
    if "\\" in candidate:
        return "it contains a backslash (use '/' between folders)"
    if candidate.startswith("/"):
        return "it is absolute (it must be relative to the run)"
    if _DRIVE_RE.match(candidate):
        return "it starts with a drive letter (it must be relative to the run)"
    if candidate.startswith("~"):
        return "it starts with '~' (it must be relative to the run, not a home folder)"
    segments = candidate.split("/")
    if ".." in segments:
        return "it contains a '..' segment"
    if "." in segments:
        return "it contains a '.' segment"
    return None


def _decoded_forms(path: str) -> list[str]:
    """``path`` percent-decoded up to three times, plus the NFKC form of each."""
    forms = [path]
    current = path
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(current, errors="replace") if "%" in current else current
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    forms.extend(unicodedata.normalize("NFKC", form) for form in list(forms))
    return forms


def validate_artifact_path(path: str) -> str:
    """Return ``path`` as a normalized run-relative POSIX path, or raise InvalidArgument.

    Refused: empty paths, paths over 1024 characters, absolute paths (``/x``, ``C:\\x``,
    ``\\\\server``), backslashes, NUL and control characters, ``..`` and ``.`` segments, a
    leading ``~``, a trailing slash, and any of these hidden behind percent-encoding
    (``%2e%2e/``, ``..%2f``, ``%252e%252e``) or Unicode compatibility forms. So
    ``validate_artifact_path("../etc/passwd")`` raises, naming the ``..`` rule.

    >>> validate_artifact_path("model/weights.bin")
    'model/weights.bin'
    """
    if not isinstance(path, str):
        raise InvalidArgument(
            f"artifact path must be a string, got {type(path).__name__} {path!r}", hint=_HINT
        )
    if not path:
        raise _reject(path, "it is empty")
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise _reject(
            path[:64] + "...",
            f"it is {len(path)} characters long (at most {MAX_ARTIFACT_PATH_LENGTH})",
        )
    if path.endswith("/"):
        raise _reject(path, "it ends with '/' (name a file, not a folder)")
    for form in _decoded_forms(path):
        rule = _traversal_rule(form)
        if rule is not None:
            if form != path:
                rule += f" once decoded to {form!r}"
            raise _reject(path, rule)
    normalized = unicodedata.normalize("NFC", path)
    return "/".join(segment for segment in normalized.split("/") if segment)
