"""Checks on the project itself: public names, docs in step with code, import rules, speed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import modelyard
from modelyard import errors

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "modelyard"
DOCS = ROOT / "docs"


def test_all_names_exist_and_are_complete():
    for name in modelyard.__all__:
        assert hasattr(modelyard, name), name
    public = {n for n, v in vars(modelyard).items() if not n.startswith("_") and callable(v)}
    assert public <= set(modelyard.__all__), public - set(modelyard.__all__)


def test_every_error_class_is_documented_with_its_status():
    page = (DOCS / "errors.md").read_text()
    classes = errors._all_subclasses(errors.ModelyardError)
    for cls in classes:
        assert f"`{cls.__name__}`" in page, f"{cls.__name__} missing from docs/errors.md"
        assert cls.__doc__, cls.__name__


def test_error_body_shape():
    body = errors.NotFound("run 'x' does not exist", hint="list runs").to_dict()
    assert body == {
        "error": {"code": "NotFound", "message": "run 'x' does not exist", "hint": "list runs"},
        "status": 404,
    }
    assert errors.error_class("InvalidArgument") is errors.InvalidArgument
    assert issubclass(errors.InvalidArgument, ValueError)


def test_generated_docs_are_current():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_docs
    finally:
        sys.path.pop(0)
    assert (DOCS / "cli.md").read_text() == gen_docs.cli_markdown(), (
        "docs/cli.md is stale: run python scripts/gen_docs.py"
    )
    settings_page = (DOCS / "settings.md").read_text()
    assert settings_page == gen_docs.settings_markdown(settings_page), (
        "docs/settings.md is stale: run python scripts/gen_docs.py"
    )


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


SHELLS = ("cli", "server", "ui")
DOMAIN = (
    "tracking", "data", "models", "registry", "pipelines", "serving",
    "monitoring", "experiments", "automation", "maturity",
)  # fmt: skip
BASE = ("store", "artifacts")


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "modelyard" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_one_way(path):
    """cli/server/ui -> domain packages -> store/artifacts -> settings/errors, never back."""
    own = path.relative_to(SRC).parts[0].removesuffix(".py")
    for module in _imports(path):
        target = _package(module)
        if target is None or target == own:
            continue
        if own in DOMAIN + BASE:
            assert target not in SHELLS, f"{path}: domain code imports {module}"
        if own in BASE:
            assert target not in DOMAIN, f"{path}: {own}/ imports domain package {module}"
        if own in ("settings", "errors", "_digest"):
            assert target in ("errors", "settings"), f"{path}: core module imports {module}"


def test_import_modelyard_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); import modelyard; "
        "print(time.perf_counter() - t); "
        "print(','.join(m for m in ('sqlalchemy', 'pandas', 'numpy', 'pyarrow', 'fsspec', "
        "'sklearn', 'rich', 'click', 'alembic') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    seconds, heavy = result.stdout.split("\n")[:2]
    assert heavy == "", f"import modelyard pulled in: {heavy}"
    assert float(seconds) < 1.0  # the goal is 0.3 s; the bench measures it properly


def test_docs_page_per_package():
    for package in ("tracking", "store", "artifacts", "data"):
        assert (DOCS / f"{package}.md").exists(), f"docs/{package}.md is missing"


def test_changelog_has_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## Unreleased" in text
