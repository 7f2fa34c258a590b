"""How step outputs travel: stored in the artifact store, named by digest, read back by kind.

:func:`store_output` turns a value a step returned into bytes in the artifact store and an
:class:`~modelyard.pipelines.entities.OutputRef`; :func:`load_output` turns the ref back into a
value for the next step — in the same process, another process or another machine. Kinds:

========  ============================================  =====================================
kind      values                                        stored as
========  ============================================  =====================================
parquet   pandas and polars DataFrames                  Parquet (read back with the same library)
npy       NumPy arrays (not of dtype object)            ``.npy`` without pickle
json      None, bool, int, float, str, lists and        canonical JSON
          str-keyed dicts of those
model     :class:`Model` (or any value of a step        the model's flavor (``yard.log_model``)
          annotated ``-> yard.Model``)
pickle    anything else                                 cloudpickle
========  ============================================  =====================================

A table's or array's ``digest`` is its dataset digest (the same one lineage records), a model's
its model digest, anything else the digest of its bytes.

>>> Model([1, 2]).raw
[1, 2]
"""

from __future__ import annotations

import io
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from modelyard.pipelines.entities import OutputRef

if TYPE_CHECKING:
    from modelyard.artifacts import ArtifactStore
    from modelyard.data import DatasetInfo
    from modelyard.tracking.client import TrackingClient

__all__ = ["Model", "StoredOutput", "load_output", "store_output"]

_SUFFIX = {"parquet": ".parquet", "npy": ".npy", "json": ".json", "pickle": ".pkl"}


class Model:
    """A trained model passed between steps, stored with its flavor (``yard.log_model``).

    Return ``yard.Model(estimator, input_example=X[:5])`` from a step (or annotate the step
    ``-> yard.Model``) and the model is packaged and logged with the step's run, so it can be
    registered from there. The next step receives a ``Model`` again: ``model.raw`` is the
    framework object, ``model.uri`` where it is logged, and any other attribute
    (``model.predict``, ``model.coef_``) is the framework object's.

    >>> Model("estimator", input_example=None).raw
    'estimator'
    """

    def __init__(
        self,
        obj: Any,
        *,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        uri: str | None = None,
        predictor: Any = None,
    ) -> None:
        self.raw = obj
        self.input_example = input_example
        self.signature = signature
        self.flavor = flavor
        self.uri = uri
        self.predictor = predictor

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("raw", "predictor"):
            raise AttributeError(name)
        return getattr(self.raw, name)

    def __repr__(self) -> str:
        return f"Model({type(self.raw).__qualname__}, uri={self.uri!r})"


class StoredOutput:
    """An output just stored: its ref, and the dataset record lineage gets for it."""

    def __init__(self, ref: OutputRef, dataset: DatasetInfo | None) -> None:
        self.ref = ref
        self.dataset = dataset


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_plain_json(v, depth + 1) for k, v in value.items())
    return False


def kind_of(value: Any, *, wants_model: bool = False) -> str:
    """The storage kind of ``value`` (see the module table)."""
    if isinstance(value, Model) or wants_model:
        return "model" if _models_available() else "pickle"
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return "parquet"
    from modelyard.data.frames import is_polars_frame

    if is_polars_frame(value):
        return "parquet"
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        return "npy"
    if _is_plain_json(value):
        return "json"
    return "pickle"


def _models_available() -> bool:
    import modelyard

    return hasattr(modelyard, "log_model") and hasattr(modelyard, "load_model")


def _file_dataset(digest: str, size: int, kind: str = "file") -> DatasetInfo:
    from modelyard.data import DatasetInfo

    return DatasetInfo(
        digest=digest,
        kind=kind,
        rows=None,
        columns=None,
        size_bytes=size,
        schema=None,
        profile=None,
        manifest=None,
        source=None,
    )


def store_output(
    value: Any,
    name: str,
    *,
    artifacts: ArtifactStore,
    client: TrackingClient | None = None,
    run_id: str | None = None,
    wants_model: bool = False,
) -> StoredOutput:
    """Store ``value`` as output ``name`` of step run ``run_id``; return its ref and dataset.

    Models are logged with the step run through ``client`` (artifacts under
    ``outputs/<name>/``); every other kind is put in ``artifacts`` and recorded later by the
    caller under ``outputs/<name><suffix>``.
    """
    kind = kind_of(value, wants_model=wants_model)
    if kind == "model":
        return _store_model(value, name, client=client, run_id=run_id)
    library = None
    dataset = None
    if kind == "parquet":
        data, library = _parquet_bytes(value)
        from modelyard.data import describe_dataset

        dataset = describe_dataset(value, profile=True)
    elif kind == "npy":
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        data = buffer.getvalue()
        from modelyard.data import describe_dataset

        dataset = describe_dataset(value, profile=True)
    elif kind == "json":
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
    else:
        import cloudpickle  # type: ignore[import-untyped]

        if isinstance(value, Model):
            value = value.raw
        data = cloudpickle.dumps(value)
    blob = artifacts.put_bytes(data)
    if dataset is None:
        dataset = _file_dataset(blob.digest, blob.size)
    ref = OutputRef(
        name=name,
        kind=kind,
        digest=dataset.digest,
        blob=blob.digest,
        size=blob.size,
        path=f"outputs/{name}{_SUFFIX[kind]}",
        library=library,
    )
    return StoredOutput(ref, dataset)


def _parquet_bytes(value: Any) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        value.to_parquet(buffer)
        return buffer.getvalue(), "pandas"
    value.write_parquet(buffer)
    return buffer.getvalue(), "polars"


def _store_model(
    value: Any, name: str, *, client: TrackingClient | None, run_id: str | None
) -> StoredOutput:
    import modelyard

    if client is None or run_id is None:  # pragma: no cover - the runner always passes both
        raise ValueError("storing a model needs a client and a run id")
    model = value if isinstance(value, Model) else Model(value)
    path = f"outputs/{name}"
    info = modelyard.log_model(
        model.raw,
        name=path,
        input_example=model.input_example,
        signature=model.signature,
        flavor=model.flavor,
        run_id=run_id,
        client=client,
    )
    logged = client.list_artifacts(run_id, path + "/")
    files = tuple({"path": a.path, "digest": a.digest, "size": a.size} for a in logged)
    size = sum(a.size for a in logged)
    ref = OutputRef(
        name=name,
        kind="model",
        digest=info.model_digest,
        blob=None,
        size=size,
        path=path,
        library=info.flavor,
        uri=info.uri,
        files=files,
    )
    return StoredOutput(ref, _file_dataset(info.model_digest, size, kind="folder"))


def load_output(ref: OutputRef, client: TrackingClient) -> Any:
    """The value an :class:`OutputRef` names, read (verified) from the artifact store."""
    if ref.kind == "model":
        if not _models_available():  # pragma: no cover - models are part of Modelyard
            raise ImportError("modelyard.models is not available to load a model output")
        import modelyard

        predictor = modelyard.load_model(str(ref.uri), client=client)
        return Model(
            predictor.raw,
            signature=predictor.signature,
            flavor=predictor.flavor,
            uri=ref.uri,
            predictor=predictor,
        )
    data = client.artifacts.get_bytes(str(ref.blob))
    if ref.kind == "json":
        return json.loads(data)
    if ref.kind == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if ref.kind == "parquet":
        if ref.library == "polars":
            import polars as pl

            return pl.read_parquet(io.BytesIO(data))
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    import pickle

    import cloudpickle  # type: ignore[import-untyped]  # noqa: F401 - its pickles need it

    return pickle.loads(data)
