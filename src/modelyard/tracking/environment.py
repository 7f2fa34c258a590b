"""The environment of a run: Python, platform, installed packages, hardware, and a lock digest.

:func:`capture_environment` lists every installed distribution the way ``importlib`` sees it
(the first one on ``sys.path`` wins), reads the CPU, memory and GPUs from the operating system,
and returns a frozen :class:`EnvironmentInfo`. Its ``digest`` — BLAKE3 over a canonical JSON of
the Python version and implementation, the operating system and machine type, and the sorted
packages — names the software environment: it ignores hardware, time and dict order, so two runs
with the same digest ran on the same software. The capture is done once per process and cached;
:func:`diff_environments` says what changed between two captures. Nothing here raises: what
cannot be read is ``None`` or empty.

>>> env = capture_environment()
>>> env is capture_environment()  # cached for the life of the process
True
>>> diff_environments(env, env)["changed"]
{}
"""

from __future__ import annotations

import functools
import glob
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidArgument

__all__ = [
    "EnvironmentInfo",
    "capture_environment",
    "diff_environments",
    "environment_digest",
    "normalize_name",
]

_NAME_RUN = re.compile(r"[-_.]+")
_DIST_INFO = re.compile(r"^([A-Za-z0-9_.]+)-([A-Za-z0-9_.!+]+)\.dist-info$")
_NVIDIA_SMI_TIMEOUT = 2.0


def normalize_name(name: str) -> str:
    """The PEP 503 form of a distribution name: lowercase, runs of ``-_.`` become ``-``.

    >>> normalize_name("Foo_Bar.baz")
    'foo-bar-baz'
    """
    return _NAME_RUN.sub("-", name).lower()


def environment_digest(
    python_version: str,
    implementation: str,
    system: str,
    machine: str,
    packages: Mapping[str, str],
) -> str:
    """BLAKE3 of the canonical JSON of the software environment (the "lock digest")."""
    from modelyard._digest import digest_bytes

    payload = {
        "implementation": implementation,
        "machine": machine,
        "packages": sorted(packages.items()),
        "python": python_version,
        "system": system,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return digest_bytes(text.encode("ascii"))


@dataclass(frozen=True)
class EnvironmentInfo:
    """The software and hardware a run used; see :func:`capture_environment`."""

    digest: str
    python: str
    platform: str
    packages: dict[str, str]
    hardware: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return {
            "digest": self.digest,
            "python": self.python,
            "platform": self.platform,
            "packages": dict(self.packages),
            "hardware": json.loads(json.dumps(self.hardware)),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnvironmentInfo:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(d, Mapping):
            raise InvalidArgument(
                f"environment info must be a mapping, got {type(d).__name__}",
                hint="pass the dict made by EnvironmentInfo.to_dict()",
            )
        try:
            return cls(
                digest=str(d["digest"]),
                python=str(d["python"]),
                platform=str(d["platform"]),
                packages={str(k): str(v) for k, v in d["packages"].items()},
                hardware=dict(d.get("hardware") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(
                f"environment info is missing or has a malformed field: {exc}",
                hint="pass the dict made by EnvironmentInfo.to_dict()",
            ) from exc


def _distribution_name_version(dist: Any) -> tuple[str | None, str | None]:
    # A wheel-installed "<name>-<version>.dist-info" folder names both exactly (wheel spec), which
    # spares parsing each METADATA file; anything else is read from its metadata.
    path = getattr(dist, "_path", None)
    match = _DIST_INFO.match(getattr(path, "name", "") or "")
    if match:
        return match.group(1), match.group(2)
    try:
        meta = dist.metadata
        name, version = meta["Name"], meta["Version"]
    except (OSError, ValueError, KeyError):
        return None, None
    return (name if isinstance(name, str) else None), (
        version if isinstance(version, str) else None
    )


def _packages() -> dict[str, str]:
    from importlib.metadata import distributions

    found: dict[str, str] = {}
    try:
        dists = list(distributions())
    except (OSError, ValueError):
        return found
    for dist in dists:
        name, version = _distribution_name_version(dist)
        if not name or version is None:
            continue
        found.setdefault(normalize_name(name), version)
    return dict(sorted(found.items()))


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fileobj:
            return fileobj.read()
    except OSError:
        return None


def _cpu_model() -> str | None:
    text = _read_text("/proc/cpuinfo")
    if text:
        for key in ("model name", "Model", "Hardware", "cpu model", "Processor", "cpu"):
            for line in text.splitlines():
                label, sep, value = line.partition(":")
                if sep and label.strip() == key and value.strip():
                    return value.strip()
    return platform.processor() or None


def _memory_bytes() -> int | None:
    text = _read_text("/proc/meminfo")
    if text:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    return int(parts[1]) * 1024
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def _gpus() -> list[str]:
    files = sorted(glob.glob("/proc/driver/nvidia/gpus/*/information"))
    if files:
        names = []
        for path in files:
            for line in (_read_text(path) or "").splitlines():
                label, sep, value = line.partition(":")
                if sep and label.strip() == "Model" and value.strip():
                    names.append(value.strip())
                    break
        return names
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        proc = subprocess.run(
            [smi, "-L"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=_NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    names = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        # "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-...)"
        _, sep, rest = line.partition(": ")
        if sep and line.startswith("GPU "):
            names.append(rest.split(" (UUID:")[0].strip())
    return names


def _hardware() -> dict[str, Any]:
    gpus = _gpus()
    if gpus:
        accelerator = "cuda"
    elif platform.system() == "Darwin" and platform.machine() == "arm64":
        accelerator = "mps"
    else:
        accelerator = "cpu"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "gpus": gpus,
        "accelerator": accelerator,
    }


@functools.cache
def capture_environment() -> EnvironmentInfo:
    """Record Python, platform, installed packages and hardware; cached for the process.

    Call ``capture_environment.cache_clear()`` to capture again after installing packages.

    >>> env = capture_environment()
    >>> len(env.digest)
    64
    """
    packages = _packages()
    implementation = platform.python_implementation()
    version = platform.python_version()
    digest = environment_digest(
        version, implementation, platform.system(), platform.machine(), packages
    )
    try:
        platform_name = platform.platform()
    except (OSError, ValueError):
        platform_name = f"{platform.system()}-{platform.machine()}"
    return EnvironmentInfo(
        digest=digest,
        python=f"{version} ({implementation})",
        platform=platform_name,
        packages=packages,
        hardware=_hardware(),
    )


def _pair(a: Any, b: Any) -> list[Any] | None:
    return None if a == b else [a, b]


def diff_environments(a: EnvironmentInfo, b: EnvironmentInfo) -> dict[str, Any]:
    """What changed from ``a`` to ``b``.

    ``added``/``removed`` map names to versions, ``changed`` maps names to ``[old, new]``;
    ``python`` and ``platform`` are ``[old, new]`` or ``None`` when equal; ``hardware`` maps each
    differing key to ``[old, new]``; ``same`` says whether the digests match.

    >>> env = capture_environment()
    >>> diff_environments(env, env)["same"]
    True
    """
    old, new = a.packages, b.packages
    keys = sorted(set(a.hardware) | set(b.hardware))
    return {
        "same": a.digest == b.digest,
        "added": {n: new[n] for n in sorted(new.keys() - old.keys())},
        "removed": {n: old[n] for n in sorted(old.keys() - new.keys())},
        "changed": {
            n: [old[n], new[n]] for n in sorted(old.keys() & new.keys()) if old[n] != new[n]
        },
        "python": _pair(a.python, b.python),
        "platform": _pair(a.platform, b.platform),
        "hardware": {
            k: [a.hardware.get(k), b.hardware.get(k)]
            for k in keys
            if a.hardware.get(k) != b.hardware.get(k)
        },
    }
