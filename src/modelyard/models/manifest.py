"""The model manifest, ``modelyard-model.json``: what a model folder holds and how to trust it.

A :class:`ModelManifest` names the flavor and serialization, the framework and Python versions,
the signature, pinned requirements, a small input example and, for every file of the folder,
its BLAKE3 digest and size. ``model_digest`` is the BLAKE3 of the canonical listing of those
files (``"<digest> <size> <path>\\n"`` lines sorted by path, after a version header): the
identity of the model, whatever run or version points at it. :func:`verify_folder` re-hashes a
folder against its manifest and raises IntegrityError naming every changed, missing or
unexpected file; nothing in a folder is deserialized before it passes.

>>> files = {"model.skops": FileEntry("0" * 64, 10)}
>>> len(compute_model_digest(files))
64
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard._digest import DIGEST_RE, digest_bytes, digest_file
from modelyard.errors import IntegrityError, InvalidArgument
from modelyard.models.signature import Signature

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "FileEntry",
    "ModelManifest",
    "compute_model_digest",
    "digest_folder",
    "read_manifest",
    "verify_folder",
]

FORMAT_VERSION = 1
MANIFEST_NAME = "modelyard-model.json"
_LISTING_HEADER = b"modelyard-model-v1\n"


@dataclass(frozen=True)
class FileEntry:
    """One file of a model folder: the BLAKE3 ``digest`` of its bytes and its ``size``."""

    digest: str
    size: int


@dataclass(frozen=True)
class ModelManifest:
    """The parsed ``modelyard-model.json`` of a model folder (see docs/models.md).

    ``files`` maps each relative POSIX path to its :class:`FileEntry`; ``options`` holds what
    the flavor needs to load the model again (the estimator class, the classes of a LightGBM
    classifier, the python flavor's artifacts); ``notes`` say why a default was not taken.
    """

    flavor: str
    serialization: str
    framework: str
    framework_version: str
    python_version: str
    signature: Signature | None
    requirements: tuple[str, ...]
    files: Mapping[str, FileEntry]
    model_digest: str
    has_predict_proba: bool
    created_at: int
    run_id: str | None = None
    input_example: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``modelyard-model.json``."""
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "serialization": self.serialization,
            "framework": {"name": self.framework, "version": self.framework_version},
            "python_version": self.python_version,
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "requirements": list(self.requirements),
            "files": {
                path: {"digest": e.digest, "size": e.size} for path, e in sorted(self.files.items())
            },
            "model_digest": self.model_digest,
            "has_predict_proba": self.has_predict_proba,
            "input_example": self.input_example,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "options": dict(self.options),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "manifest") -> ModelManifest:
        """Parse and check a manifest; InvalidArgument names the bad field."""
        try:
            version = int(data["format_version"])
            if version > FORMAT_VERSION:
                raise InvalidArgument(
                    f"{source} has format_version {version}; this Modelyard reads up to "
                    f"{FORMAT_VERSION}",
                    hint="upgrade Modelyard to load this model",
                )
            files = {}
            for path, entry in dict(data["files"]).items():
                _check_relpath(path, source)
                digest = str(entry["digest"])
                if DIGEST_RE.fullmatch(digest) is None:
                    raise InvalidArgument(f"{source}: file {path!r} has a malformed digest")
                files[path] = FileEntry(digest, int(entry["size"]))
            model_digest = str(data["model_digest"])
            if DIGEST_RE.fullmatch(model_digest) is None:
                raise InvalidArgument(f"{source}: model_digest {model_digest!r} is malformed")
            framework = dict(data.get("framework") or {})
            signature = data.get("signature")
            return cls(
                format_version=version,
                flavor=str(data["flavor"]),
                serialization=str(data["serialization"]),
                framework=str(framework.get("name", "")),
                framework_version=str(framework.get("version", "")),
                python_version=str(data.get("python_version", "")),
                signature=Signature.from_dict(signature) if signature else None,
                requirements=tuple(str(r) for r in data.get("requirements") or ()),
                files=files,
                model_digest=model_digest,
                has_predict_proba=bool(data.get("has_predict_proba", False)),
                created_at=int(data.get("created_at") or 0),
                run_id=data.get("run_id"),
                input_example=data.get("input_example"),
                options=dict(data.get("options") or {}),
                notes=tuple(str(n) for n in data.get("notes") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidArgument):
                raise
            raise InvalidArgument(
                f"{source} is not a valid model manifest: {type(exc).__name__}: {exc}",
                hint="log the model again with yard.log_model",
            ) from exc

    @classmethod
    def from_bytes(cls, raw: bytes, source: str = "manifest") -> ModelManifest:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidArgument(f"{source} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidArgument(f"{source} is not a JSON object")
        return cls.from_dict(data, source)


def _check_relpath(path: str, source: str) -> None:
    from modelyard.artifacts import validate_artifact_path

    if not isinstance(path, str) or path == MANIFEST_NAME:
        raise InvalidArgument(f"{source}: file entry {path!r} is not allowed")
    try:
        normalized = validate_artifact_path(path)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{source}: {exc.message}") from exc
    if normalized != path:
        raise InvalidArgument(f"{source}: file path {path!r} is not in normal form")


def compute_model_digest(files: Mapping[str, FileEntry]) -> str:
    """BLAKE3 of the canonical listing of ``files``: the identity of a model."""
    lines = "".join(f"{e.digest} {e.size} {path}\n" for path, e in sorted(files.items()))
    return digest_bytes(_LISTING_HEADER + lines.encode("utf-8"))


def _folder_files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.relative_to(folder).as_posix() != MANIFEST_NAME
    )


def digest_folder(folder: Path) -> dict[str, FileEntry]:
    """Digest and size of every file under ``folder`` (except the manifest)."""
    out = {}
    for rel in _folder_files(folder):
        _check_relpath(rel, f"model folder {folder}")
        digest, size = digest_file(folder / rel)
        out[rel] = FileEntry(digest, size)
    return out


def read_manifest(folder: Path) -> ModelManifest:
    """The manifest of a model folder; InvalidArgument when there is none."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise InvalidArgument(
            f"{str(folder)!r} is not a Modelyard model folder: it has no {MANIFEST_NAME}",
            hint="save one with modelyard.models.save_model(model, path) or yard.log_model",
        )
    return ModelManifest.from_bytes(path.read_bytes(), str(path))


def verify_folder(
    folder: Path, manifest: ModelManifest, expected_digest: str | None = None
) -> None:
    """Re-hash every file of ``folder`` against ``manifest``; IntegrityError names each
    changed, missing or unexpected file, and a model digest that does not add up."""
    problems = []
    listing = compute_model_digest(manifest.files)
    if listing != manifest.model_digest:
        problems.append(
            f"the manifest's file list digests to {listing[:12]}…, not its model_digest "
            f"{manifest.model_digest[:12]}…"
        )
    if expected_digest is not None and manifest.model_digest != expected_digest:
        problems.append(
            f"model_digest is {manifest.model_digest[:12]}…, expected {expected_digest[:12]}…"
        )
    found = _folder_files(folder)
    for rel in sorted(set(manifest.files) - set(found)):
        problems.append(f"file {rel!r} is missing")
    for rel in sorted(set(found) - set(manifest.files)):
        problems.append(f"file {rel!r} is not in the manifest (unexpected file)")
    for rel in sorted(set(found) & set(manifest.files)):
        entry = manifest.files[rel]
        path = folder / rel
        if path.is_symlink():
            problems.append(f"file {rel!r} is a symbolic link")
            continue
        digest, size = digest_file(path)
        if digest != entry.digest or size != entry.size:
            problems.append(
                f"file {rel!r} has digest {digest[:12]}… ({size} bytes), recorded "
                f"{entry.digest[:12]}… ({entry.size} bytes)"
            )
    if problems:
        raise IntegrityError(
            f"model folder {folder} failed its integrity check, so nothing in it was loaded: "
            + "; ".join(problems),
            hint="the files were changed or damaged after the model was logged; load the model "
            "from its run again, or log it again from the original object",
        )
