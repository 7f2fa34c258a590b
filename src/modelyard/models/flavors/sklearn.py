"""The scikit-learn flavor: any fitted estimator or Pipeline, stored with skops, pickle or ONNX.

Serializations:

- ``"skops"`` (``model.skops``, the default when skops is installed): skops stores the object
  tree without pickle and, on load, builds only allow-listed types. The default is taken when
  every type skops does not trust by itself comes from ``sklearn``, ``numpy`` or ``scipy``
  (a fitted tree's ``sklearn.tree._tree.Tree``, for instance); those are recorded in the
  manifest and are the only extra types trusted on load. A model that holds other types (your
  own transformer, a lambda in a FunctionTransformer) falls back to ``"pickle"`` with a note in
  the manifest saying which types caused it. Asking for ``"skops"`` explicitly trusts the
  model's own types too, and records them.
- ``"pickle"`` (``model.pkl``, written by cloudpickle): anything picklable; loading it runs
  whatever code the file names, so load only models you trust (the digest check guarantees
  the bytes are the ones that were logged, not that they are harmless).
- ``"onnx"`` (``model.onnx``): converted by skl2onnx from the input example's types and run
  with onnxruntime; no Python code runs on load. Not every estimator converts; the error says.

>>> from sklearn.linear_model import LinearRegression
>>> matches(LinearRegression())
True
"""

from __future__ import annotations

import warnings
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
    "TRUSTED_PREFIXES",
    "framework_object",
    "load",
    "matches",
    "predict",
    "predict_proba",
    "save",
    "wants",
]

NAME = "sklearn"
SERIALIZATIONS = ("skops", "pickle", "onnx")
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
_FILES = {"skops": "model.skops", "pickle": "model.pkl", "onnx": "model.onnx"}


def matches(model: object) -> bool:
    return any((c.__module__ or "").split(".")[0] == "sklearn" for c in type(model).__mro__)


def _check_fitted(model: Any) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidArgument(
            f"the {type(model).__name__} is not fitted, so there is no model to log",
            hint="call .fit(X, y) first",
        ) from exc
    except TypeError:  # not an estimator check_is_fitted understands: let it through
        return


def _skops_io() -> Any:
    try:
        import skops.io as sio  # type: ignore[import-untyped]
    except ImportError:
        return None
    return sio


def _untrusted(sio: Any, file: Path) -> list[str]:
    return sorted(str(t) for t in sio.get_untrusted_types(file=str(file)))


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
    import sklearn

    if serialization not in (None, *SERIALIZATIONS):
        raise InvalidArgument(
            f"scikit-learn models are stored as {', '.join(SERIALIZATIONS)}, not {serialization!r}",
            hint="leave serialization=None for the safe default",
        )
    _check_fitted(model)
    modules = ["sklearn", "numpy", "scipy"]
    if example is not None and type(example).__name__ == "DataFrame":
        modules.append("pandas")
    options: dict[str, Any] = {
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}"
    }
    notes: list[str] = []
    chosen = serialization
    if chosen in (None, "skops"):
        sio = _skops_io()
        if sio is None:
            if chosen == "skops":
                raise InvalidState(
                    "serialization='skops' needs skops, which is not installed",
                    hint="pip install skops",
                )
            notes.append("skops is not installed: saved with cloudpickle")
            chosen = "pickle"
        else:
            target = path / _FILES["skops"]
            sio.dump(model, str(target))
            untrusted = _untrusted(sio, target)
            outside = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
            if outside and chosen is None:
                target.unlink()
                notes.append(
                    "saved with cloudpickle, not skops: skops would have to trust "
                    + ", ".join(outside)
                )
                chosen = "pickle"
            else:
                options["trusted_types"] = untrusted
                chosen = "skops"
                modules.append("skops")
    if chosen == "pickle":
        import cloudpickle  # type: ignore[import-untyped]

        with open(path / _FILES["pickle"], "wb") as out:
            cloudpickle.dump(model, out)
        modules.append("cloudpickle")
    elif chosen == "onnx":
        options.update(_save_onnx(model, path / _FILES["onnx"], example, signature))
        modules.extend(["onnxruntime", "numpy"])
    return Saved(
        serialization=str(chosen),
        framework="scikit-learn",
        framework_version=sklearn.__version__,
        modules=tuple(modules),
        has_predict_proba=hasattr(model, "predict_proba"),
        options=options,
        notes=tuple(notes),
    )


def _initial_types(example: Any, signature: Signature | None) -> Any:
    """skl2onnx input types: one tensor ``X`` for all-numeric data, else one per column."""
    import numpy as np
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped]
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
    )

    tensor_types = {"f8": DoubleTensorType, "f4": FloatTensorType, "i8": Int64TensorType}
    if type(example).__name__ == "DataFrame":
        dtypes = list(example.dtypes)
        kinds = {dt.str[1:] for dt in dtypes if isinstance(dt, np.dtype)}
        if len(kinds) == 1 and all(isinstance(dt, np.dtype) for dt in dtypes):
            (kind,) = kinds
            if kind in tensor_types:
                return [("X", tensor_types[kind]([None, example.shape[1]]))]
        return _column_types(example)
    if isinstance(example, np.ndarray) and example.ndim == 2:
        kind = example.dtype.str[1:]
        if kind in tensor_types:
            return [("X", tensor_types[kind]([None, example.shape[1]]))]
    raise InvalidArgument(
        "serialization='onnx' needs an input example of numbers (or a DataFrame) to know the "
        "model's input types",
        hint="pass input_example=X[:5]",
    )


def _column_frame(example: Any) -> Any:
    """``example`` with text columns as plain object columns, which skl2onnx understands."""
    import pandas as pd

    return pd.DataFrame(
        {
            name: example[name].astype(object)
            if isinstance(example[name].dtype, pd.StringDtype)
            else example[name]
            for name in example.columns
        }
    )


def _column_types(example: Any) -> Any:
    """One skl2onnx input type per column of ``example``, ``[None, 1]`` each."""
    from skl2onnx.common.data_types import guess_data_type  # type: ignore[import-untyped]

    return guess_data_type(_column_frame(example[:1]))


def _save_onnx(
    model: Any, target: Path, example: Any, signature: Signature | None
) -> dict[str, Any]:
    import numpy as np
    from sklearn.base import is_classifier

    try:
        from skl2onnx import to_onnx  # type: ignore[import-untyped]
    except ImportError as exc:
        raise InvalidState(
            "serialization='onnx' needs skl2onnx and onnxruntime, which are not installed",
            hint="pip install skl2onnx onnxruntime",
        ) from exc
    if example is None:
        raise InvalidArgument(
            "serialization='onnx' needs input_example= to know the model's input types",
            hint="pass input_example=X[:5]",
        )
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    initial = _initial_types(example, signature)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                onx = to_onnx(model, initial_types=initial, options=options)
            except Exception:
                # One tensor input did not fit (a ColumnTransformer selects columns by name):
                # retry with one input per column, as skl2onnx guesses them from the frame.
                if initial is None or type(example).__name__ != "DataFrame":
                    raise
                onx = to_onnx(model, _column_frame(example[:1]), options=options)
    except Exception as exc:  # skl2onnx raises many untyped errors for unsupported models
        raise InvalidArgument(
            f"the {type(model).__name__} does not convert to ONNX: {type(exc).__name__}: {exc}",
            hint="use serialization='skops' (safe) or 'pickle' for this model",
        ) from exc
    target.write_bytes(onx.SerializeToString())
    expected = np.asarray(model.predict(example))
    return {"predict_dtype": expected.dtype.str, "predict_ndim": expected.ndim}


def load(path: Path, manifest: ModelManifest) -> Any:
    serialization = manifest.serialization
    if serialization == "skops":
        sio = _skops_io()
        if sio is None:
            raise InvalidState(
                "this model was saved with skops, which is not installed", hint="pip install skops"
            )
        file = path / _FILES["skops"]
        recorded = set(manifest.options.get("trusted_types") or ())
        untrusted = _untrusted(sio, file)
        refused = [t for t in untrusted if t not in recorded]
        if refused:
            raise InvalidState(
                f"the skops file of this model holds types that were not trusted when it was "
                f"logged: {', '.join(refused)}; it was not loaded",
                hint="log the model again; only the types recorded in the manifest are trusted",
            )
        return sio.load(str(file), trusted=untrusted)
    if serialization == "pickle":
        import cloudpickle  # type: ignore[import-untyped]

        with open(path / _FILES["pickle"], "rb") as fileobj:
            return cloudpickle.load(fileobj)
    if serialization == "onnx":
        from modelyard.models.flavors import onnx

        sess = onnx.session(path / _FILES["onnx"])
        return _OnnxEstimator(sess, manifest.options)
    raise InvalidArgument(
        f"unknown scikit-learn serialization {serialization!r} in the manifest",
        hint=f"known: {', '.join(SERIALIZATIONS)}",
    )


class _OnnxEstimator:
    """An onnxruntime session with the estimator's predict / predict_proba shape."""

    def __init__(self, session: Any, options: Any) -> None:
        self.session = session
        self.predict_dtype = options.get("predict_dtype")
        self.predict_ndim = options.get("predict_ndim")

    def predict(self, X: Any) -> Any:
        import numpy as np

        from modelyard.models.flavors import onnx

        out = onnx.run(self.session, X)
        if self.predict_ndim == 1 and out.ndim == 2 and out.shape[1] == 1:
            out = out.ravel()
        if self.predict_dtype and np.dtype(self.predict_dtype).kind in "biu":
            out = out.astype(self.predict_dtype)
        return out

    def predict_proba(self, X: Any) -> Any:
        from modelyard.models.flavors import onnx

        return onnx.predict_proba(self.session, X)


def predict(obj: Any, X: Any) -> Any:
    return obj.predict(X)


def predict_proba(obj: Any, X: Any) -> Any:
    return obj.predict_proba(X)


def wants(obj: Any) -> tuple[str, tuple[str, ...] | None]:
    if isinstance(obj, _OnnxEstimator):
        return "any", None
    names = getattr(obj, "feature_names_in_", None)
    if names is not None:
        return "frame", tuple(str(n) for n in names)
    return "array", None


def framework_object(obj: Any) -> Any:
    return obj.session if isinstance(obj, _OnnxEstimator) else obj
