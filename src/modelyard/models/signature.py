"""Model signatures: the columns (or tensor shape) a model takes and what it returns.

A :class:`Signature` holds ``inputs`` and ``outputs``, each a tuple of :class:`ColSpec`
(a named column with one of eight types: ``double float long integer boolean string datetime
binary``) or of :class:`TensorSpec` (a numpy dtype and a shape, ``-1`` for a dimension of any
size). :func:`infer_signature` reads one from an input example (a DataFrame gives columns, an
ndarray a tensor) and the model's output on it; ``to_dict``/``from_dict`` round-trip through
JSON. Inputs that break a signature raise :class:`SignatureError` (see
:mod:`modelyard.models.enforcement`), which lists every problem at once.

>>> import pandas as pd
>>> sig = infer_signature(pd.DataFrame({"age": [31, 45], "city": ["Oslo", "Rome"]}))
>>> [(c.name, c.type) for c in sig.inputs]
[('age', 'long'), ('city', 'string')]
>>> Signature.from_dict(sig.to_dict()) == sig
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, SignatureError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMN_TYPES",
    "ColSpec",
    "Signature",
    "SignatureError",
    "TensorSpec",
    "column_type",
    "infer_signature",
    "infer_specs",
]

COLUMN_TYPES = ("double", "float", "long", "integer", "boolean", "string", "datetime", "binary")
_SIGNATURE_HINT = (
    "build it as Signature(inputs=[ColSpec('age', 'long'), ...]) or "
    "Signature(inputs=[TensorSpec('float64', (-1, 4))]), or pass input_example= instead"
)


@dataclass(frozen=True)
class ColSpec:
    """One named input or output column of type ``type`` (one of :data:`COLUMN_TYPES`).

    A column with ``required=False`` may be absent from the input.

    >>> ColSpec("age", "long")
    ColSpec(name='age', type='long', required=True)
    """

    name: str
    type: str
    required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgument(
                f"column name must be a non-empty string, got {self.name!r}",
                hint=_SIGNATURE_HINT,
            )
        if self.type not in COLUMN_TYPES:
            raise InvalidArgument(
                f"column {self.name!r} has type {self.type!r}; expected one of "
                + ", ".join(COLUMN_TYPES),
                hint="e.g. ColSpec('age', 'long'), ColSpec('income', 'double')",
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if not self.required:
            out["required"] = False
        return out


@dataclass(frozen=True)
class TensorSpec:
    """An array of numpy ``dtype`` (``"float64"``, ``"int64"``, ...) and ``shape``.

    ``-1`` in the shape stands for a dimension of any size (usually the batch).

    >>> TensorSpec("float32", (-1, 4)).shape
    (-1, 4)
    """

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        import numpy as np

        try:
            dtype = np.dtype(self.dtype)
        except TypeError as exc:
            raise InvalidArgument(
                f"tensor dtype {self.dtype!r} is not a numpy dtype",
                hint="use a dtype name such as 'float64', 'float32', 'int64', 'bool'",
            ) from exc
        object.__setattr__(self, "dtype", _dtype_name(dtype))
        try:
            shape = tuple(int(d) for d in self.shape)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"tensor shape {self.shape!r} is not a sequence of integers",
                hint="e.g. (-1, 4): any number of rows of 4 values",
            ) from exc
        if any(d < -1 for d in shape):
            raise InvalidArgument(
                f"tensor shape {shape} has a negative size; only -1 (any size) is allowed"
            )
        object.__setattr__(self, "shape", shape)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "shape": list(self.shape)}
        if self.name is not None:
            out["name"] = self.name
        return out


Spec = ColSpec | TensorSpec


def _specs(value: Any, side: str) -> tuple[Spec, ...]:
    if value is None:
        return ()
    if isinstance(value, (ColSpec, TensorSpec)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise InvalidArgument(
            f"signature {side} must be a list of ColSpec or TensorSpec, got {type(value).__name__}",
            hint=_SIGNATURE_HINT,
        )
    specs = tuple(value)
    kinds = {type(s) for s in specs}
    if not kinds <= {ColSpec, TensorSpec} or len(kinds) > 1:
        raise InvalidArgument(
            f"signature {side} must be all ColSpec or all TensorSpec, got "
            + ", ".join(sorted(k.__name__ for k in kinds)),
            hint=_SIGNATURE_HINT,
        )
    if kinds == {ColSpec}:
        names = [s.name for s in specs if isinstance(s, ColSpec)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgument(f"signature {side} name columns twice: {dupes}")
    return specs


@dataclass(frozen=True)
class Signature:
    """What a model takes (``inputs``) and returns (``outputs``).

    Both are tuples of :class:`ColSpec` (a table) or of :class:`TensorSpec` (arrays); lists
    are accepted and stored as tuples.

    >>> Signature(inputs=[ColSpec("x", "double")]).kind
    'columns'
    """

    inputs: Sequence[Spec]
    outputs: Sequence[Spec] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _specs(self.inputs, "inputs"))
        object.__setattr__(self, "outputs", _specs(self.outputs, "outputs"))

    @property
    def kind(self) -> str:
        """``"columns"``, ``"tensor"`` or ``"none"`` (no inputs described)."""
        if not self.inputs:
            return "none"
        return "columns" if isinstance(self.inputs[0], ColSpec) else "tensor"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"inputs": [...], "outputs": [...]}``."""
        return {
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Rebuild a signature from :meth:`to_dict`'s output."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(
                f"a signature must be a mapping with 'inputs' and 'outputs', got {data!r}"
            )
        return cls(
            inputs=[_spec_from_dict(d) for d in data.get("inputs") or []],
            outputs=[_spec_from_dict(d) for d in data.get("outputs") or []],
        )


def _spec_from_dict(data: Any) -> Spec:
    if isinstance(data, Mapping) and "type" in data:
        return ColSpec(str(data["name"]), str(data["type"]), bool(data.get("required", True)))
    if isinstance(data, Mapping) and "dtype" in data:
        return TensorSpec(str(data["dtype"]), tuple(data.get("shape") or ()), data.get("name"))
    raise InvalidArgument(
        f"signature entry {data!r} is neither a column (name, type) nor a tensor (dtype, shape)",
        hint=_SIGNATURE_HINT,
    )


# -- type inference ----------------------------------------------------------------------------


def _object_type(series: pd.Series) -> str | None:
    import pandas as pd

    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "string": "string",
        "empty": "string",
        "bytes": "binary",
        "boolean": "boolean",
        "integer": "long",
        "floating": "double",
        "mixed-integer-float": "double",
        "decimal": "double",
        "datetime": "datetime",
        "datetime64": "datetime",
    }.get(inferred)


def column_type(series: pd.Series) -> str | None:
    """The :data:`COLUMN_TYPES` name of a pandas column, or None when none fits.

    Object columns are typed by their values (all strings → ``string``, all bytes →
    ``binary``); a categorical column by its categories.
    """
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return column_type(pd.Series(dtype.categories))
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    kind = getattr(dtype, "kind", "O")
    itemsize = getattr(dtype, "itemsize", 8)
    if kind == "f":
        return "double" if itemsize >= 8 else "float"
    if kind == "i":
        return "long" if itemsize >= 8 else "integer"
    if kind == "u":
        return "long" if itemsize >= 4 else "integer"
    if kind == "M":
        return "datetime"
    if kind == "O":
        return _object_type(series)
    return None


def _frame_specs(df: pd.DataFrame, what: str) -> tuple[ColSpec, ...]:
    specs = []
    bad = []
    for name in df.columns:
        column = df[name]
        typ = column_type(column)
        if typ is None or not isinstance(name, str):
            bad.append(f"{name!r} ({column.dtype})")
            continue
        specs.append(ColSpec(name, typ))
    if bad:
        raise InvalidArgument(
            f"cannot describe the {what} in a signature: columns {', '.join(bad)} have no "
            "signature type (names must be strings; types " + ", ".join(COLUMN_TYPES) + ")",
            hint="convert those columns (e.g. df[col].astype(str)), or pass signature= yourself",
        )
    return tuple(specs)


def _dtype_name(dtype: Any) -> str:
    """A numpy dtype's name, with strings of any length as ``str``/``bytes``."""
    return str({"O": "object", "U": "str", "S": "bytes"}.get(dtype.kind, dtype.name))


def _tensor_spec(arr: Any) -> TensorSpec:
    shape = (-1, *arr.shape[1:]) if arr.ndim else ()
    return TensorSpec(_dtype_name(arr.dtype), shape)


def infer_specs(data: Any, what: str = "input example") -> tuple[Spec, ...]:
    """Specs describing ``data``: columns for a DataFrame, Series, dict or list of dicts,
    one tensor for an ndarray or a list of numbers."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        return _frame_specs(data, what)
    if isinstance(data, dict) or (
        isinstance(data, list) and data and all(isinstance(r, dict) for r in data)
    ):
        from modelyard.models.enforcement import records_to_frame

        return _frame_specs(records_to_frame(data), what)
    if isinstance(data, (list, tuple)):
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        return (_tensor_spec(data),)
    raise InvalidArgument(
        f"cannot infer a signature from the {what}, a {type(data).__module__}."
        f"{type(data).__qualname__}",
        hint="pass a pandas DataFrame, a numpy array or a list of dicts, or pass signature=",
    )


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """A signature describing ``input_example`` and, when given, ``output_example``.

    >>> import numpy as np
    >>> infer_signature(np.zeros((3, 4)), np.zeros(3)).to_dict()["inputs"]
    [{'dtype': 'float64', 'shape': [-1, 4]}]
    """
    inputs = infer_specs(input_example)
    outputs = () if output_example is None else infer_specs(output_example, "model output")
    return Signature(inputs=inputs, outputs=outputs)
