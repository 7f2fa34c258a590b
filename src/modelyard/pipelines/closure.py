"""The code closure of a step: every function, class and constant of the project it reaches.

:func:`code_closure` starts at a step's function and walks what its bytecode names — globals
(``co_names`` of the function and of every nested code object), closure cells, default
values, ``__wrapped__`` — into other functions, classes (their methods and bases) and module
attributes, as long as they belong to the **user's project**: anything defined in a file
outside the standard library, ``site-packages``/``dist-packages`` and Modelyard itself
(including ``__main__``, notebooks and ``exec``'d code). Installed libraries are not walked:
their versions are part of the environment digest. It returns one BLAKE3 digest per reached
object, keyed by its qualified name (``flows.train``, ``flows.Scaler``, ``flows.THRESHOLD``), so
an explanation can say *which* function changed.

A function's digest covers its bytecode, constants, names, argument layout and defaults — not
its line numbers, comments or docstring-free formatting — so moving code around or editing a
comment does not invalidate the cache, while changing what it does does.

>>> is_user_file("/home/me/project/flows.py"), is_user_file(json.__file__)
(True, False)
>>> sorted(code_closure(train))                        # doctest: +SKIP
['flows.THRESHOLD', 'flows.helper', 'flows.train']
"""

from __future__ import annotations

import functools
import json
import os
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any

__all__ = ["code_closure", "is_user_file", "module_label", "user_modules"]

_SKIP_CLASS_ATTRS = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__doc__",
        "__qualname__",
        "__annotations__",
        "__annotate_func__",
        "__static_attributes__",
        "__firstlineno__",
        "__parameters__",
        "__orig_bases__",
        "__match_args__",
    }
)
_MAX_CONSTANT_CHARS = 100_000


@functools.cache
def _library_roots() -> tuple[str, ...]:
    roots: set[str] = set()
    for scheme_key in ("stdlib", "platstdlib", "purelib", "platlib"):
        for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
            try:
                path = sysconfig.get_path(scheme_key, vars={"base": prefix, "platbase": prefix})
            except KeyError:  # pragma: no cover - unusual schemes
                continue
            if path:
                roots.add(os.path.realpath(path))
    import modelyard

    roots.add(os.path.realpath(os.path.dirname(modelyard.__file__)))
    return tuple(sorted(r.rstrip(os.sep) + os.sep for r in roots))


@functools.lru_cache(maxsize=4096)
def is_user_file(path: str | None) -> bool:
    """Whether code from ``path`` belongs to the user's project (not a library, not Modelyard).

    Code without a real file (``<stdin>``, ``exec``) counts as the user's.
    """
    if not path or path.startswith("<"):
        return True
    real = os.path.realpath(path)
    if "site-packages" in real or "dist-packages" in real:
        return False
    return not real.startswith(_library_roots())


def _module_file(module_name: str | None) -> str | None:
    module = sys.modules.get(module_name or "")
    return getattr(module, "__file__", None) if module is not None else None


def _is_user_module(module: types.ModuleType) -> bool:
    if module.__name__ == "__main__":
        return True
    path = getattr(module, "__file__", None)
    return bool(path) and is_user_file(path)


def _is_user_function(func: types.FunctionType) -> bool:
    module = sys.modules.get(func.__module__ or "")
    if module is not None and getattr(module, "__file__", None):
        return _is_user_module(module)
    return is_user_file(func.__code__.co_filename)


def _is_user_class(cls: type) -> bool:
    if cls.__module__ == "__main__":
        return True
    if cls.__module__ in ("builtins", "typing", "abc"):
        return False
    path = _module_file(cls.__module__)
    return path is not None and is_user_file(path)


def module_label(name: str | None) -> str:
    """The name a module goes by in keys: a script run as ``__main__`` (or a file loaded by
    reference) is named after its file, so ``python flows.py`` and ``flows.py:training`` agree.
    """
    module = sys.modules.get(name or "")
    path = getattr(module, "__file__", None)
    if path and (name == "__main__" or getattr(module, "__modelyard_file__", False)):
        return str(os.path.splitext(os.path.basename(path))[0])
    return name or "?"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def constant_token(value: Any, depth: int = 0) -> Any:
    """A JSON-able stand-in for a constant that changes when the constant's value changes."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if depth > 6:
        return f"<{type(value).__qualname__}>"
    if isinstance(value, bytes):
        from modelyard._digest import digest_bytes

        return {"bytes": digest_bytes(value)}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [constant_token(v, depth + 1) for v in value]]
    if isinstance(value, (set, frozenset)):
        items = [constant_token(v, depth + 1) for v in value]
        return ["set", sorted(items, key=_json)]
    if isinstance(value, dict):
        pairs = [
            [constant_token(k, depth + 1), constant_token(v, depth + 1)] for k, v in value.items()
        ]
        return ["dict", sorted(pairs, key=_json)]
    if isinstance(value, complex):
        return ["complex", repr(value)]
    if isinstance(value, types.CodeType):
        return ["code", _code_token(value)]
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        from modelyard.data import digest_array

        return {"ndarray": digest_array(value)}
    if pd is not None and isinstance(value, pd.DataFrame):
        from modelyard.data import digest_dataframe

        return {"dataframe": digest_dataframe(value)}
    text = repr(value)
    if " at 0x" in text or len(text) > _MAX_CONSTANT_CHARS:
        return f"<{type(value).__module__}.{type(value).__qualname__}>"
    return ["repr", type(value).__qualname__, text]


def _code_token(code: types.CodeType) -> dict[str, Any]:
    return {
        "code": code.co_code.hex(),
        "consts": [constant_token(c) for c in code.co_consts],
        "names": list(code.co_names),
        "varnames": list(code.co_varnames),
        "freevars": list(code.co_freevars),
        "cellvars": list(code.co_cellvars),
        "args": [code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount],
        "flags": code.co_flags,
    }


def _all_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_all_names(const))
    return names


def _digest(token: Any) -> str:
    from modelyard._digest import digest_bytes

    return digest_bytes(_json(token).encode("utf-8"))


class _Walker:
    def __init__(self) -> None:
        self.digests: dict[str, str] = {}
        self.modules: set[str] = set()
        self._seen: set[int] = set()
        self._keep: list[Any] = []  # keep walked objects alive so their ids stay unique

    def visit(self, obj: Any, label: str | None = None) -> str | None:
        """Walk ``obj``; return the name it is recorded under (None for library objects)."""
        from modelyard.pipelines.steps import Step

        if isinstance(obj, Step):
            obj = obj.func
        if isinstance(obj, functools.partial):
            name = self.visit(obj.func)
            token = [name, constant_token(obj.args), constant_token(obj.keywords)]
            key = label or f"partial:{name}"
            self.digests[key] = _digest(token)
            return key
        if isinstance(obj, (staticmethod, classmethod)):
            return self.visit(obj.__func__)
        if isinstance(obj, types.MethodType):
            return self.visit(obj.__func__)
        if isinstance(obj, property):
            parts = [self.visit(f) for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
            return "|".join(p for p in parts if p) or None
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, type):
            return self._class(obj)
        return None

    def _name(self, obj: Any) -> str:
        return (
            f"{module_label(getattr(obj, '__module__', None))}.{getattr(obj, '__qualname__', '?')}"
        )

    def _function(self, func: types.FunctionType) -> str | None:
        if not _is_user_function(func):
            return None
        name = self._name(func)
        if id(func) in self._seen:
            return name
        self._seen.add(id(func))
        self._keep.append(func)
        self.modules.add(func.__module__)
        self.digests.setdefault(name, "")  # reserve: recursion sees the name
        code = func.__code__
        token: dict[str, Any] = {
            "code": _code_token(code),
            "defaults": [self._value(v) for v in func.__defaults__ or ()],
            "kwdefaults": {k: self._value(v) for k, v in (func.__kwdefaults__ or {}).items()},
        }
        cells: dict[str, Any] = {}
        for var, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            cells[var] = self._value(value)
        token["closure"] = cells
        wrapped = getattr(func, "__wrapped__", None)
        if wrapped is not None:
            token["wrapped"] = self.visit(wrapped)
        self._globals(func, _all_names(code))
        self.digests[name] = _digest(token)
        return name

    def _value(self, value: Any) -> Any:
        """A token for a default, closure cell or global: walked code by name, data by value."""
        walked = self.visit(value)
        if walked is not None:
            return {"ref": walked}
        if isinstance(value, types.ModuleType):
            return {"module": value.__name__}
        if callable(value) and not isinstance(value, type):
            return {"callable": self._name(value)}
        return constant_token(value)

    def _globals(self, func: types.FunctionType, names: list[str]) -> None:
        scope = func.__globals__
        module_name = scope.get("__name__", "?")
        wanted = set(names)
        for gname in sorted(wanted):
            if gname not in scope:
                continue
            value = scope[gname]
            if isinstance(value, types.ModuleType):
                if _is_user_module(value):
                    self._module_attributes(value, wanted)
                continue
            if self.visit(value) is not None:
                continue
            if callable(value) or isinstance(value, type):
                continue  # a library function or class: covered by the environment digest
            if _is_user_module(sys.modules.get(module_name) or types.ModuleType("?")):
                self.digests[f"{module_label(module_name)}.{gname}"] = _digest(
                    constant_token(value)
                )

    def _module_attributes(self, module: types.ModuleType, names: set[str]) -> None:
        self.modules.add(module.__name__)
        for attr in sorted(names):
            if attr.startswith("__") or not hasattr(module, attr):
                continue
            value = getattr(module, attr)
            if isinstance(value, types.ModuleType):
                if _is_user_module(value):
                    self._module_attributes(value, names - {attr})
                continue
            if self.visit(value) is not None or callable(value):
                continue
            self.digests[f"{module_label(module.__name__)}.{attr}"] = _digest(constant_token(value))

    def _class(self, cls: type) -> str | None:
        if not _is_user_class(cls):
            return None
        name = self._name(cls)
        if id(cls) in self._seen:
            return name
        self._seen.add(id(cls))
        self._keep.append(cls)
        self.modules.add(cls.__module__)
        self.digests.setdefault(name, "")
        token: dict[str, Any] = {"bases": [self.visit(b) or self._name(b) for b in cls.__bases__]}
        attrs: dict[str, Any] = {}
        for attr, value in sorted(vars(cls).items()):
            if attr in _SKIP_CLASS_ATTRS:
                continue
            if attr == "__dataclass_fields__":
                attrs[attr] = sorted(value)
                continue
            if attr.startswith("__dataclass") or attr == "__slots__":
                attrs[attr] = constant_token(value)
                continue
            attrs[attr] = self._value(value)
        token["attrs"] = attrs
        self.digests[name] = _digest(token)
        return name


def code_closure(func: Callable[..., Any]) -> dict[str, str]:
    """One digest per function, class and constant of the user's project reached from ``func``.

    Keys are qualified names (``module.qualname``); library objects are left out.
    """
    walker = _Walker()
    walker.visit(func)
    return dict(sorted(walker.digests.items()))


def user_modules(func: Callable[..., Any]) -> list[str]:
    """Names of the user's modules whose code ``func`` reaches (for pickling them by value)."""
    walker = _Walker()
    walker.visit(func)
    return sorted(m for m in walker.modules if m in sys.modules)
