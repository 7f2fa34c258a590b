"""The python flavor: your own code as a model, a subclass of :class:`PythonModel`.

The instance is written with cloudpickle as ``python_model.pkl``; ``artifacts`` (name → a
local file or folder) are copied under ``artifacts/<name>/`` and ``code_paths`` (files or
folders of Python modules your class imports) under ``code/``. On load, ``code/`` goes first on
``sys.path`` before the pickle is read, then ``load_context(artifacts)`` receives each
artifact's path inside the loaded folder. Unpickling runs code: load only models you trust.

>>> class Double(PythonModel):
...     def predict(self, df):
...         return df * 2
>>> matches(Double())
True
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, InvalidState
from modelyard.models.flavors import Saved

if TYPE_CHECKING:
    from modelyard.models.manifest import ModelManifest
    from modelyard.models.signature import Signature

__all__ = [
    "NAME",
    "SERIALIZATIONS",
    "PythonModel",
    "framework_object",
    "load",
    "matches",
    "predict",
    "predict_proba",
    "save",
    "wants",
]

NAME = "python"
SERIALIZATIONS = ("pickle",)
FILE = "python_model.pkl"


class PythonModel:
    """Base class of models written in Python: override ``predict`` (and optionally
    ``load_context`` and ``predict_proba``).

    ``predict(df)`` receives a DataFrame whose columns match the signature (or an ndarray
    for a tensor signature) and may return an array, a Series or a DataFrame.

    >>> class Churn(PythonModel):
    ...     def load_context(self, artifacts):
    ...         self.threshold = 0.5
    ...     def predict(self, df):
    ...         return (df["score"] > self.threshold).to_numpy()
    """

    def load_context(self, artifacts: dict[str, str]) -> None:
        """Called once after loading, with each artifact's local path by name."""

    def predict(self, df: Any) -> Any:
        """Predictions for ``df``."""
        raise NotImplementedError(f"{type(self).__name__} must define predict(self, df)")


def matches(model: object) -> bool:
    return isinstance(model, PythonModel)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copyfile(source, target)


def _check_name(name: str, what: str) -> str:
    from modelyard.artifacts import validate_artifact_path

    if not isinstance(name, str) or "/" in name:
        raise InvalidArgument(
            f"{what} name {name!r} must be a plain name without '/'",
            hint="e.g. artifacts={'lookup': 'data/lookup.csv'}",
        )
    return validate_artifact_path(name)


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
    import cloudpickle  # type: ignore[import-untyped]

    if serialization not in (None, "pickle"):
        raise InvalidArgument(
            f"a PythonModel is stored with cloudpickle ('pickle'), not {serialization!r}"
        )
    if not isinstance(model, PythonModel):
        raise InvalidArgument(
            f"the python flavor needs a yard.PythonModel, got {type(model).__qualname__}",
            hint="subclass yard.PythonModel and define predict(self, df)",
        )
    recorded: dict[str, str] = {}
    for name, local in (artifacts or {}).items():
        source = Path(local)
        if not source.exists():
            raise InvalidArgument(
                f"artifact {name!r}: {str(local)!r} does not exist",
                hint="pass artifacts={'name': 'path/to/file/or/folder'}",
            )
        rel = f"artifacts/{_check_name(name, 'artifact')}/{source.name}"
        _copy(source, path / rel)
        recorded[name] = rel
    code: list[str] = []
    for local in code_paths or []:
        source = Path(local)
        if not source.exists():
            raise InvalidArgument(
                f"code path {str(local)!r} does not exist",
                hint="pass the files or folders of modules your model imports",
            )
        rel = f"code/{source.name}"
        if rel in code:
            raise InvalidArgument(f"two code paths are both named {source.name!r}")
        _copy(source, path / rel)
        code.append(rel)
    with open(path / FILE, "wb") as out:
        cloudpickle.dump(model, out)
    return Saved(
        serialization="pickle",
        framework="cloudpickle",
        framework_version=cloudpickle.__version__,
        modules=("cloudpickle", "numpy", "pandas"),
        has_predict_proba=callable(getattr(model, "predict_proba", None)),
        options={"artifacts": recorded, "code_paths": code, "model_class": _class_name(model)},
    )


def _class_name(model: object) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def load(path: Path, manifest: ModelManifest) -> Any:
    import cloudpickle  # type: ignore[import-untyped]

    if manifest.options.get("code_paths"):
        code_dir = str((path / "code").resolve())
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    with open(path / FILE, "rb") as fileobj:
        model = cloudpickle.load(fileobj)
    if not isinstance(model, PythonModel):
        raise InvalidState(
            f"{FILE} holds a {type(model).__qualname__}, not a yard.PythonModel",
            hint="log the model again with yard.log_model",
        )
    artifacts = {
        name: str((path / rel).resolve())
        for name, rel in dict(manifest.options.get("artifacts") or {}).items()
    }
    model.load_context(artifacts)
    return model


def predict(obj: Any, X: Any) -> Any:
    return obj.predict(X)


def predict_proba(obj: Any, X: Any) -> Any:
    return obj.predict_proba(X)


def wants(obj: Any) -> tuple[str, tuple[str, ...] | None]:
    return "any", None


def framework_object(obj: Any) -> Any:
    return obj
