"""The pure pieces of `run --ray`: spooling whole records, traceparents, naming lost agent runs."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from profiler.instrument.agentrun import agent_run_span
from profiler.instrument.telemetry import PrivateIdGenerator
from profiler.runner.fleet import lost_message, traceparent
from profiler.runner.rayworker import Spool, parent_of, whole_frames, whole_lines
from profiler.store.spanrelay import FRAME_HEADER


def _frame(payload: bytes) -> bytes:
    return FRAME_HEADER.pack(len(payload)) + payload


def test_whole_frames_and_lines_stop_before_a_record_still_being_written():
    data = _frame(b"abc") + _frame(b"defg")
    assert whole_frames(data) == len(data)
    assert whole_frames(data + _frame(b"xyz")[:5]) == len(data)
    assert whole_frames(b"\x01") == 0
    assert whole_lines(b'{"a":1}\n{"b"') == 8
    assert whole_lines(b"") == 0


def test_a_spool_hands_out_each_whole_record_once(tmp_path):
    path = tmp_path / "spans.bin"
    spool = Spool(path, whole_frames)
    assert spool.take() == b""  # nothing written yet
    path.write_bytes(_frame(b"one") + _frame(b"two")[:4])
    assert spool.take() == _frame(b"one")
    with open(path, "ab") as handle:
        handle.write(_frame(b"two")[4:])
    assert spool.take() == _frame(b"two")
    assert spool.take() == b""


def test_an_agent_run_goes_in_the_trace_its_traceparent_names():
    trace_id, parent = traceparent(PrivateIdGenerator())
    assert parent.startswith(f"00-{trace_id}-") and parent.endswith("-01")
    context = parent_of(parent)
    assert context is not None and f"{context.trace_id:032x}" == trace_id
    tracer = TracerProvider(id_generator=PrivateIdGenerator()).get_tracer("test")  # as Telemetry's
    with agent_run_span(tracer, "rag", "t1", 0, context) as root, tracer.start_as_current_span("chat") as child:
        pass
    assert f"{root.get_span_context().trace_id:032x}" == trace_id
    assert root.parent is None  # still its trace's root: an agent run to every view
    assert [link.context for link in root.links] == [context]
    assert child.parent is not None and child.parent.span_id == root.get_span_context().span_id
    with agent_run_span(tracer, "rag", "t2", 1) as other:  # without one: a fresh trace, as before
        pass
    assert other.get_span_context().trace_id != context.trace_id


def test_a_traceparent_naming_no_span_is_no_parent():
    assert parent_of("") is None
    assert parent_of("00-00000000000000000000000000000000-0000000000000000-01") is None


def test_lost_runs_are_named_by_cause():
    lost = [
        {"index": 6, "key": "a", "part": "ray-vm-1", "reason": "worker died"},
        {"index": 7, "key": "b", "part": "ray-vm-1", "reason": "worker died"},
        {"index": 19, "key": "c", "part": None, "reason": "never started"},
    ]
    assert lost_message(lost) == "agent runs lost: 6, 7 (worker ray-vm-1 died); 19 (never started)"
