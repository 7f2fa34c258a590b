"""validate_artifact_path: the gate for run-relative artifact names users type."""

from __future__ import annotations

import pytest

from modelyard.artifacts import validate_artifact_path
from modelyard.errors import InvalidArgument

GOOD = [
    ("model.pkl", "model.pkl"),
    ("plots/confusion.png", "plots/confusion.png"),
    ("a/b/c/d.txt", "a/b/c/d.txt"),
    ("plots//roc.png", "plots/roc.png"),
    (".hidden/config", ".hidden/config"),
    ("data/..archive", "data/..archive"),
    ("v1.../weights", "v1.../weights"),
    ("100% done.txt", "100% done.txt"),
    ("report %41.txt", "report %41.txt"),
    ("a~b/~c", "a~b/~c"),
    ("caf\u0065\u0301.txt", "caf\u00e9.txt"),
    ("日本語/ファイル.csv", "日本語/ファイル.csv"),
    ("x" * 1024, "x" * 1024),
]

BAD = [
    ("", "it is empty"),
    ("/etc/passwd", "absolute"),
    ("//server/share", "absolute"),
    ("C:\\x", "backslash"),
    ("C:/x", "drive letter"),
    ("c:x", "drive letter"),
    ("\\\\server\\share", "backslash"),
    ("a\\b", "backslash"),
    ("..", "'..' segment"),
    ("../secret", "'..' segment"),
    ("a/../../b", "'..' segment"),
    ("a/..", "'..' segment"),
    ("./a", "'.' segment"),
    ("a/./b", "'.' segment"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("a\tb", "control character"),
    ("a\x1bb", "control character"),
    ("a\x7fb", "control character"),
    ("a\x85b", "control character"),
    ("%2e%2e/secret", "'..' segment once decoded"),
    ("%2E%2E/secret", "'..' segment once decoded"),
    ("..%2fsecret", "'..' segment once decoded"),
    ("a/..%2F..%2Fb", "'..' segment once decoded"),
    ("%252e%252e/secret", "'..' segment once decoded"),
    ("%25252e%25252e/x", "'..' segment once decoded"),
    ("%2fetc/passwd", "absolute"),
    ("a%5cb", "backslash"),
    ("a%00b", "control character"),
    ("%2e/a", "'.' segment"),
    ("\uff0e\uff0e/secret", "'..' segment"),
    ("~/x", "'~'"),
    ("~root/.ssh/id_rsa", "'~'"),
    ("plots/", "ends with '/'"),
    ("x" * 1025, "1025 characters long"),
]


@pytest.mark.parametrize(("path", "expected"), GOOD)
def test_good_paths_are_normalized(path: str, expected: str) -> None:
    assert validate_artifact_path(path) == expected


@pytest.mark.parametrize(("path", "rule"), BAD)
def test_bad_paths_are_refused_naming_the_rule(path: str, rule: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_artifact_path(path)
    message = caught.value.message
    assert rule in message
    shown = path if len(path) <= 1024 else path[:64] + "..."
    assert message.startswith(f"artifact path {shown!r} is not allowed: ")
    assert (
        caught.value.hint == "use a relative POSIX path inside the run, like 'plots/confusion.png'"
    )


def test_invalid_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="is not allowed"):
        validate_artifact_path("../x")


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="must be a string, got bytes"):
        validate_artifact_path(b"a.txt")  # type: ignore[arg-type]
