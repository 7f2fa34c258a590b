"""The XGBoost flavor: a ``Booster`` or a scikit-learn wrapper, in XGBoost's own format.

The model is written with ``save_model`` as ``model.json`` (``serialization="json"``, the
default) or ``model.ubj`` (``"ubj"``, binary JSON); both are data, so loading runs no Python
code. A wrapper (``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``, ``XGBRF*``) is rebuilt as
the same class before ``load_model``, so ``predict``/``predict_proba`` behave as before; a bare
``Booster`` predicts with ``inplace_predict`` (probabilities for a classification objective).

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
    "framework_object",
    "load",
    "matches",
    "predict",
    "predict_proba",
    "save",
    "wants",
]

NAME = "xgboost"
SERIALIZATIONS = ("json", "ubj")
_CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier",
            "XGBRFRegressor")  # fmt: skip


def matches(model: object) -> bool:
    return root_module(model) == "xgboost"


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
    import xgboost

    chosen = serialization or "json"
    if chosen not in SERIALIZATIONS:
        raise InvalidArgument(
            f"XGBoost models are stored as {' or '.join(SERIALIZATIONS)}, not {chosen!r}",
            hint="leave serialization=None for JSON",
        )
    name = type(model).__name__
    if name not in _CLASSES:
        raise InvalidArgument(
            f"cannot store an xgboost {name}: expected one of {', '.join(_CLASSES)}",
            hint="log its booster instead: model.get_booster()",
        )
    try:
        model.save_model(str(path / f"model.{chosen}"))
    except xgboost.core.XGBoostError as exc:
        raise InvalidArgument(f"XGBoost cannot save the {name}: {exc}") from exc
    except AttributeError as exc:  # a wrapper that was never fitted
        raise InvalidArgument(
            f"the {name} is not fitted, so there is no model to log", hint="call .fit(X, y) first"
        ) from exc
    modules = ["xgboost", "numpy", "scipy"]
    if name != "Booster":
        modules.append("sklearn")
    return Saved(
        serialization=chosen,
        framework="xgboost",
        framework_version=xgboost.__version__,
        modules=tuple(modules),
        has_predict_proba=hasattr(model, "predict_proba"),
        options={"model_class": name},
    )


def load(path: Path, manifest: ModelManifest) -> Any:
    import xgboost

    name = str(manifest.options.get("model_class", "Booster"))
    if name not in _CLASSES:
        raise InvalidArgument(
            f"the manifest names xgboost class {name!r}; expected one of {', '.join(_CLASSES)}"
        )
    model = getattr(xgboost, name)()
    model.load_model(str(path / f"model.{manifest.serialization}"))
    return model


def predict(obj: Any, X: Any) -> Any:
    if type(obj).__name__ == "Booster":
        return obj.inplace_predict(X)
    return obj.predict(X)


def predict_proba(obj: Any, X: Any) -> Any:
    return obj.predict_proba(X)


def wants(obj: Any) -> tuple[str, tuple[str, ...] | None]:
    booster = obj if type(obj).__name__ == "Booster" else obj.get_booster()
    names = booster.feature_names
    if names:
        return "frame", tuple(names)
    return "array", None


def framework_object(obj: Any) -> Any:
    return obj
