"""One frozen :class:`Settings` object: every ``MODELYARD_*`` variable, its default and its help.

Settings are built once at an entry point with :meth:`Settings.load` and passed down; nothing
else in Modelyard reads the environment. Precedence, highest first: keyword argument,
environment variable, ``modelyard.toml`` at the project root (a ``[modelyard]`` table), default.

Zero configuration means a SQLite file and a local artifact folder inside ``.modelyard/`` at
the project root: the nearest folder upward from the current one that holds ``.modelyard/`` or
``.git``, else the current folder.

>>> s = Settings.load(database_url="sqlite:///:memory:")
>>> s.database_url
'sqlite:///:memory:'
>>> s.source("database_url")
'argument'
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "find_project_root"]

ENV_PREFIX = "MODELYARD_"
_HOME_DIR = ".modelyard"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder upward from ``start`` holding ``.modelyard/`` or ``.git``.

    Falls back to ``start`` (the current folder by default) when none is found.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / _HOME_DIR).is_dir() or (folder / ".git").exists():
            return folder
    return here


@dataclass(frozen=True)
class Settings:
    """Every setting of Modelyard. Build it with :meth:`Settings.load`."""

    project_root: str = _setting(
        "",
        "Folder that holds .modelyard/. Default: the nearest folder upward with .modelyard/ "
        "or .git, else the current folder.",
    )
    database_url: str = _setting(
        "",
        "SQLAlchemy URL of the metadata store. Default: sqlite:///<project_root>/.modelyard/"
        "modelyard.db. Use postgresql+psycopg://user@host/db for a shared store.",
    )
    artifact_url: str = _setting(
        "",
        "Where artifacts are stored: a folder path, file://..., or s3://bucket/prefix "
        "(needs modelyard[s3]). Default: <project_root>/.modelyard/artifacts.",
    )
    tracking_uri: str = _setting(
        "",
        "URL of a Modelyard server (http://host:5050). When set, the SDK sends everything "
        "to that server instead of writing to the database and artifact store itself.",
    )
    token: str = _setting(
        "", "Bearer token the SDK and CLI send to the server named by tracking_uri."
    )
    server_token: str = _setting(
        "",
        "When set, `modelyard server` requires this bearer token (read-write) on every API "
        "call and page.",
    )
    server_tokens_file: str = _setting(
        "",
        "A file of server tokens, one per line: '<token> read' or '<token> write' "
        "(# comments allowed). Read tokens may only read.",
    )
    experiment_name: str = _setting(
        "Default", "Experiment used by start_run when set_experiment was not called."
    )
    flush_interval: float = _setting(
        1.0, "Seconds between background flushes of buffered metric points."
    )
    flush_size: int = _setting(
        10_000, "Buffered metric points that trigger a flush before the interval ends."
    )
    heartbeat_interval: float = _setting(
        30.0, "Seconds between heartbeats of a running run (used to spot runs whose process died)."
    )
    capture_code: bool = _setting(
        True, "Record git commit, branch, remote, dirty flag and diff on every run."
    )
    capture_environment: bool = _setting(
        True, "Record Python, platform, installed packages and hardware on every run."
    )
    busy_timeout: float = _setting(
        30.0, "Seconds a SQLite writer waits for another process's write lock before failing."
    )
    run_tags: str = _setting(
        "",
        "Tags set on every run this process starts, as a JSON object such as "
        '\'{"team": "risk"}\' (tags passed to start_run win). `modelyard reproduce` uses it '
        "to find the rerun.",
    )
    _sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fields(cls) -> list[dataclasses.Field[Any]]:
        """The public setting fields, in declaration order."""
        return [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]

    @staticmethod
    def env_name(name: str) -> str:
        """The environment variable of a setting: ``database_url`` → ``MODELYARD_DATABASE_URL``."""
        return ENV_PREFIX + name.upper()

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None, **overrides: Any
    ) -> Settings:
        """Build settings from arguments, the environment, ``modelyard.toml`` and defaults."""
        env = os.environ if environ is None else environ
        known = {f.name for f in cls.fields()}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(
                f"unknown setting(s): {', '.join(sorted(unknown))}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        raw: dict[str, tuple[Any, str]] = {}
        root_arg = overrides.get("project_root") or env.get(cls.env_name("project_root"))
        root = Path(root_arg).expanduser().resolve() if root_arg else find_project_root(cwd)
        toml_values = _read_toml(root / "modelyard.toml")
        for f in cls.fields():
            if f.name in overrides and overrides[f.name] is not None:
                raw[f.name] = (overrides[f.name], "argument")
            elif cls.env_name(f.name) in env:
                raw[f.name] = (env[cls.env_name(f.name)], "env " + cls.env_name(f.name))
            elif f.name in toml_values:
                raw[f.name] = (toml_values[f.name], "modelyard.toml")
            else:
                raw[f.name] = (f.default, "default")
        values = {name: _coerce(cls, name, value) for name, (value, _) in raw.items()}
        sources = {name: source for name, (_, source) in raw.items()}
        values["project_root"] = str(root)
        home = root / _HOME_DIR
        if not values["database_url"]:
            values["database_url"] = f"sqlite:///{home / 'modelyard.db'}"
            sources["database_url"] = "default"
        if not values["artifact_url"]:
            values["artifact_url"] = str(home / "artifacts")
            sources["artifact_url"] = "default"
        return cls(**values, _sources=sources)

    def source(self, name: str) -> str:
        """Where the value of ``name`` came from: argument, env, modelyard.toml or default."""
        return self._sources.get(name, "argument")

    @property
    def home(self) -> Path:
        """The ``.modelyard/`` folder of the project."""
        return Path(self.project_root) / _HOME_DIR

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (their source becomes ``argument``)."""
        sources = dict(self._sources)
        sources.update(dict.fromkeys(changes, "argument"))
        return dataclasses.replace(self, **changes, _sources=sources)

    def as_rows(self) -> list[tuple[str, str, str, str]]:
        """``(name, env var, value, source)`` for every setting, for ``modelyard config show``."""
        return [
            (f.name, self.env_name(f.name), str(getattr(self, f.name)), self.source(f.name))
            for f in self.fields()
        ]


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix the TOML syntax") from exc
    table = data.get("modelyard", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [modelyard] must be a table of settings")
    return table


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(cls: type[Settings], name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in cls.fields()}[name]
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
        if kind == "int":
            return int(value)
        if kind == "float":
            number = float(value)
            if number < 0:
                raise ValueError("must not be negative")
            return number
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"setting {name} ({cls.env_name(name)}) has bad value {value!r}: {exc}",
            hint=f"expected a {kind}",
        ) from exc
