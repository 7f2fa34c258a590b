"""Loading models: :func:`load_model` and the one :class:`Predictor` type it returns.

``load_model`` takes ``runs:/<run_id>/<name>``, ``models:/<name>/<version>`` or
``models:/<name>@<alias>`` (resolved by the registry), or a local model folder. Run models come
through the verified local cache (:mod:`modelyard.models.cache`); a local folder is re-hashed
against its manifest in place. Only then is the flavor asked to deserialize anything.

A :class:`Predictor` wraps the framework object with the signature's :class:`InputPlan`:
``predict(data)`` accepts a DataFrame, an ndarray, a list of dicts or one dict, enforces the
signature (one SignatureError listing every problem) and calls the model. The per-call cost
over calling the estimator directly is a few microseconds (see docs/models.md).

>>> predictor = load_model("runs:/4f0c.../model")          # doctest: +SKIP
>>> predictor.predict([{"age": 31, "city": "Oslo"}])        # doctest: +SKIP
array([1])
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, InvalidState, NotFound
from modelyard.models.enforcement import InputPlan
from modelyard.models.flavors import get_flavor
from modelyard.models.manifest import ModelManifest, read_manifest, verify_folder

if TYPE_CHECKING:
    from modelyard.models.flavors import Flavor
    from modelyard.models.signature import Signature
    from modelyard.tracking.client import TrackingClient

__all__ = ["URI_FORMS", "Predictor", "load_model"]

URI_FORMS = (
    "runs:/<run_id>/<name>, models:/<name>/<version>, models:/<name>@<alias>, "
    "or the path of a local model folder"
)
_SCHEME_RE = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]+):")


class Predictor:
    """A loaded model: ``predict`` (and ``predict_proba`` where the model has it) with the
    signature enforced. Built by :func:`load_model`."""

    def __init__(
        self,
        obj: Any,
        manifest: ModelManifest,
        flavor: Flavor,
        plan: InputPlan,
        path: Path,
        uri: str,
    ) -> None:
        self._obj = obj
        self._manifest = manifest
        self._flavor = flavor
        self._plan = plan
        self.path = path
        self.uri = uri

    @classmethod
    def from_folder(
        cls, folder: Path, manifest: ModelManifest, uri: str | None = None
    ) -> Predictor:
        """Deserialize the (already verified) model folder ``folder``."""
        flavor = get_flavor(manifest.flavor)
        uri = uri or str(folder)
        try:
            obj = flavor.load(folder, manifest)
        except ImportError as exc:
            raise InvalidState(
                f"model {uri} needs the Python module {exc.name or exc}, which is not installed",
                hint="install its requirements: " + " ".join(manifest.requirements),
            ) from exc
        wants, columns = flavor.wants(obj)
        label = f"model {uri} ({manifest.flavor}, {manifest.model_digest[:12]})"
        plan = InputPlan.build(manifest.signature, wants, columns, label)
        return cls(obj, manifest, flavor, plan, folder, uri)

    def __repr__(self) -> str:
        return (
            f"Predictor(uri={self.uri!r}, flavor={self.flavor!r}, "
            f"model_digest={self.model_digest[:12]!r})"
        )

    # -- what it is ---------------------------------------------------------------------

    @property
    def manifest(self) -> ModelManifest:
        """The model's manifest (flavor, versions, signature, files, requirements)."""
        return self._manifest

    @property
    def signature(self) -> Signature | None:
        return self._manifest.signature

    @property
    def flavor(self) -> str:
        return self._manifest.flavor

    @property
    def model_digest(self) -> str:
        return self._manifest.model_digest

    @property
    def raw(self) -> Any:
        """The framework object (an estimator, a Booster, an InferenceSession, your
        PythonModel)."""
        return self._flavor.framework_object(self._obj)

    # -- predicting -----------------------------------------------------------------------

    def predict(self, data: Any, strict: bool = True) -> Any:
        """Predictions for ``data`` (DataFrame, ndarray, list of dicts or dict).

        Raises SignatureError when ``data`` does not match the signature; with
        ``strict=False`` extra columns are dropped instead of refused.
        """
        return self._flavor.predict(self._obj, self._plan.prepare(data, strict))

    def predict_proba(self, data: Any, strict: bool = True) -> Any:
        """Class probabilities for ``data``; InvalidState when the model has none."""
        if not self._manifest.has_predict_proba:
            raise InvalidState(
                f"model {self.uri} ({self.flavor}) has no predict_proba",
                hint="use predict(); only classifiers that expose probabilities have it",
            )
        return self._flavor.predict_proba(self._obj, self._plan.prepare(data, strict))


def _folder_of(uri: str | Path) -> Path | None:
    """The local folder ``uri`` names, or None when it is a ``runs:/``/``models:/`` URI."""
    if isinstance(uri, Path):
        return uri
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return Path(unquote(urlsplit(uri).path))
    if _SCHEME_RE.match(uri):
        return None
    return Path(uri)


def _run_location(uri: str, client: TrackingClient) -> tuple[str, str]:
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
        path = path.strip("/")
        if not run_id or not path:
            raise InvalidArgument(
                f"run URI {uri!r} needs a run id and a model name",
                hint="use runs:/<run_id>/<name>, e.g. runs:/0123abcd.../model",
            )
        return run_id, path
    try:
        from modelyard.registry import resolve_model_uri
    except ImportError as exc:
        raise InvalidState(
            f"cannot resolve {uri!r}: the model registry is not available in this installation",
            hint="load the model by its run: runs:/<run_id>/<name>",
        ) from exc
    run_id, path = resolve_model_uri(uri, client)
    return str(run_id), str(path)


def load_model(uri: str | Path, *, client: TrackingClient | None = None) -> Predictor:
    """Load a model for prediction, after checking every file against its digest.

    ``uri`` is ``runs:/<run_id>/<name>``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>`` or a local model folder. Raises IntegrityError, before
    anything is deserialized, when a file was changed, removed or added.

    >>> predictor = yard.load_model("models:/churn@champion")   # doctest: +SKIP
    >>> predictor.predict(df)                                   # doctest: +SKIP
    """
    if not isinstance(uri, (str, Path)):
        raise InvalidArgument(
            f"model URI must be a string or a path, got {type(uri).__qualname__}",
            hint=f"use {URI_FORMS}",
        )
    folder = _folder_of(uri)
    if folder is not None:
        if not folder.exists():
            raise NotFound(
                f"there is no model folder at {str(folder)!r}",
                hint=f"pass {URI_FORMS}",
            )
        if not folder.is_dir():
            raise InvalidArgument(
                f"{str(folder)!r} is a file; a model is a folder with a modelyard-model.json",
                hint=f"pass {URI_FORMS}",
            )
        manifest = read_manifest(folder)
        verify_folder(folder, manifest)
        return Predictor.from_folder(folder, manifest, str(folder))
    from modelyard.models.cache import fetch_run_model

    if not str(uri).startswith(("runs:/", "models:/")):
        scheme = str(uri).split(":", 1)[0]
        raise InvalidArgument(
            f"cannot load a model from {str(uri)!r}: unknown scheme {scheme!r}",
            hint=f"use {URI_FORMS}",
        )
    if client is None:
        from modelyard.tracking.fluent import get_client

        client = get_client()
    run_id, path = _run_location(str(uri), client)
    try:
        folder, manifest = fetch_run_model(client, run_id, path)
    except NotFound:
        full = client.get_run(run_id).run_id  # a unique id prefix also works
        if full == run_id:
            raise
        folder, manifest = fetch_run_model(client, full, path)
    return Predictor.from_folder(folder, manifest, str(uri))
