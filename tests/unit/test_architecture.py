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


def _run_dir_names() -> set[str]:
    """Every file name store/rundir.py declares, and the CPU meter's bucket names that are not plain words."""
    from profiler.store import fields, rundir

    files = {v for k, v in vars(rundir).items() if k.isupper() and isinstance(v, str) and "." in v.lstrip(".")}
    buckets = {fields.LOOP, fields.EXECUTOR_IDLE, fields.NO_SPAN, fields.LATE}
    return files | buckets


def test_run_directory_names_are_spelled_only_in_store():
    names = _run_dir_names()
    assert {"spans.jsonl", "manifest.json", "cpu.json", "faults.json", "no-span"} <= names
    spelled = {
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}"
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "store"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(node.value == name or node.value.endswith("/" + name) for name in names)
    }
    assert not spelled, sorted(spelled)
