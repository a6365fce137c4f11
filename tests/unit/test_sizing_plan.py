"""A hand-built agent run's spans turned into the steps the simulation replays (exact)."""

import pytest

from profiler.sizing import plan
from profiler.sizing.plan import Call, Cpu, Fork, Wait, plan_runs
from profiler.sizing.simulate import Assumptions
from profiler.store import fields
from profiler.store.spans import KIND_CLIENT, KIND_INTERNAL, KIND_SERVER, SpanRecord

MS = 1_000_000  # ns


def span(span_id, parent, start_ms, end_ms, operation="", kind=KIND_INTERNAL, **figures) -> SpanRecord:
    attributes = {fields.__dict__[name]: value for name, value in figures.items()}
    if operation:
        attributes["gen_ai.operation.name"] = operation
    return SpanRecord("t" * 32, span_id, parent, span_id, kind, start_ms * MS, end_ms * MS, attributes)


def flat(steps) -> list:
    """Steps as one list of numbers (forks opened, branch by branch), to compare with a tolerance."""
    numbers: list = []
    for step in steps:
        if isinstance(step, Fork):
            for branch in step.branches:
                numbers += [len(branch), *flat(branch)]
        else:
            numbers += [float(value) for value in step]
    return numbers


def chat_span() -> SpanRecord:
    chat = span("chat", "node-a", 120, 390, "chat", KIND_CLIENT, CPU_SELF=0.06, READY_WAIT=0.02)
    chat.attributes.update({"gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 40})
    return chat


SPANS = [
    span("root", None, 0, 1000, "invoke_agent", CPU_SELF=0.05, READY_WAIT=0.05),
    span("node-a", "root", 100, 400, CPU_SELF=0.03),
    chat_span(),
    span("server", "chat", 150, 380, "chat", KIND_SERVER, SERVER_DECODE=0.19, SERVER_WRITES=20),
    span("node-b", "root", 450, 900, CPU_SELF=0.003, READY_WAIT=0.003),
    span("tool-1", "node-b", 460, 700, "execute_tool", CPU_SELF=0.1, OFFCPU_HOST=0.04),
    span("tool-2", "node-b", 470, 880, "execute_tool", CPU_SELF=0.01, CPU_CHILDREN=0.2),
]


def test_spans_become_loop_cpu_waits_calls_and_forks():
    recording = plan_runs([SPANS])
    (run,) = recording.runs
    assert run.recorded_wall_s == pytest.approx(1.0)
    # the root's 250 ms of self time (100 + 50 + 100 ms gaps) holds 50 ms of CPU and 150 ms of waiting
    # (its 50 ms run-queue delay is the simulation's to recompute), shared out by gap length;
    # CPU next to CPU merges: the chat's 30 ms of client CPU outside the stream (its 40 ms of pre/post
    # gaps at 20 ms delay per 60 ms of CPU) splits 3:1 like its gaps, joined by node A's CPU either side
    expected = [
        Cpu(0.02),
        Wait(0.06),
        Cpu(0.02 + 0.0225),
        Call(input_tokens=500, output_tokens=40, stream_cpu_s=0.03, reads=20.0, sharing=1.0),
        Cpu(0.0075 + 0.01 + 0.01),
        Wait(0.03),
        Cpu(0.001),
        Wait(0.008),
        Fork(((Cpu(0.1), Wait(0.1)), (Cpu(0.01), Cpu(0.2, loop=False), Wait(0.2)))),
        Cpu(0.002),
        Wait(0.016),
        Cpu(0.02),
        Wait(0.06),
    ]
    assert flat(run.steps) == pytest.approx(flat(expected))
    assert [type(step) for step in run.steps] == [type(step) for step in expected]
    # what the machine did: 40 ms of the OS running something else per 253 ms of loop CPU; the server
    # wrote the stream 20 times in 190 ms of decoding
    assert recording.interference == pytest.approx(0.04 / 0.253)
    assert recording.loop_overhead == 0.0  # none given
    assert plan_runs([SPANS], loop_work_s=0.0253).loop_overhead == pytest.approx(0.1)
    assert recording.delivery_interval_s == pytest.approx(0.19 / 19)


def test_failed_runs_are_left_out():
    failed = [
        s if s.span_id != "root" else s._replace(status_code=2)  # STATUS_ERROR
        for s in SPANS
    ]
    assert plan_runs([failed]).runs == ()


def shifted(spans: list[SpanRecord], run: int, ms: float) -> list[SpanRecord]:
    """The run's spans as another agent run (its own trace), started `ms` later."""
    shift = int(ms * MS)
    return [s._replace(trace_id=f"{run:032x}", start_ns=s.start_ns + shift, end_ns=s.end_ns + shift) for s in spans]


def test_a_call_shares_the_server_with_the_streams_decoding_beside_it():
    # the server decodes each call's reply for its last 190 ms; a second run 95 ms later overlaps
    # half of that: each call's stretch had 1.5 streams decoding on average
    recording = plan_runs([SPANS, shifted(SPANS, 1, 95)])
    sharing = [step.sharing for run in recording.runs for step in run.steps if isinstance(step, Call)]
    assert sharing == pytest.approx([1.5, 1.5])


def test_a_long_run_is_replayed_from_an_even_sample_of_its_agent_runs(monkeypatch):
    monkeypatch.setattr(plan, "MAX_PLANS", 2)
    runs = [shifted(SPANS, n, 2000 * n) for n in range(10)]  # far apart: no shared decoding
    recording = plan_runs(runs)
    assert recording.completed == 10
    assert [run.start_ns for run in recording.runs] == [0, 8000 * MS, 16000 * MS]  # runs 0, 4 and 8
    assert all(run.recorded_wall_s == pytest.approx(1.0) for run in recording.runs)
    assert "an even sample of 3 of the 10 completed agent runs" in Assumptions().describe(recording)[0]
    # what the machine did is of every run: the loop's own work over all ten runs' loop CPU
    assert plan_runs(runs, loop_work_s=0.253).loop_overhead == pytest.approx(0.1)
    assert recording.interference == pytest.approx(0.04 / 0.253)
    assert plan_runs(runs[:2]).completed == 2
    assert "sample" not in Assumptions().describe(plan_runs(runs[:2]))[0]


def test_a_damaged_decode_time_changes_no_other_call_and_hangs_nothing():
    # a server span claiming a negative decode is no window at all; one claiming a year covers the
    # first run's call (two streams decoding there)
    negative = [
        s._replace(attributes={**s.attributes, fields.SERVER_DECODE: -5.0}) if s.span_id == "server" else s
        for s in SPANS
    ]
    year = [
        s._replace(attributes={**s.attributes, fields.SERVER_DECODE: 3.2e7}) if s.span_id == "server" else s
        for s in shifted(SPANS, 1, 5000)
    ]
    recording = plan_runs([SPANS, negative, year])
    sharing = [step.sharing for run in recording.runs for step in run.steps if isinstance(step, Call)]
    assert sharing[0] == pytest.approx(2.0) and sharing[1] == 1.0
