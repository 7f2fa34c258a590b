"""Flavors: one module per framework, each with the same shape.

A flavor module offers ``matches(model)`` (recognise an object by its class's module, without
importing the framework), ``save(model, path, ...)`` (write the model's files into ``path`` and
return a :class:`Saved`), ``load(path, manifest)`` (the object to predict with),
``predict(obj, X)`` and ``predict_proba(obj, X)``, ``wants(obj)`` (a DataFrame, an array or
either, and the feature names the object was fitted with) and ``framework_object(obj)`` (what
``Predictor.raw`` returns). Built in: ``sklearn``, ``xgboost``, ``lightgbm``, ``onnx`` and
``python`` (a :class:`~modelyard.models.flavors.python.PythonModel`).

>>> detect_flavor([1, 2, 3])  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
InvalidArgument: cannot tell the flavor of a builtins.list ...
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.models.manifest import ModelManifest
    from modelyard.models.signature import Signature

__all__ = ["FLAVORS", "Flavor", "Saved", "detect_flavor", "get_flavor", "root_module"]

FLAVORS = ("python", "xgboost", "lightgbm", "onnx", "sklearn")


@dataclass(frozen=True)
class Saved:
    """What a flavor's ``save`` wrote: how, with which framework, and what to pin."""

    serialization: str
    framework: str
    framework_version: str
    modules: tuple[str, ...]
    has_predict_proba: bool
    options: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class Flavor(Protocol):
    """The shape every flavor module has."""

    NAME: str
    SERIALIZATIONS: tuple[str, ...]

    def matches(self, model: object) -> bool: ...

    def save(
        self,
        model: Any,
        path: Path,
        *,
        serialization: str | None,
        example: Any,
        signature: Signature | None,
        artifacts: dict[str, str] | None = None,
        code_paths: list[str] | None = None,
    ) -> Saved: ...

    def load(self, path: Path, manifest: ModelManifest) -> Any: ...

    def predict(self, obj: Any, X: Any) -> Any: ...

    def predict_proba(self, obj: Any, X: Any) -> Any: ...

    def wants(self, obj: Any) -> tuple[str, tuple[str, ...] | None]: ...

    def framework_object(self, obj: Any) -> Any: ...


def root_module(obj: object) -> str:
    """The top-level package of ``obj``'s class (``sklearn`` for a LogisticRegression)."""
    return (type(obj).__module__ or "").split(".")[0]


def get_flavor(name: str) -> Flavor:
    """The flavor module called ``name``; InvalidArgument lists the known ones."""
    if name not in FLAVORS:
        raise InvalidArgument(
            f"unknown model flavor {name!r}; known flavors: {', '.join(sorted(FLAVORS))}",
            hint="leave flavor=None to detect it from the model's type",
        )
    return cast(Flavor, importlib.import_module(f"modelyard.models.flavors.{name}"))


def detect_flavor(model: object) -> Flavor:
    """The flavor of ``model``, from its class's module; frameworks are not imported."""
    for name in FLAVORS:
        flavor = get_flavor(name)
        if flavor.matches(model):
            return flavor
    raise InvalidArgument(
        f"cannot tell the flavor of a {type(model).__module__}.{type(model).__qualname__}: "
        "expected a scikit-learn estimator or Pipeline, an XGBoost or LightGBM model, an ONNX "
        "model (or a path to a .onnx file), or a yard.PythonModel",
        hint="pass flavor='sklearn' (or another flavor) if it behaves like one, or wrap it in "
        "a subclass of yard.PythonModel whose predict() calls it",
    )
