"""capture_code against real git repositories made in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import modelyard
from modelyard._digest import digest_bytes, digest_file
from modelyard.errors import InvalidArgument
from modelyard.tracking.code import (
    DIFF_LIMIT,
    UNTRACKED_FILE_LIMIT,
    UNTRACKED_SIZE_LIMIT,
    CodeInfo,
    capture_code,
    scrub_url,
)

SRC = str(Path(modelyard.__file__).resolve().parents[1])


@pytest.fixture(autouse=True)
def git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{name}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{name}_EMAIL", "test@example.com")
        monkeypatch.setenv(f"GIT_{name}_DATE", "2024-01-01T00:00:00Z")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, check=True, stdin=subprocess.DEVNULL
    )
    return proc.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('train')\n")
    (root / "data.bin").write_bytes(bytes(range(256)))
    (root / ".gitignore").write_text("ignored.py\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_outside_a_repository(tmp_path: Path) -> None:
    info = capture_code(tmp_path, argv=["prog", "--x", "1"])
    assert info.repo_root is None
    assert info.commit is None and info.branch is None and info.remote is None
    assert info.dirty is False and info.diff is None and info.untracked == {}
    assert info.argv == ["--x", "1"]


def test_clean_repository(repo: Path) -> None:
    info = capture_code(repo)
    assert info.repo_root == str(repo.resolve())
    assert info.commit == git(repo, "rev-parse", "HEAD")
    assert len(info.commit) == 40
    assert info.branch == "main"
    assert info.remote is None
    assert info.dirty is False and info.diff is None and info.diff_digest is None
    assert info.untracked == {}
    assert "diff_digest" not in info.to_dict()


def test_subfolder_finds_the_work_tree(repo: Path) -> None:
    (repo / "sub" / "deeper").mkdir(parents=True)
    info = capture_code(repo / "sub" / "deeper")
    assert info.repo_root == str(repo.resolve())
    assert info.commit == git(repo, "rev-parse", "HEAD")


def test_git_dir_environment_is_followed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(repo))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    info = capture_code(elsewhere)
    assert info.repo_root == str(repo.resolve())
    assert info.commit == git(repo, "rev-parse", "HEAD")


def test_dirty_diff_applies_to_the_commit(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('train v2')\n")  # unstaged
    (repo / "data.bin").write_bytes(bytes(range(255, -1, -1)) * 3)  # binary
    (repo / "staged.py").write_text("x = 1\n")
    git(repo, "add", "staged.py")  # staged only
    info = capture_code(repo)
    assert info.dirty is True
    assert info.diff is not None and not info.diff_truncated
    assert "train v2" in info.diff and "GIT binary patch" in info.diff
    assert info.diff_digest == digest_bytes(info.diff_bytes() or b"")
    assert info.to_dict()["diff_digest"] == info.diff_digest
    assert "diff" not in info.to_dict()

    # what `modelyard reproduce` does: check out the commit, apply the diff
    copy = tmp_path / "copy"
    git(tmp_path, "clone", "-q", str(repo), str(copy))
    git(copy, "checkout", "-q", str(info.commit))
    patch = tmp_path / "code.diff"
    patch.write_bytes(info.diff_bytes() or b"")
    git(copy, "apply", str(patch))
    for name in ("train.py", "data.bin", "staged.py"):
        assert (copy / name).read_bytes() == (repo / name).read_bytes()


def test_rename_is_dirty_and_not_untracked(repo: Path) -> None:
    git(repo, "mv", "train.py", "fit.py")
    info = capture_code(repo)
    assert info.dirty is True
    assert info.untracked == {}
    assert info.diff is not None and "fit.py" in info.diff


def test_large_diff_is_truncated(repo: Path) -> None:
    line = b"0123456789" * 10 + b"\n"
    (repo / "train.py").write_bytes(line * (DIFF_LIMIT // len(line) + 1000))
    info = capture_code(repo)
    assert info.dirty is True and info.diff_truncated is True
    data = info.diff_bytes() or b""
    assert 0 < len(data) <= DIFF_LIMIT and data.endswith(b"\n")


def test_untracked_sources_are_digested(repo: Path) -> None:
    (repo / "new_model.py").write_text("class Model: ...\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "params.yaml").write_text("lr: 0.1\n")
    (repo / "ignored.py").write_text("secret = 1\n")  # in .gitignore
    (repo / "table.csv").write_text("a,b\n1,2\n")  # data, not source
    (repo / "huge.py").write_bytes(b"#" * (UNTRACKED_SIZE_LIMIT + 1))
    info = capture_code(repo)
    assert info.dirty is False  # untracked files do not make the tree dirty
    assert info.untracked == {
        "new_model.py": digest_file(repo / "new_model.py")[0],
        "conf/params.yaml": digest_file(repo / "conf" / "params.yaml")[0],
    }


def test_imported_untracked_files_come_first(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = repo / "many"
    many.mkdir()
    for i in range(UNTRACKED_FILE_LIMIT + 1):
        (many / f"m{i:04d}.py").write_text(f"x = {i}\n")
    (repo / "zz_imported_helper.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.delitem(sys.modules, "zz_imported_helper", raising=False)
    module = __import__("zz_imported_helper")
    monkeypatch.setitem(sys.modules, "zz_imported_helper", module)
    info = capture_code(repo)
    assert len(info.untracked) == UNTRACKED_FILE_LIMIT
    assert "zz_imported_helper.py" in info.untracked
    assert "many/m0000.py" in info.untracked
    assert f"many/m{UNTRACKED_FILE_LIMIT:04d}.py" not in info.untracked


def test_remote_credentials_are_removed(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:ghp_secret@example.com/org/repo.git")
    info = capture_code(repo)
    assert info.remote == "https://example.com/org/repo.git"

    # with an upstream, its remote wins over origin
    git(repo, "remote", "add", "upstream", "https://tok3n@git.example.org/team/repo.git")
    git(repo, "update-ref", "refs/remotes/upstream/main", "HEAD")
    git(repo, "config", "branch.main.remote", "upstream")
    git(repo, "config", "branch.main.merge", "refs/heads/main")
    info = capture_code(repo)
    assert info.remote == "https://git.example.org/team/repo.git"
    assert "secret" not in json.dumps(info.to_dict()) and "tok3n" not in json.dumps(info.to_dict())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host.com/a/b.git", "https://host.com/a/b.git"),
        ("https://token@host.com:8443/a.git", "https://host.com:8443/a.git"),
        ("ssh://git:pw@host.com/a.git", "ssh://git@host.com/a.git"),
        ("ssh://git@host.com/a.git", "ssh://git@host.com/a.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("https://host.com/a.git", "https://host.com/a.git"),
    ],
)
def test_scrub_url(url: str, expected: str) -> None:
    assert scrub_url(url) == expected


def test_detached_head(repo: Path) -> None:
    (repo / "train.py").write_text("print('second')\n")
    git(repo, "commit", "-q", "-am", "second")
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", "--detach", first)
    info = capture_code(repo)
    assert info.commit == first
    assert info.branch is None
    assert info.dirty is False


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "trunk")
    (tmp_path / "a.py").write_text("a = 1\n")
    info = capture_code(tmp_path)
    assert info.repo_root == str(tmp_path.resolve())
    assert info.commit is None and info.branch == "trunk"
    assert info.dirty is False and info.diff is None
    assert list(info.untracked) == ["a.py"]

    git(tmp_path, "add", "a.py")
    info = capture_code(tmp_path)
    assert info.commit is None and info.dirty is True
    assert info.diff is not None and "+a = 1" in info.diff


def test_unsafe_repository_gives_none_fields(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")
    probe = subprocess.run(["git", "status"], cwd=repo, capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("this git does not check repository ownership")
    info = capture_code(repo)
    assert info.repo_root is None and info.commit is None and info.branch is None
    assert info.dirty is False and info.untracked == {}


def test_git_missing(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    info = capture_code(repo, argv=["x"])
    assert info.repo_root is None and info.commit is None
    assert info.argv == []


def test_missing_folder(tmp_path: Path) -> None:
    info = capture_code(tmp_path / "does-not-exist")
    assert info.repo_root is None and info.commit is None


def test_notebook_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    info = capture_code(tmp_path, argv=["ipykernel_launcher.py", "-f", "kernel.json"])
    assert info.entry_point == "<notebook>"
    assert info.argv == []


def test_main_file_overrides_detection(repo: Path, tmp_path: Path) -> None:
    info = capture_code(repo, main_file=str(repo / "train.py"))
    assert info.entry_point == "train.py"
    outside = tmp_path / "elsewhere.py"
    info = capture_code(repo, main_file=str(outside))
    assert info.entry_point == str(outside)


def _run(cwd: Path, *args: str) -> dict[str, object]:
    code = "import json; from modelyard.tracking.code import capture_code; "
    code += "print(json.dumps(capture_code().to_dict()))"
    env = {**os.environ, "PYTHONPATH": SRC, "CAPTURE": code}
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, check=True
    )
    return dict(json.loads(proc.stdout.decode().strip().splitlines()[-1]))


def test_entry_point_of_a_script(repo: Path, tmp_path: Path) -> None:
    (repo / "helper_mod.py").write_text("VALUE = 1\n")
    (repo / "run_me.py").write_text("import os, helper_mod\nexec(os.environ['CAPTURE'])\n")
    out = _run(tmp_path, str(repo / "run_me.py"), "--lr", "0.1")  # launched from outside
    assert out["repo_root"] == str(repo.resolve())
    assert out["entry_point"] == "run_me.py"
    assert out["argv"] == ["--lr", "0.1"]
    untracked = out["untracked"]
    assert isinstance(untracked, dict)
    assert set(untracked) == {"run_me.py", "helper_mod.py"}


def test_entry_point_of_a_module_and_a_command(repo: Path) -> None:
    pkg = repo / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text("import os\nexec(os.environ['CAPTURE'])\n")
    out = _run(repo, "-m", "pkg", "fit")
    assert out["entry_point"] == "-m pkg"
    assert out["argv"] == ["fit"]
    out = _run(repo, "-c", "import os; exec(os.environ['CAPTURE'])", "a")
    assert out["entry_point"] == "-c"
    assert out["argv"] == ["a"]


def test_dict_round_trip(repo: Path) -> None:
    (repo / "train.py").write_text("changed\n")
    info = capture_code(repo)
    data = json.loads(json.dumps(info.to_dict()))
    back = CodeInfo.from_dict(data)
    assert back.diff is None and back.diff_digest == info.diff_digest
    assert back.to_dict() == info.to_dict()


def test_from_dict_rejects_bad_input() -> None:
    with pytest.raises(InvalidArgument, match="missing or has a malformed field"):
        CodeInfo.from_dict({"commit": "abc"})
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        CodeInfo.from_dict([])  # type: ignore[arg-type]
