"""Classify py-spy stack samples into CPU categories and reconcile them with psutil.

py-spy's picture is stack-level (what code burns the CPU), complementing the meter's
span-level one. Samples whose leaf is a blocking wait are dropped: in non-blocking mode
py-spy sometimes reports an idle thread as active. The first matching rule wins.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from profiler.store.session import StackSample

_IDLE_LEAF = re.compile(
    r"^(?:.*\.)?(select|poll|epoll|wait|_wait_for_tstate_lock|sleep|accept|recv|recv_into|recvfrom|"
    r"readinto|_worker|serve_forever)$"
)
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("startup", re.compile(r"<frozen importlib|importlib/")),
    ("telemetry", re.compile(r"opentelemetry/|profiler/instrument/|profiler/store/")),
    ("tool", re.compile(r"^(?:BaseTool\.a?run|BaseTool\._a?run|StructuredTool\._a?run|Tool\._a?run) ")),
    (
        "model_client",
        re.compile(
            r"openai/|langchain_openai/|httpx/|httpcore/|h11/|anyio/|ssl\.py|socket\.py|"
            r"certifi/|langchain_core/language_models/|langchain_core/outputs/"
        ),
    ),
    (
        "framework",
        re.compile(
            r"langgraph/|langchain_core/|langchain/|langsmith/|pydantic/|pydantic_core|json/|"
            r"orjson|ormsgpack|uuid\.py|copy\.py|typing\.py|dataclasses\.py|enum\.py|abc\.py|"
            r"inspect\.py"
        ),
    ),
    (
        "runtime",
        re.compile(
            r"asyncio/|concurrent/|selectors\.py|threading\.py|queue\.py|contextvars|weakref\.py|"
            r"uvloop"
        ),
    ),
)
NO_FRAMES = "native (no Python frames)"
# Frames that wrap every task step or drive the workload: they are callers, not where CPU goes
# (unless one of them is the leaf, which is the meter's own cost).
_PASS_THROUGH = re.compile(r"profiler/instrument/cpumeter\.py|profiler/runner/workload\.py")


def qualname(frame: str) -> str:
    return frame.split(" (", 1)[0]


def classify(frames: tuple[str, ...]) -> str | None:
    """The category of one stack, or None for a sample of an idle thread."""
    if not frames:
        return NO_FRAMES
    if _IDLE_LEAF.match(qualname(frames[-1])):
        return None
    frames = tuple(f for f in frames[:-1] if not _PASS_THROUGH.search(f)) + frames[-1:]
    for category, pattern in RULES:
        if any(pattern.search(frame) for frame in frames):
            return category
    return "other"


def stack_breakdown(
    samples: list[StackSample], rate: int, workload_pid: int | None, process_cpu_s: float | None
) -> dict[str, Any] | None:
    """Seconds per category for the workload process, child processes apart; coverage vs psutil."""
    if not samples:
        return None
    main_pid = workload_pid or min(s.pid for s in samples)
    categories: dict[str, float] = defaultdict(float)
    children: dict[str, float] = defaultdict(float)
    idle = total = 0
    for sample in samples:
        if sample.pid != main_pid:
            if classify(sample.frames) is not None:
                children[sample.command[:120]] += sample.count / rate
            continue
        total += sample.count
        category = classify(sample.frames)
        if category is None:
            idle += sample.count
            continue
        categories[category] += sample.count / rate
    sampled = sum(categories.values())
    return {
        "rate_hz": rate,
        "samples": total,
        "idle_samples_dropped": idle,
        "by_category_s": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
        "sampled_cpu_s": sampled,
        "process_cpu_s": process_cpu_s,
        "coverage": sampled / process_cpu_s if process_cpu_s else None,
        "child_processes_s": dict(sorted(children.items(), key=lambda kv: -kv[1])),
    }
