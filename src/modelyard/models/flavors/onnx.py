"""The ONNX flavor: an ``onnx.ModelProto`` or a ``.onnx`` file, run with onnxruntime.

The model is stored as ``model.onnx`` and loaded into an ``onnxruntime.InferenceSession`` on
the CPU; loading an ONNX graph runs no Python code. ``predict`` feeds a DataFrame or array to
the graph (one input: the whole table as one tensor; several inputs: one column each, by
name) and returns the first output; ``predict_proba`` returns the output named
``probabilities`` (or ``output_probability``) when the graph has one. The scikit-learn flavor
reuses :func:`session` and :func:`run` for its ``serialization="onnx"``.

>>> matches("model.onnx")
True
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, InvalidState
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
    "run",
    "save",
    "session",
    "session_signature",
    "wants",
]

NAME = "onnx"
SERIALIZATIONS = ("onnx",)
FILE = "model.onnx"
PROBA_OUTPUTS = ("probabilities", "output_probability")
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def matches(model: object) -> bool:
    if root_module(model) == "onnx" and type(model).__name__ == "ModelProto":
        return True
    return isinstance(model, (str, Path)) and str(model).endswith(".onnx")


def _import_ort() -> Any:
    try:
        import onnxruntime  # type: ignore[import-untyped]
    except ImportError as exc:
        raise InvalidState(
            "ONNX models need onnxruntime, which is not installed",
            hint="pip install onnxruntime",
        ) from exc
    return onnxruntime


def session(path: Path) -> Any:
    """An onnxruntime InferenceSession of the graph at ``path``, on the CPU."""
    ort = _import_ort()
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise InvalidArgument(
            f"onnxruntime cannot load {path.name}: {type(exc).__name__}: {exc}",
            hint="check the model with onnx.checker.check_model",
        ) from exc


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
    if serialization not in (None, "onnx"):
        raise InvalidArgument(
            f"an ONNX model is stored as 'onnx', not {serialization!r}",
            hint="leave serialization=None",
        )
    target = path / FILE
    if isinstance(model, (str, Path)):
        source = Path(model)
        if not source.is_file():
            raise InvalidArgument(f"ONNX file {str(source)!r} does not exist")
        shutil.copyfile(source, target)
    else:
        target.write_bytes(model.SerializeToString())
    sess = session(target)
    import onnx

    outputs = [o.name for o in sess.get_outputs()]
    return Saved(
        serialization="onnx",
        framework="onnx",
        framework_version=onnx.__version__,
        modules=("onnx", "onnxruntime", "numpy"),
        has_predict_proba=any(name in PROBA_OUTPUTS for name in outputs),
        options={"inputs": [i.name for i in sess.get_inputs()], "outputs": outputs},
    )


def load(path: Path, manifest: ModelManifest) -> Any:
    return session(path / FILE)


def _feed(sess: Any, X: Any) -> dict[str, Any]:
    import numpy as np

    inputs = sess.get_inputs()
    if isinstance(X, dict) and all(i.name in X for i in inputs):
        return {i.name: np.asarray(X[i.name], dtype=_ORT_TYPES.get(i.type)) for i in inputs}
    columns = getattr(X, "columns", None)
    if len(inputs) > 1:
        if columns is None:
            raise InvalidArgument(
                f"this ONNX model takes {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}); pass a DataFrame with those columns"
            )
        missing = [i.name for i in inputs if i.name not in columns]
        if missing:
            raise InvalidArgument(f"the ONNX model's inputs {missing} are not columns of the data")
        return {
            i.name: np.asarray(X[i.name].to_numpy(), dtype=_ORT_TYPES.get(i.type)).reshape(-1, 1)
            for i in inputs
        }
    first = inputs[0]
    array = X.to_numpy() if columns is not None else np.asarray(X)
    return {first.name: np.asarray(array, dtype=_ORT_TYPES.get(first.type))}


def run(sess: Any, X: Any, output: str | None = None) -> Any:
    """Run the graph on ``X``; the output named ``output`` (default: the first one)."""
    names = [o.name for o in sess.get_outputs()]
    name = output or names[0]
    try:
        result = sess.run([name], _feed(sess, X))[0]
    except InvalidArgument:
        raise
    except Exception as exc:  # onnxruntime's own error types
        raise InvalidArgument(
            f"onnxruntime could not run the model: {type(exc).__name__}: {exc}",
            hint="check the input dtypes and shapes against predictor.signature",
        ) from exc
    if isinstance(result, list) and result and isinstance(result[0], dict):  # a ZipMap
        import numpy as np

        keys = list(result[0])
        return np.array([[row[k] for k in keys] for row in result])
    return result


def proba_output(sess: Any) -> str | None:
    names = [o.name for o in sess.get_outputs()]
    return next((n for n in PROBA_OUTPUTS if n in names), None)


def predict(obj: Any, X: Any) -> Any:
    return run(obj, X)


def predict_proba(obj: Any, X: Any) -> Any:
    name = proba_output(obj)
    if name is None:
        raise InvalidState(
            "this ONNX model has no probabilities output",
            hint="use predict(); outputs are: " + ", ".join(o.name for o in obj.get_outputs()),
        )
    return run(obj, X, name)


def wants(obj: Any) -> tuple[str, tuple[str, ...] | None]:
    return "any", None


def framework_object(obj: Any) -> Any:
    return obj


def session_signature(sess: Any) -> Signature:
    """A signature read from the graph: columns when every input is one ``[N, 1]`` column,
    else one tensor per input."""
    from modelyard.models.signature import ColSpec, Signature, TensorSpec

    def tensor(node: Any) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else -1 for d in node.shape)
        return TensorSpec(_ORT_TYPES.get(node.type, "object"), shape, node.name)

    inputs = sess.get_inputs()
    column_types = {
        "float32": "float",
        "float64": "double",
        "int64": "long",
        "int32": "integer",
        "bool": "boolean",
        "object": "string",
    }
    if len(inputs) > 1 and all(
        len(i.shape) == 2 and i.shape[1] == 1 and _ORT_TYPES.get(i.type) in column_types
        for i in inputs
    ):
        specs: list[Any] = [ColSpec(i.name, column_types[_ORT_TYPES[i.type]]) for i in inputs]
    else:
        specs = [tensor(i) for i in inputs]
    return Signature(inputs=specs, outputs=[tensor(o) for o in sess.get_outputs()])
