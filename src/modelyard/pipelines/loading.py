"""Finding a pipeline from a reference: ``flows.py:training`` or ``package.flows:training``.

The CLI and ``resume`` name pipelines by reference. A file reference is imported as a module
named after the file (its folder first on ``sys.path``, so the file's own imports work);
``__name__`` is then not ``"__main__"``, so a ``training.run()`` under
``if __name__ == "__main__":`` does not start while loading.

>>> load_pipeline("no_such_module:training")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
modelyard.errors.NotFound: cannot import module 'no_such_module' ...
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Pipeline

__all__ = ["load_pipeline"]


def _split(reference: str) -> tuple[str, str]:
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr:
        raise InvalidArgument(
            f"pipeline reference {reference!r} must look like FILE.py:NAME or MODULE:NAME",
            hint="e.g. modelyard pipelines run flows.py:training",
        )
    return target, attr


def _import_file(path: Path) -> Any:
    path = path.resolve()
    if not path.is_file():
        raise NotFound(
            f"there is no file {str(path)!r}",
            hint="give the path of the Python file that defines the pipeline",
        )
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None:
        if os.path.realpath(getattr(existing, "__file__", "") or "") == str(path):
            return existing
        name = f"_modelyard_flow_{abs(hash(str(path))):x}"
        existing = sys.modules.get(name)
        if existing is not None:
            return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgument(
            f"{str(path)!r} cannot be imported as Python",
            hint="give a .py file that defines the pipeline",
        )
    module = importlib.util.module_from_spec(spec)
    module.__modelyard_file__ = True  # type: ignore[attr-defined]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_pipeline(reference: str) -> Pipeline:
    """The :class:`~modelyard.pipelines.graph.Pipeline` named by ``reference``."""
    from modelyard.pipelines.graph import Pipeline

    target, attr = _split(reference)
    if target.endswith(".py") or os.sep in target or "/" in target:
        module = _import_file(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise NotFound(
                f"cannot import module {target!r} for pipeline {reference!r}: {exc}",
                hint="give FILE.py:NAME, or run from the folder that holds the module",
            ) from exc
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            names = sorted(n for n, v in vars(module).items() if isinstance(v, Pipeline))
            raise NotFound(
                f"{target} has no pipeline {attr!r}",
                hint="its pipelines are: " + (", ".join(names) or "none (use @yard.pipeline)"),
            )
    if not isinstance(obj, Pipeline):
        raise InvalidArgument(
            f"{reference} is a {type(obj).__qualname__}, not a pipeline",
            hint="decorate the function with @yard.pipeline",
        )
    return obj
