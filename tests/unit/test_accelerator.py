"""The virtual accelerator's timing, driven by explicit (fake) times."""

import pytest

from profiler.accelerators.presets import preset_from_dict
from profiler.accelerators.timing import Accelerator

PRESET = preset_from_dict(
    {
        "name": "t",
        "model": "m",
        "ttft_s": 0.01,
        "prefill_tok_s": 1000,
        "decode_tok_s": 100,
        "aggregate_tok_s": 400,
        "max_batch": 8,
        "source": "test",
    }
)


def run_until_done(acc, until=100.0):
    """Advance event by event; returns {rid: {kind: time}}."""
    times = {}
    while (at := acc.next_event_at()) is not None and at <= until:
        for event in acc.advance(at):
            times.setdefault(event.rid, {})[event.kind] = event.at
    return times


def test_single_stream_ttft_and_decode_rate():
    acc = Accelerator(PRESET)
    req, events = acc.submit("a", prompt_tokens=200, output_tokens=51, now=1.0)
    assert [e.kind for e in events] == ["admitted"]
    times = run_until_done(acc)
    assert times["a"]["first_token"] == pytest.approx(1.0 + 0.01 + 200 / 1000)
    # 50 tokens after the first, at 100 tok/s
    assert times["a"]["done"] == pytest.approx(1.21 + 0.5)
    assert req.queue_s == 0 and req.prefill_s == pytest.approx(0.21) and req.decode_s == pytest.approx(0.5)


def test_aggregate_saturation_slows_each_stream():
    acc = Accelerator(PRESET)
    for i in range(8):  # 8 streams > aggregate/decode = 4: each gets 400/8 = 50 tok/s
        acc.submit(f"r{i}", prompt_tokens=0, output_tokens=101, now=0.0)
    times = run_until_done(acc)
    for i in range(8):
        assert times[f"r{i}"]["first_token"] == pytest.approx(0.01)
        assert times[f"r{i}"]["done"] == pytest.approx(0.01 + 100 / 50)


def test_rates_change_when_streams_join_and_leave():
    acc = Accelerator(PRESET)
    for i in range(4):
        acc.submit(f"early{i}", prompt_tokens=0, output_tokens=101, now=0.0)  # 4 x 100 tok/s = aggregate
    acc.advance(0.51)  # early streams decoded 50 tokens each by t=0.51
    for i in range(4):
        acc.submit(f"late{i}", prompt_tokens=0, output_tokens=26, now=0.51)
    times = run_until_done(acc)
    # from 0.52 eight streams share 400 tok/s: late ones need 25 tokens at 50 tok/s
    assert times["late0"]["done"] == pytest.approx(0.52 + 0.5)
    # early ones: 50 left at 0.51, 49 at 0.52 (still 100 tok/s), 24 at 1.02 (50 tok/s), then 100 tok/s again
    assert times["early0"]["done"] == pytest.approx(1.02 + 0.24)


def test_requests_beyond_max_batch_queue_fifo():
    preset = preset_from_dict({**PRESET.to_dict(), "max_batch": 2})
    acc = Accelerator(preset)
    acc.submit("a", 0, 11, now=0.0)
    acc.submit("b", 0, 21, now=0.0)
    queued, events = acc.submit("c", 0, 11, now=0.0)
    assert events == [] and acc.queued == 1
    times = run_until_done(acc)
    done_a = 0.01 + 10 / 100
    assert times["c"]["admitted"] == pytest.approx(done_a)
    assert queued.queue_s == pytest.approx(done_a)
    assert queued.batch_at_admission == 2  # b was still decoding
    assert times["c"]["first_token"] == pytest.approx(done_a + 0.01)


def test_cancel_frees_the_slot_for_the_queue():
    preset = preset_from_dict({**PRESET.to_dict(), "max_batch": 1})
    acc = Accelerator(preset)
    acc.submit("a", 0, 1000, now=0.0)
    acc.submit("b", 0, 5, now=0.0)
    events = acc.cancel("a", now=0.3)
    assert [(e.kind, e.rid) for e in events] == [("first_token", "a"), ("admitted", "b")]
    assert run_until_done(acc)["b"]["done"] == pytest.approx(0.3 + 0.01 + 4 / 100)


def test_instant_preset_finishes_at_arrival_with_large_clock_values():
    acc = Accelerator(
        preset_from_dict(
            {
                "name": "i",
                "model": "m",
                "ttft_s": 0,
                "prefill_tok_s": 1e12,
                "decode_tok_s": 1e12,
                "aggregate_tok_s": 1e15,
                "max_batch": 10**6,
                "source": "test",
            }
        )
    )
    for i in range(50):
        acc.submit(f"r{i}", prompt_tokens=900, output_tokens=40 + i, now=12345.678)
    times = run_until_done(acc, until=12346.0)
    assert len(times) == 50
    assert all(t["done"] == pytest.approx(12345.678, abs=1e-6) for t in times.values())


def test_decoded_tokens_for_streaming():
    acc = Accelerator(PRESET)
    req, _ = acc.submit("a", 0, 101, now=0.0)
    acc.advance(0.01)
    assert acc.decoded_tokens(req, 0.01) == pytest.approx(1)
    acc.advance(0.51)
    assert acc.decoded_tokens(req, 0.51) == pytest.approx(51)
    acc.advance(5.0)
    assert acc.decoded_tokens(req, 5.0) == 101


def test_time_counts_from_arrival_at_the_server():
    acc = Accelerator(PRESET)
    req, _ = acc.submit("a", prompt_tokens=0, output_tokens=11, now=1.004, arrived=1.0)  # 4 ms of parsing
    times = run_until_done(acc)
    assert req.arrived == 1.0 and req.queue_s == 0
    assert times["a"]["first_token"] == pytest.approx(1.0 + 0.01)
    assert times["a"]["done"] == pytest.approx(1.01 + 10 / 100)


def test_a_request_handled_after_its_prefill_would_end_keeps_its_nominal_timing():
    acc = Accelerator(PRESET)
    # the server only got to it 60 ms after arrival: prefill (10 ms) is long over, 5 tokens too
    req, _ = acc.submit("a", prompt_tokens=0, output_tokens=11, now=1.06, arrived=1.0)
    times = run_until_done(acc)
    assert times["a"]["first_token"] == pytest.approx(1.01)
    assert req.done == pytest.approx(1.01 + 10 / 100)
