"""Shared helpers: run the CLI in-process, read a run directory's spans."""

from __future__ import annotations

import io
import json
import shutil
import signal
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from profiler.cli import main
from profiler.store.spans import SpanRecord, read_span_file


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `orchestrace ARGS...` in-process; returns exit code, stdout (rich console) and stderr."""

    def run(*args: str) -> CliResult:
        buffer = io.StringIO()
        code = main(list(args), console=Console(file=buffer, width=200, force_terminal=False))
        captured = capsys.readouterr()
        return CliResult(code, buffer.getvalue() + captured.out, captured.err)

    return run


def run_dir_of(result: CliResult) -> Path:
    for line in result.out.splitlines():
        if line.startswith("run dir"):
            return Path(line.split(None, 2)[2].strip())
    raise AssertionError(f"no run directory in output:\n{result.out}\n{result.err}")


def spans_of(run_dir: Path) -> list[SpanRecord]:
    return read_span_file(run_dir / "spans.jsonl").spans


def by_trace(spans: list[SpanRecord]) -> dict[str, list[SpanRecord]]:
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return traces


def manifest_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


EXAMPLE_RUN = Path(__file__).parents[1] / "traces" / "examples" / "rag-h100"


def edited_example(target: Path, edit_spans: Callable[[list[dict]], list[dict]]) -> Path:
    """A copy of the committed example run whose OTLP spans went through `edit_spans` (per scope)."""
    shutil.copytree(EXAMPLE_RUN, target)
    lines = []
    for line in (target / "spans.jsonl").read_text().splitlines():
        request = json.loads(line)
        for resource in request["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                scope["spans"] = edit_spans(scope["spans"])
        lines.append(json.dumps(request))
    (target / "spans.jsonl").write_text("\n".join(lines) + "\n")
    return target


def sigint_as_in_a_terminal() -> None:
    """`preexec_fn`: SIGINT reaches the child as Ctrl-C does in a terminal, even when pytest runs as
    a shell's background job (started with SIGINT ignored, which its children inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
