"""Failed and interrupted agent runs: listed with their error, kept out of every headline figure."""

import io
import json

import pytest
from rich.console import Console

from profiler.analysis import outcomes
from profiler.analysis.report import build_report
from profiler.analysis.summary import summarize
from profiler.analysis.traces import agent_runs, run_of
from profiler.analysis.wall import decompose
from profiler.errors import UsageError
from profiler.render import views
from profiler.render.text import render
from profiler.sizing.headline import report_and_headline
from profiler.sizing.model import measure_demand
from profiler.store.report import Report, RunOutcome
from profiler.store.session import load_session
from profiler.store.spans import STATUS_ERROR, STATUS_OK, SpanRecord
from tests.conftest import EXAMPLE_RUN, edited_example


def _end_roots(*statuses: dict):
    """Give the example's agent runs (in start order) these statuses; the rest stay completed."""
    roots = [run.root.span_id for run in agent_runs(load_session(EXAMPLE_RUN).span_list())]
    wanted = dict(zip(roots, statuses, strict=False))

    def edit(spans: list[dict]) -> list[dict]:
        for span in spans:
            if span["spanId"] in wanted:
                span["status"] = wanted[span["spanId"]]
        return spans

    return edit


FAILED = {"code": 2, "message": "KeyError: 'messages'"}
INTERRUPTED = {"code": 2, "message": "interrupted"}


def _text(report: Report, head: dict) -> str:
    console = Console(file=io.StringIO(), width=100)
    console.print(render(report, head))
    return " ".join(console.file.getvalue().split())


def test_failed_and_interrupted_runs_are_listed_and_left_out_of_the_headline(tmp_path):
    session = load_session(edited_example(tmp_path / "run", _end_roots(FAILED, INTERRUPTED)))
    report = build_report(session)
    assert (report.agent_runs, report.completed, report.errors, report.incomplete) == (3, 1, 1, 1)
    first = agent_runs(session.span_list())[0].root.attributes["orchestrace.task.id"]
    assert report.failed_runs == (RunOutcome(agent_run=1, task=first, error="KeyError: 'messages'"),)
    assert [r.agent_run for r in report.incomplete_runs] == [2]
    assert report.no_headline is None
    only = decompose(agent_runs(session.span_list())[2])  # the completed one
    assert report.wall_s.total == pytest.approx(only.total)
    assert report.cpu_share_of_latency == pytest.approx(1 - only.parts["model_wait"] / only.total)
    assert report.inference.per_run.calls == 4.0  # its own calls, not the cut-off runs' too
    text = _text(*report_and_headline(session))
    assert "3: 1 completed, 1 failed, 1 incomplete (interrupted)" in text
    assert "failed 1 agent run (#1): KeyError: 'messages'" in text
    assert "summed over 1 completed agent run)" in text


def test_sizing_averages_over_the_completed_runs_only(tmp_path):
    session = load_session(edited_example(tmp_path / "run", _end_roots(INTERRUPTED, INTERRUPTED)))
    report = build_report(session)
    demand = measure_demand(session, report)
    assert demand.runs == 1 and demand.llm_calls == 4.0
    done = agent_runs(session.span_list())[2]
    assert demand.input_tokens == sum(
        int(s.attributes.get("gen_ai.usage.input_tokens", 0)) for s in done.spans if s.operation == "chat"
    )
    # the window's CPU is shared by the runs in proportion to their spans' CPU: one run's part, not a third
    inclusive = [float(r.root.attributes["orchestrace.cpu.inclusive_s"]) for r in agent_runs(session.span_list())]
    assert demand.d_cpu_measured_s == pytest.approx(report.cpu_s.process_total * inclusive[2] / sum(inclusive))
    assert report.cpu_per_run_s == pytest.approx(demand.d_cpu_measured_s)


def test_interrupted_runs_are_incomplete_not_failed(tmp_path):
    session = load_session(edited_example(tmp_path / "run", _end_roots(INTERRUPTED, FAILED)))
    summary = summarize(session)
    assert (summary.agent_runs, summary.errors, summary.incomplete) == (3, 1, 1)


def test_a_run_without_a_completed_agent_run_has_no_headline_and_says_why(tmp_path):
    session = load_session(edited_example(tmp_path / "run", _end_roots(FAILED, FAILED, FAILED)))
    report = build_report(session)
    assert report.cpu_share_of_latency is None and report.cpu_per_run_s is None
    assert report.no_headline == "no agent run completed: 3 failed"
    assert json.loads(json.dumps(report.to_json()))["failed_runs"][2]["error"] == "KeyError: 'messages'"
    _, head = report_and_headline(session)
    assert head.cores_per_accelerator is None
    text = _text(report, head)
    assert "none: no agent run completed: 3 failed" in text
    assert "failed 3 agent runs (#1, #2, #3): KeyError: 'messages'" in text
    assert "CPU share of latency" not in text and "profiler direct cost" not in text
    with pytest.raises(UsageError, match="no agent run completed: 3 failed; first error: KeyError"):
        measure_demand(session, report)


def test_the_html_page_lists_failures_and_gives_no_headline_without_a_completed_run(tmp_path):
    session = load_session(edited_example(tmp_path / "some", _end_roots(FAILED, INTERRUPTED)))
    page = views.render(views.ReportView(session), "html")
    assert "Failed agent runs (1)" in page and "KeyError: &#x27;messages&#x27;" in page
    assert "Incomplete (interrupted before they finished): #2." in page
    assert "3 agent runs: 1 completed, 1 failed, 1 incomplete (interrupted)" in page
    session = load_session(edited_example(tmp_path / "none", _end_roots(FAILED, FAILED, FAILED)))
    page = views.render(views.ReportView(session), "html")
    assert "No headline figures: no agent run completed: 3 failed." in page and "Failed agent runs (3)" in page
    assert "CPU share of latency" not in page.split("id='headline'")[1].split("</section>")[0]


def test_listed_runs_are_numbered_in_start_order_among_all_runs():
    def run(start: int, failed: bool):
        attributes = {"gen_ai.operation.name": "invoke_agent", "orchestrace.task.id": str(start)}
        status = STATUS_ERROR if failed else STATUS_OK
        return run_of(
            [SpanRecord(f"{start:032x}", "a" * 16, None, "invoke_agent", 1, start, start + 5, attributes, status)]
        )

    tally = outcomes.OutcomeTally()
    for start, failed in [(50, 0), (10, 1), (30, 1), (31, 0), (70, 0), (20, 0), (60, 1), (40, 0)]:
        tally.add(run(start, bool(failed)))
    assert [(r.task, r.agent_run) for r in tally.listed(outcomes.FAILED)] == [("10", 1), ("30", 3), ("60", 7)]
