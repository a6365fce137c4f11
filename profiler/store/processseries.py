"""A part's psutil series (`process.jsonl`): one row per poll, each process of the run by its role.

The poller writes `ProcessRow.to_json()` lines; a loaded part's rows come back through
`from_json` after `validate.check_process` kept the rows whose figures the analysis reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profiler.store.values import count, items, number

WORKLOAD, SAMPLER, MODEL_SERVER = "workload", "sampler", "modelserver"  # the roles polled


@dataclass(frozen=True)
class ProcessSample:
    """One process at one poll: its CPU times (and its children's, reaped), memory, threads."""

    cpu_user: float
    cpu_system: float
    pid: int | None = None
    children_user: float = 0.0
    children_system: float = 0.0
    rss: int | None = None
    threads: int | None = None
    run_delay_s: float | None = None  # its threads' time ready but not running (schedstat), the workload's only
    thread_cpu: tuple[tuple[int, float, float], ...] = ()  # (thread id, user, system), the workload's only
    children: tuple[ProcessSample, ...] = ()  # live child processes, the workload's only
    cmdline: str | None = None  # a child's

    @property
    def cpu_s(self) -> float:
        return self.cpu_user + self.cpu_system

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pid": self.pid,
            "cpu_user": self.cpu_user,
            "cpu_system": self.cpu_system,
            "children_user": self.children_user,
            "children_system": self.children_system,
            "rss": self.rss,
            "threads": self.threads,
        }
        if self.run_delay_s is not None:
            data["run_delay_s"] = self.run_delay_s
        if self.thread_cpu:
            data["thread_cpu"] = [list(entry) for entry in self.thread_cpu]
        if self.children:
            data["children"] = [child.to_json() for child in self.children]
        if self.cmdline is not None:
            data["cmdline"] = self.cmdline
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessSample:
        return cls(
            cpu_user=float(data["cpu_user"]),
            cpu_system=float(data["cpu_system"]),
            pid=count(data.get("pid")),
            children_user=number(data.get("children_user")) or 0.0,
            children_system=number(data.get("children_system")) or 0.0,
            rss=count(data.get("rss")),
            threads=count(data.get("threads")),
            run_delay_s=number(data.get("run_delay_s")),
            thread_cpu=tuple(
                (int(e[0]), float(e[1]), float(e[2]))
                for e in items(data.get("thread_cpu"))
                if isinstance(e, list) and len(e) == 3 and all(number(v) is not None for v in e)
            ),
            children=tuple(cls.from_json(child) for child in items(data.get("children")) if _is_sample(child)),
            cmdline=str(data["cmdline"]) if data.get("cmdline") is not None else None,
        )


@dataclass(frozen=True)
class ProcessRow:
    """One poll: when, how busy the host was, and each polled process by role."""

    t: float  # unix time
    host_cpu_percent: float | None = None
    processes: Mapping[str, ProcessSample] = field(default_factory=dict)

    @property
    def workload(self) -> ProcessSample | None:
        return self.processes.get(WORKLOAD)

    @property
    def sampler(self) -> ProcessSample | None:
        return self.processes.get(SAMPLER)

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "host_cpu_percent": self.host_cpu_percent,
            **{role: sample.to_json() for role, sample in self.processes.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRow:
        """A row as written (its processes' CPU times checked by `validate.check_process`)."""
        return cls(
            t=float(data["t"]),
            host_cpu_percent=number(data.get("host_cpu_percent")),
            processes={
                role: ProcessSample.from_json(sample)
                for role, sample in data.items()
                if role not in ("t", "host_cpu_percent") and _is_sample(sample)
            },
        )


def _is_sample(value: Any) -> bool:
    """A process's entry: an object with its CPU times (a role's damaged entry is left out)."""
    return (
        isinstance(value, Mapping)
        and number(value.get("cpu_user")) is not None
        and number(value.get("cpu_system")) is not None
    )
