"""Packaging: writing a model folder with its manifest, and logging it with a run.

:func:`save_model` writes the flavor's files into a folder, infers the signature from the
input example and from the saved model's own output on it (the folder is loaded back and
run once, so a model that cannot be loaded is caught when it is logged, not when it is
served), pins requirements from the installed versions, digests every file and writes
``modelyard-model.json``. :func:`log_model` does that in a temporary folder and stores it as
run artifacts under ``name/`` (content-addressed, verified on every read), then lists the
name in the run's ``modelyard.models`` tag. Both return a :class:`ModelInfo`.

>>> from sklearn.linear_model import LinearRegression
>>> import numpy as np, tempfile
>>> model = LinearRegression().fit(np.eye(3), [1.0, 2.0, 3.0])
>>> with tempfile.TemporaryDirectory() as folder:
...     save_model(model, folder + "/m", input_example=np.eye(3)).flavor
'sklearn'
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import AlreadyExists, InvalidArgument
from modelyard.models.flavors import detect_flavor, get_flavor
from modelyard.models.manifest import (
    MANIFEST_NAME,
    ModelManifest,
    compute_model_digest,
    digest_folder,
)
from modelyard.models.signature import Signature, infer_specs

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient

__all__ = [
    "MODELS_TAG",
    "ModelInfo",
    "get_model_info",
    "log_model",
    "pinned_requirements",
    "save_model",
]

MODELS_TAG = "modelyard.models"
_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class ModelInfo:
    """A logged (or saved) model: where it is and what it is.

    ``uri`` is ``runs:/<run_id>/<name>`` (or the folder for :func:`save_model`); ``files``
    are the model's relative file paths; ``model_digest`` identifies its bytes.
    """

    run_id: str | None
    name: str
    uri: str
    flavor: str
    serialization: str
    signature: Signature | None
    model_digest: str
    files: tuple[str, ...]
    manifest: ModelManifest


def _as_example(input_example: Any) -> Any:
    """The example as a DataFrame or ndarray, at most a few rows."""
    if input_example is None:
        return None
    import numpy as np
    import pandas as pd

    from modelyard.models.enforcement import records_to_frame

    example = input_example
    if isinstance(example, dict) or (
        isinstance(example, list) and example and isinstance(example[0], dict)
    ):
        example = records_to_frame(example)
    elif isinstance(example, pd.Series):
        example = example.to_frame()
    elif isinstance(example, (list, tuple)):
        example = np.asarray(example)
    if not isinstance(example, (pd.DataFrame, np.ndarray)):
        raise InvalidArgument(
            f"input_example must be a DataFrame, an ndarray or a list of dicts, got "
            f"{type(input_example).__qualname__}",
            hint="pass a few rows of the training data, e.g. input_example=X[:5]",
        )
    if len(example) == 0:
        raise InvalidArgument("input_example is empty", hint="pass a few rows, e.g. X[:5]")
    return example[:_EXAMPLE_ROWS]


def _example_json(example: Any) -> Any:
    """The example as JSON-ready records (a list of lists for arrays), or None."""
    if example is None:
        return None
    import numpy as np

    try:
        if isinstance(example, np.ndarray):
            data: Any = example.tolist()
        else:
            data = json.loads(example.to_json(orient="records", date_format="iso"))
        json.dumps(data)
    except (TypeError, ValueError, OverflowError):
        return None
    return data


@lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()


def pinned_requirements(modules: Sequence[str], extra: Sequence[str] = ()) -> tuple[str, ...]:
    """``dist==version`` for the installed distributions of ``modules``, plus modelyard,
    then ``extra`` (which replaces an inferred pin of the same name)."""
    import importlib.metadata
    import re

    import modelyard

    pins: dict[str, str] = {}
    for module in modules:
        for dist in _distributions().get(module, [])[:1]:
            try:
                pins[dist.lower()] = f"{dist}=={importlib.metadata.version(dist)}"
            except importlib.metadata.PackageNotFoundError:
                continue
    pins["modelyard"] = f"modelyard=={modelyard.__version__}"
    for requirement in extra:
        if not isinstance(requirement, str) or not requirement.strip():
            raise InvalidArgument(f"requirement {requirement!r} must be a non-empty string")
        name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower()
        pins[name] = requirement.strip()
    return tuple(pins.values())


def save_model(
    model: Any,
    path: str | Path,
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    serialization: str | None = None,
    requirements: Sequence[str] | None = None,
    artifacts: Mapping[str, str | Path] | None = None,
    code_paths: Sequence[str | Path] | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Write ``model`` and its ``modelyard-model.json`` into the new folder ``path``.

    The arguments are those of :func:`log_model`. ``path`` must not exist or be empty.
    """
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise AlreadyExists(
            f"cannot save a model into {str(folder)!r}: it exists and is not an empty folder",
            hint="pick a new folder",
        )
    if signature is not None and not isinstance(signature, Signature):
        raise InvalidArgument(
            f"signature must be a yard.Signature, got {type(signature).__qualname__}",
            hint="build one with Signature(inputs=[ColSpec(...)]) or infer_signature(X)",
        )
    if artifacts or code_paths:
        if flavor not in (None, "python"):
            raise InvalidArgument("artifacts= and code_paths= are for the python flavor only")
    impl = get_flavor(flavor) if flavor is not None else detect_flavor(model)
    if (artifacts or code_paths) and impl.NAME != "python":
        raise InvalidArgument(
            "artifacts= and code_paths= are for a yard.PythonModel only",
            hint="wrap the model in a PythonModel subclass that loads the files in load_context",
        )
    example = _as_example(input_example)
    if signature is None and example is not None:
        signature = Signature(inputs=infer_specs(example))
    folder.mkdir(parents=True, exist_ok=True)
    saved = impl.save(
        model,
        folder,
        serialization=serialization,
        example=example,
        signature=signature,
        artifacts={k: str(v) for k, v in (artifacts or {}).items()},
        code_paths=[str(p) for p in code_paths or []],
    )
    files = digest_folder(folder)
    manifest = ModelManifest(
        flavor=impl.NAME,
        serialization=saved.serialization,
        framework=saved.framework,
        framework_version=saved.framework_version,
        python_version=platform.python_version(),
        signature=signature,
        requirements=pinned_requirements(saved.modules, requirements or ()),
        files=files,
        model_digest=compute_model_digest(files),
        has_predict_proba=saved.has_predict_proba,
        created_at=time.time_ns() // 1_000_000,
        run_id=run_id,
        input_example=_example_json(example),
        options=saved.options,
        notes=saved.notes,
    )
    manifest = _with_outputs(folder, manifest, example, impl.NAME)
    (folder / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return ModelInfo(
        run_id=run_id,
        name=folder.name,
        uri=str(folder.resolve()),
        flavor=manifest.flavor,
        serialization=manifest.serialization,
        signature=manifest.signature,
        model_digest=manifest.model_digest,
        files=tuple(sorted(manifest.files)),
        manifest=manifest,
    )


def _with_outputs(
    folder: Path, manifest: ModelManifest, example: Any, flavor: str
) -> ModelManifest:
    """Load the saved model back and describe its output on the example (and, for ONNX
    without an example, read the inputs from the graph)."""
    import dataclasses

    from modelyard.models.predictor import Predictor

    saved_path = list(sys.path)
    try:
        predictor = Predictor.from_folder(folder, manifest)
    finally:  # the staging folder's code/ must not stay on sys.path
        sys.path[:] = saved_path
    signature = manifest.signature
    if signature is None and flavor == "onnx":
        from modelyard.models.flavors.onnx import session_signature

        return dataclasses.replace(manifest, signature=session_signature(predictor.raw))
    if example is None or signature is None or signature.outputs:
        return manifest
    try:
        output = predictor.predict(example)
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"the saved model rejects its own input_example: {exc.message}",
            hint="pass an input_example shaped like the training data, or a matching signature",
        ) from exc
    outputs = infer_specs(output, "model output")
    return dataclasses.replace(manifest, signature=Signature(signature.inputs, outputs))


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    serialization: str | None = None,
    requirements: Sequence[str] | None = None,
    artifacts: Mapping[str, str | Path] | None = None,
    code_paths: Sequence[str | Path] | None = None,
    run_id: str | None = None,
    client: TrackingClient | None = None,
) -> ModelInfo:
    """Package ``model`` and store it with a run (the active one unless ``run_id`` is given).

    ``flavor`` is detected from the model's type; ``serialization`` defaults to the safest
    format the flavor has; ``requirements`` add to (or override) the pinned ones; ``artifacts``
    (name → path) and ``code_paths`` are for a :class:`PythonModel`. Returns a
    :class:`ModelInfo` whose ``uri`` loads it back: ``yard.load_model(info.uri)``.

    >>> with yard.start_run():                                     # doctest: +SKIP
    ...     info = yard.log_model(model, name="model", input_example=X[:5])
    """
    from modelyard.artifacts import validate_artifact_path
    from modelyard.tracking import fluent

    if client is None:
        client = fluent.get_client()
    if run_id is None:
        run_id = fluent._current().run_id
    name = validate_artifact_path(name)
    if client.list_artifacts(run_id, name):
        raise AlreadyExists(
            f"run {run_id} already has artifacts under {name!r}",
            hint="log the model under another name, e.g. name='model_v2'",
        )
    staging = Path(tempfile.mkdtemp(prefix="modelyard-model-"))
    try:
        info = save_model(
            model,
            staging / "model",
            input_example=input_example,
            signature=signature,
            flavor=flavor,
            serialization=serialization,
            requirements=requirements,
            artifacts=artifacts,
            code_paths=code_paths,
            run_id=run_id,
        )
        client.log_artifacts(run_id, staging / "model", name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    names = set(_logged_names(client, run_id)) | {name}
    client.set_tags(run_id, {MODELS_TAG: json.dumps(sorted(names))})
    return ModelInfo(
        run_id=run_id,
        name=name,
        uri=f"runs:/{run_id}/{name}",
        flavor=info.flavor,
        serialization=info.serialization,
        signature=info.signature,
        model_digest=info.model_digest,
        files=info.files,
        manifest=info.manifest,
    )


def _logged_names(client: TrackingClient, run_id: str) -> list[str]:
    raw = client.get_run(run_id).tags.get(MODELS_TAG)
    if not raw:
        return []
    try:
        names = json.loads(raw)
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


def get_model_info(uri: str, *, client: TrackingClient | None = None) -> ModelInfo:
    """What a logged model is, read from its manifest alone (nothing is downloaded).

    ``uri`` is ``runs:/<run_id>/<name>`` or a ``models:/`` URI.

    >>> yard.models.get_model_info("runs:/4f0c.../model").model_digest   # doctest: +SKIP
    '9a1c...'
    """
    from modelyard.models.cache import read_run_manifest
    from modelyard.models.predictor import _run_location
    from modelyard.tracking import fluent

    if not isinstance(uri, str) or not uri.startswith(("runs:/", "models:/")):
        raise InvalidArgument(
            f"cannot read model info from {uri!r}",
            hint="use runs:/<run_id>/<name>, models:/<name>/<version> or models:/<name>@<alias>",
        )
    if client is None:
        client = fluent.get_client()
    run_id, path = _run_location(uri, client)
    manifest = read_run_manifest(client, run_id, path)
    return ModelInfo(
        run_id=run_id,
        name=path,
        uri=f"runs:/{run_id}/{path}",
        flavor=manifest.flavor,
        serialization=manifest.serialization,
        signature=manifest.signature,
        model_digest=manifest.model_digest,
        files=tuple(sorted(manifest.files)),
        manifest=manifest,
    )
