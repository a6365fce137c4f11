"""Classify py-spy stack samples into CPU categories and reconcile them with the process's CPU.

py-spy's picture is stack-level (what code burns the CPU), complementing the meter's
span-level one. Samples whose leaf is a blocking wait are dropped: in non-blocking mode
py-spy sometimes reports an idle thread as active. The first matching rule wins.

Like is compared with like: py-spy's raw output has no timestamps, but the workload's main
thread runs the agent runs inside its event loop, so a main-thread sample outside it (or with no
Python frame at all) was taken before the measured window (interpreter start, imports, building
the graph, calibration) or after it (exit). Those are shown apart as start-up; the rest is set
against the workload process's own CPU in the window (child processes are sampled only with
--sample-children, and reported apart). Where the two differ by more than 10%, the note says
why from what was measured: too few samples, py-spy's failed reads, a busy host.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from profiler.store.report import Stacks
from profiler.store.session import StackSample

_IDLE_LEAF = re.compile(
    r"^(?:.*\.)?(select|poll|epoll|wait|_wait_for_tstate_lock|sleep|accept|recv|recv_into|recvfrom|"
    r"readinto|_worker|serve_forever)$"
)
# a Ray worker's main thread waits for tasks inside Ray's native core worker: idle, not running
_IDLE_FRAME = re.compile(r"^Worker\.main_loop \(ray/_private/worker\.py:")
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
            r"uvloop|\(ray/"
        ),
    ),
)
NO_FRAMES = "native (no Python frames)"
# Frames that wrap every task step or drive the workload: they are callers, not where CPU goes
# (unless one of them is the leaf, which is the meter's own cost).
_PASS_THROUGH = re.compile(r"profiler/instrument/cpumeter\.py|profiler/runner/workload\.py")


# the workload process's driver (`python -m profiler.runner.workload`), and its event loop
_WORKLOAD_DRIVER = re.compile(r"^(?:<module>|main) \(profiler/runner/workload\.py:")
_EVENT_LOOP = re.compile(r"^run \((?:asyncio/runners|uvloop/__init__)\.py:")
COVERAGE_RANGE = (0.9, 1.1)  # what a like-with-like comparison should give


def in_window(sample: StackSample, workload_pid: int) -> bool:
    """False for the workload driver's samples outside its event loop (start-up, exit), and for its
    main thread with no Python frame yet or any more. Other threads, and programs profiled with the
    Python API (py-spy attached for the block only), are in the window."""
    if not sample.frames:
        return sample.thread != workload_pid
    if not any(_WORKLOAD_DRIVER.match(frame) for frame in sample.frames):
        return True
    return any(_EVENT_LOOP.match(frame) for frame in sample.frames)


def target_pid(samples: list[StackSample], workload_pid: int | None) -> int:
    """The profiled process: the workload's pid, else the lowest one py-spy named."""
    return workload_pid or min((s.pid for s in samples if s.pid), default=0)


def of_target(sample: StackSample, pid: int) -> bool:
    """Without --subprocesses py-spy names no process: every sample is the target's."""
    return (sample.pid or pid) == pid


def qualname(frame: str) -> str:
    return frame.split(" (", 1)[0]


def classify(frames: tuple[str, ...]) -> str | None:
    """The category of one stack, or None for a sample of an idle thread."""
    if not frames:
        return NO_FRAMES
    if _IDLE_LEAF.match(qualname(frames[-1])) or _IDLE_FRAME.match(frames[-1]):
        return None
    frames = tuple(f for f in frames[:-1] if not _PASS_THROUGH.search(f)) + frames[-1:]
    for category, pattern in RULES:
        if any(pattern.search(frame) for frame in frames):
            return category
    return "other"


@dataclass(frozen=True)
class Window:
    """What was measured in the window besides the samples: the process's own CPU, its threads'
    run-queue delay (ready to run, no CPU free), and samples py-spy failed to read."""

    cpu_s: float | None
    run_delay_s: float | None = None
    sampler_errors: int | None = None


def stack_breakdown(samples: list[StackSample], rate: int, workload_pid: int | None, window: Window) -> Stacks | None:
    """Seconds per category for the workload process in the measured window, start-up and child
    processes apart; coverage against the process's own CPU in the window."""
    if not samples:
        return None
    main_pid = target_pid(samples, workload_pid)
    categories: dict[str, float] = defaultdict(float)
    startup: dict[str, float] = defaultdict(float)
    children: dict[str, float] = defaultdict(float)
    idle = total = counted = 0
    for sample in samples:
        if not of_target(sample, main_pid):
            if classify(sample.frames) is not None:
                children[sample.command[:120]] += sample.count / rate
            continue
        total += sample.count
        category = classify(sample.frames)
        if category is None:
            idle += sample.count
        elif in_window(sample, main_pid):
            categories[category] += sample.count / rate
            counted += sample.count
        else:
            startup[category] += sample.count / rate
    sampled = sum(categories.values())
    coverage = sampled / window.cpu_s if window.cpu_s else None
    return Stacks(
        pid=main_pid,
        rate_hz=rate,
        samples=total,
        idle_samples_dropped=idle,
        by_category_s=dict(sorted(categories.items(), key=lambda kv: -kv[1])),
        sampled_cpu_s=sampled,
        startup_s=sum(startup.values()),
        startup_by_category_s=dict(sorted(startup.items(), key=lambda kv: -kv[1])),
        process_cpu_s=window.cpu_s,
        run_delay_s=window.run_delay_s,
        sampler_errors=window.sampler_errors,
        coverage=coverage,
        coverage_note=_coverage_note(coverage, counted, total, window),
        child_processes_s=dict(sorted(children.items(), key=lambda kv: -kv[1])),
    )


def _coverage_note(coverage: float | None, counted: int, taken: int, window: Window) -> str | None:
    """Why the sampled CPU and the measured CPU differ by more than 10%, from what was measured."""
    if coverage is None:
        return "no CPU figures for the measured window (cpu.json): nothing to compare the samples with"
    low, high = COVERAGE_RANGE
    if low <= coverage <= high:
        return None
    reasons = []
    spread = 1 / math.sqrt(counted) if counted else math.inf  # counting noise, one standard error
    if abs(coverage - 1) <= 2 * spread:
        reasons.append(f"{counted} samples count the CPU only to ±{spread:.0%} (raise --sample-rate, or run longer)")
    errors = window.sampler_errors or 0
    if coverage < low and errors > 0.05 * (taken + errors):
        reasons.append(
            f"py-spy failed to read {errors} samples ({errors / (taken + errors):.0%}): reading a running thread "
            "without stopping it fails more often, so the stacks under-count"
        )
    if coverage > high and window.run_delay_s and window.cpu_s and window.run_delay_s > 0.1 * window.cpu_s:
        reasons.append(
            f"the workload's threads waited {window.run_delay_s:.2f} s for a CPU in the window (the host was busy): "
            "py-spy can count a thread that is ready to run as running, so the stacks over-count"
        )
    return "; ".join(reasons) or "not explained by sampling noise, py-spy's read errors or a busy host"
