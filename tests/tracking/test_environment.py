"""capture_environment: packages, lock digest, hardware, caching and diffs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.errors import InvalidArgument
from modelyard.tracking.environment import (
    EnvironmentInfo,
    capture_environment,
    diff_environments,
    environment_digest,
    normalize_name,
)


@pytest.fixture(autouse=True)
def fresh_capture() -> Iterator[None]:
    capture_environment.cache_clear()
    yield
    capture_environment.cache_clear()


def fake_distribution(folder: Path, dirname: str, name: str, version: str) -> None:
    info = folder / dirname
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_capture_is_cached_and_json_able() -> None:
    env = capture_environment()
    assert capture_environment() is env
    assert len(env.digest) == 64
    assert env.python.endswith(")") and "(" in env.python
    assert "blake3" in env.packages and "pytest" in env.packages
    assert list(env.packages) == sorted(env.packages)
    assert all(name == normalize_name(name) for name in env.packages)
    back = EnvironmentInfo.from_dict(json.loads(json.dumps(env.to_dict())))
    assert back == env


def test_digest_is_stable_across_captures() -> None:
    first = capture_environment()
    capture_environment.cache_clear()
    second = capture_environment()
    assert second is not first
    assert second.digest == first.digest


def test_digest_ignores_package_order() -> None:
    packages = {"a": "1", "b": "2", "c": "3"}
    one = environment_digest("3.11.7", "CPython", "Linux", "x86_64", packages)
    two = environment_digest(
        "3.11.7", "CPython", "Linux", "x86_64", dict(reversed(packages.items()))
    )
    assert one == two
    assert environment_digest("3.11.8", "CPython", "Linux", "x86_64", packages) != one
    assert environment_digest("3.11.7", "CPython", "Linux", "aarch64", packages) != one


def test_installing_a_package_changes_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = capture_environment()
    fake_distribution(tmp_path, "fake_pkg_xyz-1.2.3.dist-info", "Fake_Pkg.XYZ", "1.2.3")
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        capture_environment.cache_clear()
        after = capture_environment()
    assert after.packages["fake-pkg-xyz"] == "1.2.3"
    assert after.digest != before.digest
    assert diff_environments(before, after)["added"] == {"fake-pkg-xyz": "1.2.3"}

    capture_environment.cache_clear()
    assert capture_environment().digest == before.digest  # uninstalled again


def test_first_distribution_on_sys_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = capture_environment().packages["blake3"]
    fake_distribution(tmp_path, "blake3-0.0.1.dist-info", "blake3", "0.0.1")
    # a folder name that does not carry the version: read from METADATA instead
    fake_distribution(tmp_path, "Odd.Name.dist-info", "Odd_Name.Pkg", "7.0")
    monkeypatch.syspath_prepend(str(tmp_path))
    capture_environment.cache_clear()
    env = capture_environment()
    assert env.packages["blake3"] == "0.0.1" != real
    assert env.packages["odd-name-pkg"] == "7.0"
    assert diff_environments(env, env)["same"] is True


def test_hardware() -> None:
    hw = capture_environment().hardware
    assert set(hw) == {"cpu", "cores", "memory_bytes", "gpus", "accelerator"}
    assert hw["cores"] is None or hw["cores"] >= 1
    assert hw["memory_bytes"] is None or hw["memory_bytes"] > 0
    assert isinstance(hw["gpus"], list)
    assert hw["accelerator"] in {"cpu", "cuda", "mps"}
    assert (hw["accelerator"] == "cuda") == bool(hw["gpus"])


def test_diff_environments() -> None:
    a = EnvironmentInfo(
        digest="a" * 64,
        python="3.11.7 (CPython)",
        platform="Linux-6.1-x86_64",
        packages={"numpy": "1.26.0", "pandas": "2.1.0", "old": "1.0"},
        hardware={"cores": 2, "gpus": []},
    )
    b = EnvironmentInfo(
        digest="b" * 64,
        python="3.12.1 (CPython)",
        platform="Linux-6.1-x86_64",
        packages={"numpy": "2.0.0", "pandas": "2.1.0", "new": "0.1"},
        hardware={"cores": 8, "gpus": []},
    )
    diff = diff_environments(a, b)
    assert diff == {
        "same": False,
        "added": {"new": "0.1"},
        "removed": {"old": "1.0"},
        "changed": {"numpy": ["1.26.0", "2.0.0"]},
        "python": ["3.11.7 (CPython)", "3.12.1 (CPython)"],
        "platform": None,
        "hardware": {"cores": [2, 8]},
    }


def test_from_dict_rejects_bad_input() -> None:
    with pytest.raises(InvalidArgument, match="missing or has a malformed field"):
        EnvironmentInfo.from_dict({"digest": "x"})
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        EnvironmentInfo.from_dict("env")  # type: ignore[arg-type]


def test_normalize_name() -> None:
    assert normalize_name("Foo__Bar.-baz") == "foo-bar-baz"
    assert normalize_name("scikit_learn") == "scikit-learn"
