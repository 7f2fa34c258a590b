"""Cache decisions for one step: its cache key and whether a stored result can serve it.

:class:`KeyMaker` computes the cache key of a step (:func:`~modelyard.pipelines.keys.cache_key`
over its code closure, params, input digests, file digests, environment and output spec),
remembering code closures, the environment digest and file digests for the life of one
scheduler. :func:`decide` says whether a step with that key is served without running — from
the completed step of a resumed run, or from a valid entry of the shared ``step_cache`` table
(not expired, files it read unchanged, blobs still stored) — and if not, why it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError
from modelyard.pipelines.entities import OutputRef
from modelyard.pipelines.keys import cache_key, canonical

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Node
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.tracking.client import TrackingClient

__all__ = ["Decision", "KeyMaker", "decide"]


class KeyMaker:
    """Computes cache keys, remembering code closures for the life of one scheduler."""

    def __init__(self, client: TrackingClient) -> None:
        self.client = client
        self._closures: dict[int, tuple[Any, dict[str, str], list[str]]] = {}
        self._env: str | None = None
        self._stat_cache: Any = None

    def closure(self, func: Any) -> tuple[dict[str, str], list[str]]:
        found = self._closures.get(id(func))
        if found is None or found[0] is not func:
            from modelyard.pipelines.closure import _Walker

            walker = _Walker()
            walker.visit(func)
            import sys

            modules = sorted(m for m in walker.modules if m in sys.modules)
            found = (func, dict(sorted(walker.digests.items())), modules)
            self._closures[id(func)] = found
        return found[1], found[2]

    def environment(self) -> str:
        if self._env is None:
            from modelyard.tracking.environment import capture_environment

            self._env = capture_environment().digest
        return self._env

    def digest_file(self, path: str) -> str:
        from modelyard.data import StatCache, digest_path

        if self._stat_cache is None:
            self._stat_cache = StatCache(self.client.config.home / "stat-cache.db")
        return digest_path(path, stat_cache=self._stat_cache)[0]

    def make(self, node: Node, upstream: Mapping[str, OutputRef]) -> tuple[str, dict[str, Any]]:
        """The key of ``node`` given the refs of its inputs (argument name -> ref)."""
        code, _ = self.closure(node.step.func)
        func = node.step.func
        components: dict[str, Any] = {
            "code": code,
            "params": {k: canonical(v) for k, v in node.params.items() if k not in node.files},
            "inputs": {arg: ref.digest for arg, ref in sorted(upstream.items())},
            "files": {arg: self.digest_file(path) for arg, path in sorted(node.files.items())},
            "environment": self.environment(),
            "outputs": {
                "names": list(node.step.options.outputs),
                "returns": str(getattr(func, "__annotations__", {}).get("return")),
            },
        }
        return cache_key(components), components


@dataclass
class Decision:
    """What to do with a step: ``hit`` (reuse ``outputs``) or ``run`` (and why)."""

    action: str
    reason: str
    outputs: list[OutputRef] = field(default_factory=list)
    cached_from: str | None = None
    replace: bool = False


def decide(
    node: Node,
    key: str,
    *,
    store: SqlPipelineStore,
    client: TrackingClient,
    keys: KeyMaker,
    force: set[str],
    resume: Mapping[str, Mapping[str, Any]] | None,
) -> Decision:
    """Whether ``node`` with cache key ``key`` can be served without running, and why not."""
    options = node.step.options
    old = (resume or {}).get(node.name)
    if old is not None and old.get("cache_key") == key and old.get("outputs") is not None:
        refs = [OutputRef.from_dict(o) for o in old["outputs"]]
        if _blobs_present(refs, client):
            source = old.get("cached_from") or old["run_id"]
            return Decision("hit", f"completed in the resumed run ({source})", refs, source)
    if node.name in force:
        return Decision("run", "forced", replace=True)
    if not options.cache:
        return Decision("run", "cache=False")
    entry = store.get_cache(key)
    if entry is None:
        return Decision("run", "no cached result for this cache key")
    now = int(time.time() * 1000)
    source = str(entry["run_id"])
    if entry.get("expires_at") is not None and entry["expires_at"] < now:
        return Decision("run", f"the cached result of run {source} expired", replace=True)
    if options.cache_expiry is not None and entry["created_at"] + options.cache_expiry * 1000 < now:
        return Decision(
            "run",
            f"the cached result of run {source} is older than cache_expiry "
            f"({options.cache_expiry:g}s)",
            replace=True,
        )
    for read in entry.get("reads") or ():
        try:
            digest = keys.digest_file(read["path"])
        except ModelyardError:
            digest = None
        if digest != read["digest"]:
            return Decision(
                "run", f"file {read['path']} changed since run {source} read it", replace=True
            )
    refs = [OutputRef.from_dict(o) for o in entry["outputs"]]
    if not _blobs_present(refs, client):
        return Decision(
            "run", f"the outputs of run {source} are no longer in the artifact store", replace=True
        )
    return Decision("hit", f"cached from run {source}", refs, source)


def _blobs_present(refs: Iterable[OutputRef], client: TrackingClient) -> bool:
    for ref in refs:
        digests = [ref.blob] if ref.blob else [str(f["digest"]) for f in ref.files]
        for digest in digests:
            if digest and not client.artifacts.exists(digest):
                return False
    return True
