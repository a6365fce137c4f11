"""Throughput of the trace-driven what-if: spans per second, planning and simulating apart.

    python bench/simulate.py [--run traces/examples/rag-h100] [--spans 100000] [--preset cerebras-llama3.1-8b]

The run's agent runs are copied (new trace ids, later start times) until there are `--spans`
spans, then planned (`plan_runs`) and replayed at the preset on the run's own machine. CPU time
of this process, best of three: on a shared machine the wall clock measures the neighbours too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.accelerators.presets import load_preset
from profiler.sizing.measured import measure
from profiler.sizing.plan import plan_runs
from profiler.sizing.simulate import simulate
from profiler.sizing.units import replay_of
from profiler.store.session import load_session
from profiler.store.spans import SpanRecord
from profiler.store.spanstream import grouped


def copies(spans: list[SpanRecord], count: int) -> list[SpanRecord]:
    start = min(s.start_ns for s in spans)
    length = max(s.end_ns for s in spans) - start
    return [
        s._replace(
            trace_id=f"{i:08x}{s.trace_id[8:]}",
            start_ns=s.start_ns + i * length,
            end_ns=s.end_ns + i * length,
        )
        for i in range(-(-count // len(spans)))
        for s in spans
    ]


def best(seconds: list[float]) -> float:
    return min(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path(__file__).parents[1] / "traces" / "examples" / "rag-h100")
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--preset", default="cerebras-llama3.1-8b")
    args = parser.parse_args()
    session = load_session(args.run)
    measured = measure(session)
    replay = replay_of(session, measured.demand, measured.recording)
    spans = copies(session.span_list(), args.spans)
    preset = load_preset(args.preset)
    planning, simulating = [], []
    for _ in range(3):
        started = time.process_time()
        recording = plan_runs(grouped([spans]))
        planning.append(time.process_time() - started)
        started = time.process_time()
        simulate(recording, preset, replay.machine, replay.assumptions)
        simulating.append(time.process_time() - started)
    plan_s, sim_s = best(planning), best(simulating)
    print(
        f"{len(spans):,} spans ({len(recording.runs):,} agent runs of {args.run.name}) at {preset.name}: "
        f"planning {len(spans) / plan_s:,.0f} spans/s, simulating {len(spans) / sim_s:,.0f} spans/s, "
        f"both {len(spans) / (plan_s + sim_s):,.0f} spans/s (CPU time, best of 3)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
