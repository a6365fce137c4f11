"""One measured workload process for bench/overhead.py (not run by hand).

    python bench/overhead_harness.py CONFIG.json

Runs a sample agent's tasks against a model server with one instrumentation configuration
and prints one JSON line: process CPU and wall of the measured window, spans recorded.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agents import get_agent
from profiler.models import chat_model
from profiler.modelserver.server import SCRIPT_BAGGAGE_KEY

WARM_UP_RUNS = 2


class Counting(SpanExporter):
    """Counts what the wrapped exporter is given."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return self.inner.export(spans)

    def shutdown(self) -> None:
        self.inner.shutdown()


def _third_party(mode: str, out: Path) -> tuple[Any, Counting]:
    """OpenLLMetry or OpenInference with the official OTLP JSON file exporter, in-process as users run them."""
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    counting = Counting(FileSpanExporter(str(out / f"{mode}.jsonl")))
    provider.add_span_processor(BatchSpanProcessor(counting))
    if mode == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"  # like orchestrace: no prompt content
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)
    else:
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument(tracer_provider=provider)
    return provider, counting


def make_probe(config: dict[str, Any]) -> Any:
    """orchestrace's in-process part, set up (and calibrated) before the event loop runs."""
    if not config["mode"].startswith("orchestrace"):
        return None
    from profiler.instrument.probe import ProcessProbe
    from profiler.instrument.telemetry import resource_for

    probe = ProcessProbe(resource_for("bench", None), span_fd=int(os.environ["ORCHESTRACE_SPAN_FD"]))
    probe.calibrate()  # the meter's cost per loop handle, as the real workload measures it
    return probe


class Collections:
    """CPU spent in garbage collection while it is installed, and how many were full collections."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.full = 0
        self._start = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.thread_time()
            return
        self.cpu_s += time.thread_time() - self._start
        self.full += info["generation"] == 2

    def stop(self) -> None:
        gc.callbacks.remove(self._note)


@dataclass(frozen=True)
class Task:
    id: str | None
    input: dict[str, Any]


def workload(config: dict[str, Any]) -> tuple[str, Any, list[Task]]:
    """A sample agent against the model server, or the pure-orchestration graph (in-process model)."""
    if config["agent"] == "react":  # LangGraph's react_agent benchmark shape: 10 tool calls, fake model
        from tests.integration.truth_graphs import react_fake_async

        question = {"messages": [{"role": "user", "content": "what is it?"}]}
        return "react", react_fake_async(None), [Task(None, question)]
    spec = get_agent(config["agent"])
    graph = spec.build(chat_model(config["base_url"], config["model_name"]))
    return spec.name, graph, [Task(t.id, t.input) for t in spec.tasks()]


async def run(config: dict[str, Any], probe: Any) -> dict[str, Any]:
    mode = config["mode"]
    out = Path(config["out"])
    name, graph, tasks = workload(config)
    runs = [tasks[i % len(tasks)] for i in range(config["runs"])]
    provider = counting = None
    callbacks: list[Any] = []
    if probe is not None:
        callbacks = [probe.handler(name)]
    elif mode in ("openllmetry", "openinference"):
        provider, counting = _third_party(mode, out)
    elif mode == "noop-handler":
        from langchain_core.callbacks import BaseCallbackHandler

        class Noop(BaseCallbackHandler):
            run_inline = True

        callbacks = [Noop()]

    async def one(task: Task) -> None:
        token = otel_context.attach(baggage.set_baggage(SCRIPT_BAGGAGE_KEY, task.id)) if task.id else None
        try:
            if probe is not None:
                with probe.tracer.start_as_current_span(
                    f"invoke_agent {name}", attributes={"gen_ai.operation.name": "invoke_agent"}
                ):
                    await graph.ainvoke(task.input, {"callbacks": callbacks})
            else:
                await graph.ainvoke(task.input, {"callbacks": callbacks})
        finally:
            if token is not None:
                otel_context.detach(token)

    async def all_runs(batch: list[Any]) -> None:
        pending = list(batch)

        async def worker() -> None:
            while pending:
                await one(pending.pop())

        await asyncio.gather(*(worker() for _ in range(config["concurrency"])))

    await all_runs(runs[:WARM_UP_RUNS])
    collections = Collections()
    if probe is not None:
        probe.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await all_runs(runs)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    collections.stop()
    result: dict[str, Any] = {
        "mode": mode,
        "runs": len(runs),
        "cpu_s": cpu,
        "wall_s": wall,
        "gc_s": collections.cpu_s,
        "gc_full": collections.full,
    }
    if probe is not None:
        window = probe.stop()
        result["reported_overhead_s"] = (
            window["buckets_s"].get("telemetry", 0.0)
            + window["telemetry_threads_s"]
            + window["meter"]["overhead_estimate_s"]
            + window["meter"]["passthrough_estimate_s"]
        )
        probe.close()
        exporter = probe.telemetry.exporter
        result["spans"] = exporter.exported if exporter is not None else 0
    if provider is not None and counting is not None:
        provider.shutdown()
        result["spans"] = counting.spans
    return result


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(asyncio.run(run(config, make_probe(config)))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
