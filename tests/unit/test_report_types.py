"""report.json read back as a typed Report: unchanged when it is whole, defaults where it is damaged."""

import json
from pathlib import Path

from profiler.store.report import CpuSplit, Inference, Overhead, Report, Spread, TableRow, WallTime

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


def test_the_example_report_round_trips_unchanged():
    committed = json.loads((EXAMPLE / "report.json").read_text(encoding="utf-8"))
    report = Report.from_json(committed)
    assert report.to_json() == committed
    assert list(report.to_json()) == list(committed)  # the keys in the file's order
    assert Report.from_json(report.to_json()) == report
    assert report.wall_s.per_run["model_wait"] == Spread(1.8086303213333332, 1.7935862489999999, 2.022105691)
    assert report.cpu_s.native_threads == 0.27 and report.inference.accelerator_s is not None


def test_optional_keys_stay_out_of_the_json_when_absent():
    data = Report().to_json()
    assert data["overhead"] == {"telemetry_cpu_s": None, "fraction": None, "sampler": None}
    assert "tokens_note" not in data["inference"] and "accelerator_s_is_estimate" not in data["inference"]
    assert data["inference"]["accelerator_s"] is None
    assert "native_threads" not in data["cpu_s"] and data["stacks"] is None
    assert Report.from_json(data).to_json() == data


def test_missing_and_damaged_sections_load_with_defaults():
    damaged = {
        "schema": "1",
        "run_id": 7,
        "agent_runs": -3,
        "wall_s": {"total": "long", "model_wait": 1.5, "per_run": {"total": {"mean": True, "p50": 2.0}}},
        "cpu_s": ["not", "an", "object"],
        "inference": {"calls": 2.5, "ttft_s": None, "per_run": [], "server_lateness_s": "late", "source": 3},
        "overhead": {"telemetry_cpu_s": 0.1, "sampler": {"cpu_s": "x"}},
        "stacks": "none",
        "nodes": [{"name": "model", "calls": 3, "cpu_s": float("nan")}, "junk", None],
        "tools": {"not": "a list"},
        "hosts": [{"host": "a", "parts": ["main", 4], "cpu_s": {"process_total": 2.0}}],
        "failed_runs": [{"agent_run": 1, "task": "t", "error": "boom"}, 5],
        "lost_runs": [{"index": 3}],
        "degraded": [{"component": "sampler"}],
        "problems": ["one", 2],
    }
    report = Report.from_json(damaged)
    assert (report.schema, report.run_id, report.agent_runs) == (1, "", 0)
    assert report.wall_s == WallTime(0.0, {"model_wait": 1.5}, {"total": Spread(None, 2.0, None)})
    assert report.cpu_s == CpuSplit()
    assert report.inference == Inference()
    assert report.overhead.telemetry_cpu_s == 0.1 and report.overhead.sampler is not None
    assert report.overhead.sampler.cpu_s == 0.0
    assert report.stacks is None and report.tools == ()
    assert report.nodes == (TableRow(name="model", calls=3),)
    assert report.hosts[0].parts == ("main",) and report.hosts[0].cpu_s.process_total == 2.0
    assert [run.error for run in report.failed_runs] == ["boom"]
    assert (report.lost_runs[0].index, report.lost_runs[0].reason) == (3, "lost")
    assert report.degraded[0].reason == "" and report.problems == ("one",)
    assert Report.from_json(None) == Report() and Report.from_json([]) == Report()
    assert Overhead.from_json({}).to_json() == Overhead().to_json()
    json.dumps(report.to_json())  # writes back as JSON
