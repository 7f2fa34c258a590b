"""The LightGBM flavor: a ``Booster`` or a scikit-learn wrapper, as LightGBM's text model.

The booster is written with ``save_model`` as ``model.txt`` (``serialization="text"``), which
is data: loading runs no Python code. A scikit-learn wrapper cannot be rebuilt from that file,
so the manifest records its class and, for ``LGBMClassifier``, its ``classes_``; on load a
:class:`LightGBMClassifier` (``predict`` → class labels, ``predict_proba``) or the bare
``Booster`` (regressors and rankers) predicts exactly as the wrapper did.
``Predictor.raw`` is the ``lightgbm.Booster``.

>>> matches(object())
False
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument
from modelyard.models.flavors import Saved, root_module

if TYPE_CHECKING:
    from modelyard.models.manifest import ModelManifest
    from modelyard.models.signature import Signature

__all__ = [
    "NAME",
    "SERIALIZATIONS",
    "LightGBMClassifier",
    "framework_object",
    "load",
    "matches",
    "predict",
    "predict_proba",
    "save",
    "wants",
]

NAME = "lightgbm"
SERIALIZATIONS = ("text",)
FILE = "model.txt"


def matches(model: object) -> bool:
    return root_module(model) == "lightgbm"


def save(
    model: Any,
    path: Path,
    *,
    serialization: str | None,
    example: Any,
    signature: Signature | None,
    artifacts: dict[str, str] | None = None,
    code_paths: list[str] | None = None,
) -> Saved:
    import lightgbm

    if serialization not in (None, "text"):
        raise InvalidArgument(
            f"LightGBM models are stored as 'text', not {serialization!r}",
            hint="leave serialization=None",
        )
    name = type(model).__name__
    options: dict[str, Any] = {"model_class": name}
    if isinstance(model, lightgbm.Booster):
        booster = model
    else:
        try:
            booster = model.booster_
        except (AttributeError, lightgbm.compat.LGBMNotFittedError) as exc:
            raise InvalidArgument(
                f"the {name} is not fitted, so there is no model to log",
                hint="call .fit(X, y) first",
            ) from exc
        if hasattr(model, "classes_"):
            options["classes"] = model.classes_.tolist()
    booster.save_model(str(path / FILE))
    modules = ["lightgbm", "numpy", "scipy"]
    if name != "Booster":
        modules.append("sklearn")
    return Saved(
        serialization="text",
        framework="lightgbm",
        framework_version=lightgbm.__version__,
        modules=tuple(modules),
        has_predict_proba="classes" in options,
        options=options,
    )


class LightGBMClassifier:
    """A loaded LightGBM classifier: ``booster`` plus the ``classes_`` it was fitted with."""

    def __init__(self, booster: Any, classes: list[Any]) -> None:
        import numpy as np

        self.booster = booster
        self.classes_ = np.asarray(classes)

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        scores = self.booster.predict(X)
        if scores.ndim == 1:  # binary: the probability of the second class
            return np.vstack((1.0 - scores, scores)).T
        return scores

    def predict(self, X: Any) -> Any:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def load(path: Path, manifest: ModelManifest) -> Any:
    import lightgbm

    booster = lightgbm.Booster(model_file=str(path / FILE))
    classes = manifest.options.get("classes")
    if classes is not None:
        return LightGBMClassifier(booster, list(classes))
    return booster


def predict(obj: Any, X: Any) -> Any:
    return obj.predict(X)


def predict_proba(obj: Any, X: Any) -> Any:
    return obj.predict_proba(X)


def wants(obj: Any) -> tuple[str, tuple[str, ...] | None]:
    booster = framework_object(obj)
    names = booster.feature_name()
    if names and not all(n.startswith("Column_") for n in names):
        return "frame", tuple(names)
    return "array", None


def framework_object(obj: Any) -> Any:
    return obj.booster if isinstance(obj, LightGBMClassifier) else obj
