"""The views of one run's report, one signature each: `render(view) -> str`, picked by format name.

A view renders from what one pass over the session's traces yields: the report alone (json), with
its headline (text), and the page's run index too (html); speedscope needs none of it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rich.console import Console

from profiler.errors import UsageError

if TYPE_CHECKING:  # the CLI imports this module to build its parser: analysis loads when a view needs it
    from profiler.analysis.passes import Tally
    from profiler.store.report import Headline, Report
    from profiler.store.session import Session

FILE_FORMATS = ("html", "speedscope")  # files to open elsewhere, never terminal output


@dataclass
class ReportView:
    """A loaded run and how to show it."""

    session: Session
    agent_run: int | None = None  # whose timeline the HTML page opens on (1 = first started)
    regenerate: str = ""  # the command that makes the page again (shown on it)
    width: int = 120  # of text
    styled: bool = False  # text with ANSI colours (a terminal)

    @cached_property
    def report(self) -> Report:
        from profiler.analysis.report import build_report

        return build_report(self.session)

    def with_headline(self, *more: Tally) -> tuple[Report, Headline]:
        """The report and its headline from one pass over the traces (told to `more` tallies too)."""
        from profiler.sizing.headline import report_and_headline

        return report_and_headline(self.session, *more)


def as_text(renderable: Any, width: int, styled: bool = False) -> str:
    """A rich renderable as text `width` columns wide (ANSI colours when `styled`)."""
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=styled)
    console.print(renderable)
    return console.export_text(styles=styled)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def _text(view: ReportView) -> str:
    from profiler.render.text import render

    return as_text(render(*view.with_headline()), view.width, view.styled)


def _json(view: ReportView) -> str:
    return as_json(view.report.to_json())


def _html(view: ReportView) -> str:
    from profiler.render.html import RunIndex, render_html

    runs = RunIndex()
    report, headline = view.with_headline(runs)
    return render_html(view.session, report, headline, runs, view.agent_run, view.regenerate)


def _speedscope(view: ReportView) -> str:
    from profiler.render.speedscope import speedscope_profile

    return json.dumps(speedscope_profile(view.session)) + "\n"


RENDERERS: dict[str, Callable[[ReportView], str]] = {
    "text": _text,
    "json": _json,
    "html": _html,
    "speedscope": _speedscope,
}


def render(view: ReportView, format: str) -> str:
    """The view in `format` (text, json, html, speedscope)."""
    renderer = RENDERERS.get(format)
    if renderer is None:
        raise UsageError(f"unknown report format {format!r}; valid formats: {', '.join(RENDERERS)}")
    return renderer(view)
