"""SWE-style tools over a per-run temporary workspace; model-written code runs in a sandbox."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import InjectedState

from agents.coder.sandbox import run_sandboxed

PYTHON = [sys.executable, "-B", "-S"]  # no bytecode files, standard library only

Workspace = Annotated[str, InjectedState("workspace")]


def _inside(workspace: str, path: str) -> Path:
    root = Path(workspace).resolve()
    target = (root / path).resolve()
    if root not in target.parents and target != root:
        raise ValueError(f"{path} is outside the workspace")
    return target


def make_tools() -> list[BaseTool]:
    @tool
    def list_files(workspace: Workspace) -> str:
        """List the files of the project."""
        root = Path(workspace)
        return "\n".join(sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()))

    @tool
    def read_file(path: str, workspace: Workspace) -> str:
        """Read a file of the project, with line numbers."""
        lines = _inside(workspace, path).read_text(encoding="utf-8").splitlines()
        return "\n".join(f"{i:4} {line}" for i, line in enumerate(lines, 1))

    @tool
    def search_code(pattern: str, workspace: Workspace) -> str:
        """Search the project's Python files with a regular expression; returns file:line: text."""
        regex = re.compile(pattern)
        hits = []
        for path in sorted(Path(workspace).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{path.relative_to(workspace)}:{number}: {line.strip()}")
        return "\n".join(hits[:100]) or "no matches"

    @tool
    def edit_file(path: str, old: str, new: str, workspace: Workspace) -> str:
        """Replace the exact text `old` (which must occur once) with `new` in a file."""
        target = _inside(workspace, path)
        text = target.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            return f"edit failed: the old text occurs {count} times in {path}"
        target.write_text(text.replace(old, new), encoding="utf-8")
        return f"edited {path}"

    @tool
    def run_tests(target: str, workspace: Workspace) -> str:
        """Run a unittest module (for example 'tests.test_roman') in a sandboxed process."""
        return run_sandboxed([*PYTHON, "-m", "unittest", "-q", target], workspace)

    @tool
    def run_python(code: str, workspace: Workspace) -> str:
        """Run a Python snippet in the project directory in a sandbox (standard library only, no network)."""
        return run_sandboxed([*PYTHON, "-c", code], workspace)

    return [list_files, read_file, search_code, edit_file, run_tests, run_python]
