"""Progress display for `orchestrace run`: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from profiler.render.text import plural


class RunDisplay(Protocol):
    def note(self, text: str) -> None: ...
    def start(self, total: int, label: str) -> None: ...
    def advance(self, ok: bool, error: str | None) -> None: ...
    def tick(self) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """One line at start, every 10% and on each error; for logs and CI."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = self.done = self.errors = 0
        self._next_report = 0
        self._started = time.monotonic()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        self._print(text)

    def start(self, total: int, label: str) -> None:
        self.total = total
        self._started = time.monotonic()
        self._print(f"running {plural(total, 'agent run')} of {label}")

    def advance(self, ok: bool, error: str | None) -> None:
        self.done += 1
        if not ok:
            self.errors += 1
            self._print(f"  agent run failed: {error}")
        if self.done * 10 >= self._next_report * self.total or self.done == self.total:
            self._print(
                f"  {self.done}/{plural(self.total, 'agent run')}, {plural(self.errors, 'error')}, "
                f"{time.monotonic() - self._started:.1f}s"
            )
            self._next_report = self.done * 10 // max(1, self.total) + 1

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


class RichDisplay:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.errors = 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def note(self, text: str) -> None:
        self.console.print(text)

    def start(self, total: int, label: str) -> None:
        self.progress.start()
        self._task = self.progress.add_task(f"{label} agent runs", total=total, errors="")

    def advance(self, ok: bool, error: str | None) -> None:
        if not ok:
            self.errors += 1
            self.console.print(f"[red]agent run failed:[/] {error}", highlight=False, markup=True)
        if self._task is not None:
            self.progress.update(self._task, advance=1, errors=f"[red]{self.errors} errors[/]" if self.errors else "")

    def tick(self) -> None:
        self.progress.refresh()

    def close(self) -> None:
        self.progress.stop()


class QuietDisplay:
    """Only failed agent runs, for runs that are a step of a larger command (`orchestrace overhead`)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, text: str) -> None:
        pass

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, ok: bool, error: str | None) -> None:
        if not ok:
            self.console.print(f"agent run failed: {error}", highlight=False, markup=False)

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_display(console: Console) -> RunDisplay:
    return RichDisplay(console) if console.is_terminal else PlainDisplay(console.file)
