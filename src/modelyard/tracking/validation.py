"""Checks on what users log: keys, values and sizes, with errors that say how to fix them.

Limits follow MLflow's so projects move over unchanged: keys ≤ 250 characters of letters,
digits and ``_ - . / : space``; param values ≤ 6,000 characters; tag values ≤ 8,000.

>>> validate_key("val/loss", "metric")
'val/loss'
>>> metric_value("loss", "0.5")
Traceback (most recent call last):
...
modelyard.errors.InvalidArgument: metric 'loss' must be a number, got str '0.5'
hint: pass a float or int, e.g. log_metric('loss', 0.25)
"""

from __future__ import annotations

import math
import re
from typing import Any

from modelyard.errors import InvalidArgument

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "metric_value",
    "param_value",
    "tag_value",
    "validate_key",
    "validate_name",
]

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 256
_KEY_RE = re.compile(r"^[\w\-./: ]+$")
_valid_keys: set[tuple[str, str]] = set()


def validate_key(key: Any, kind: str) -> str:
    """Return ``key`` when it is a valid ``kind`` (metric, param, tag) key, else raise."""
    if (kind, key) in _valid_keys:
        return str(key)
    if not isinstance(key, str):
        raise InvalidArgument(
            f"{kind} key must be a string, got {type(key).__name__} {key!r}",
            hint=f"use a name such as '{kind}_1'",
        )
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"{kind} key {key[:60]!r}{'...' if len(key) > 60 else ''} has {len(key)} characters; "
            f"keys need 1 to {MAX_KEY_LENGTH}",
            hint="shorten the key",
        )
    if not _KEY_RE.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidArgument(
            f"{kind} key {key!r} has characters outside letters, digits and _ - . / : space",
            hint="rename the key, e.g. 'val/loss' or 'auc_test'",
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add((kind, key))
    return key


def validate_name(name: Any, kind: str) -> str:
    """A display name (experiment or run): a non-empty string of at most 256 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(
            f"{kind} name must be a non-empty string, got {name!r}", hint=f"e.g. '{kind}-1'"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"{kind} name {name[:40]!r}... has {len(name)} characters; the limit is "
            f"{MAX_NAME_LENGTH}",
            hint="shorten the name",
        )
    return name


def metric_value(key: str, value: Any) -> float:
    """``value`` as a float; NaN and ±inf are kept as such."""
    if isinstance(value, float):
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidArgument(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}",
            hint=f"pass a float or int, e.g. log_metric({key!r}, 0.25)",
        )
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}",
            hint=f"pass a float or int, e.g. log_metric({key!r}, 0.25)",
        ) from exc


def metric_step(key: str, step: Any) -> int:
    """``step`` as an int (a bool or a fractional float is an error)."""
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    if isinstance(step, float) and step.is_integer() and math.isfinite(step):
        return int(step)
    try:
        import numpy as np

        if isinstance(step, np.integer):
            return int(step)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    raise InvalidArgument(
        f"step of metric {key!r} must be an integer, got {type(step).__name__} {step!r}",
        hint="pass step=epoch or step=batch_index",
    )


def param_value(key: str, value: Any) -> str:
    """``value`` as the string stored for a param."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidArgument(
            f"param {key!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_PARAM_VALUE_LENGTH}",
            hint="log long values as an artifact with log_text or log_dict",
        )
    return text


def tag_value(key: str, value: Any) -> str:
    """``value`` as the string stored for a tag."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidArgument(
            f"tag {key!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_TAG_VALUE_LENGTH}",
            hint="log long values as an artifact with log_text",
        )
    return text
