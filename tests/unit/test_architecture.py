"""The direction of imports (DESIGN §2): views and the data model never reach into collection."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "profiler"
# a pure function of recorded data imports none of what records it
PURE = ("analysis", "sizing", "render", "store", "export", "accelerators")
COLLECTION = ("profiler.runner", "profiler.instrument", "profiler.modelserver", "profiler.cli", "profiler.api")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_nothing_that_collects(package):
    wrong = {
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in (PACKAGE / package).rglob("*.py")
        for name in imports_of(path)
        if name.startswith(COLLECTION)
    }
    assert not wrong, sorted(wrong)
