"""End-of-run checks: was everything the run produced recorded, and did every part of it live?

Compares what each part says it did (agent runs the workload finished, spans the workload and
the model server sent) with what the run directory holds, so data lost to a dead span writer or
a model server that died mid-run is named, never silently reported as a smaller run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Completeness:
    agent_runs_planned: int
    agent_runs_finished: int | None  # by the workload's own count (None: it never said)
    agent_runs_found: int  # in spans.jsonl
    spans_sent: int | None
    spans_written: int | None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_completeness(
    planned: int,
    finished: dict[str, Any],
    found: int,
    sent: list[int | None],
    written: dict[str, Any],
    server_death: str | None,
    write_errors: list[str | None],
) -> Completeness:
    """`finished`: the workload's last progress event; `sent`: spans each producer reported sending;
    `write_errors`: "FILE: reason" for each file that could not be written (a full or unwritable disk)."""
    problems = []
    files_by_reason: dict[str, list[str]] = {}
    for error in filter(None, write_errors):
        file, _, reason = error.partition(": ")
        files_by_reason.setdefault(reason, []).append(file)
    for reason, files in files_by_reason.items():
        problems.append(f"the disk refused writes ({reason}: {', '.join(files)}); what was written before is kept")
    if server_death is not None:
        problems.append(
            f"the simulated model server died during the run ({server_death}); "
            "agent runs after that failed for want of a model"
        )
    done = finished.get("completed", 0) + finished.get("errors", 0) if finished else None
    if done is not None and found < done:
        problems.append(f"the workload finished {done} agent runs but spans.jsonl holds {found}: {done - found} lost")
    if "error" in written:
        problems.append(written["error"])
    spans_written = written.get("spans")
    spans_sent = None if None in sent else sum(s or 0 for s in sent)
    if spans_sent is not None and spans_written is not None and spans_written < spans_sent:
        problems.append(f"{spans_sent - spans_written} of {spans_sent} spans sent never reached spans.jsonl")
    return Completeness(planned, done, found, spans_sent, spans_written, problems)
