"""Fault specs for the simulated server: validation, the rates they draw, Retry-After."""

import pytest

from profiler.errors import UsageError
from profiler.modelserver.faults import Fault, Faults
from profiler.modelserver.trajectory import Script


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "a fault spec is a JSON object"),
        ({"errors": {"200": 0.5}}, "'errors' maps HTTP statuses"),
        ({"errors": {"429": 1.5}}, r"errors.429 must be a probability"),
        ({"errors": {"429": 0.6, "500": 0.6}}, "add up to more than 1"),
        ({"latency_spikes": {"rate": 0.1, "seconds": -1}}, r"latency_spikes.seconds must be a number of seconds"),
        ({"drop_mid_stream": True}, "drop_mid_stream must be a probability"),
        ({"seed": "x"}, "'seed' must be a whole number"),
        ({"error": {}}, r"unknown field\(s\) error"),
    ],
)
def test_bad_fault_specs_name_the_field(spec, message):
    with pytest.raises(UsageError, match=message):
        Faults.from_dict(spec, "fault spec f.json")


def test_faults_are_drawn_at_their_rates_and_streams_only_break_streams():
    spec = {"errors": {"429": 0.1, "500": 0.05}, "latency_spikes": {"rate": 0.2, "seconds": 1.5},
            "drop_mid_stream": 0.1, "malformed_chunk": 0.1, "seed": 3}  # fmt: skip
    faults = Faults.from_dict(spec, "f")
    draws = [faults.draw(stream=True) for _ in range(20_000)]
    share = lambda test: sum(map(test, draws)) / len(draws)  # noqa: E731
    assert share(lambda f: f.status == 429) == pytest.approx(0.1, abs=0.01)
    assert share(lambda f: f.status == 500) == pytest.approx(0.05, abs=0.01)
    assert share(lambda f: f.spike_s == 1.5) == pytest.approx(0.85 * 0.2, abs=0.01)
    assert share(lambda f: f.drop) == pytest.approx(0.85 * 0.1, abs=0.01)
    assert not any(f.drop or f.malformed for f in (faults.draw(stream=False) for _ in range(2_000)))
    again = Faults.from_dict(spec, "f")
    assert [again.draw(stream=True) for _ in range(100)] == draws[:100]  # seeded: the same faults each run


def test_retry_after_goes_with_429_and_503_only():
    assert Fault(status=429, retry_after_s=0.5).headers == {"retry-after": "0.5", "retry-after-ms": "500"}
    assert Fault(status=503, retry_after_s=2).headers["retry-after"] == "2"
    assert Fault(status=500, retry_after_s=2).headers == {}


@pytest.mark.parametrize("fail", [{"status": 200, "times": 1}, {"status": 429, "times": 0}, {"status": 429}, "x"])
def test_bad_failing_turns_name_the_problem(fail):
    with pytest.raises(UsageError, match=r"turns\[0\]: 'fail' is"):
        Script.from_dict({"turns": [{"content": "x", "fail": fail}]})
