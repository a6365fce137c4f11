"""What the analysis may trust of a loaded run directory: every value of the type it reads.

Run directories are edited, truncated and damaged by hand or by crashes. Each check here turns
what does not fit into a counted problem line and leaves it out, so every view works on what
is valid and none can crash, hang (a span cycle) or report an impossible figure (a span that
ends before it starts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import orjson

from profiler.store import fields
from profiler.store.processseries import SAMPLER, WORKLOAD
from profiler.store.spans import SpanRecord
from profiler.store.values import finite

MAX_SPAN_DEPTH = 256  # LangGraph nests a few dozen levels; deeper is damage (and would exhaust recursion)


@dataclass(frozen=True)
class Kind:
    expected: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Each:
    """Every value of a list, or of an object keyed by anything (only an object when `keyed`)."""

    spec: Spec
    keyed: bool = False


@dataclass(frozen=True)
class Required:
    spec: Spec


Spec = Union[Kind, Each, Required, dict[str, "Spec"]]  # noqa: UP007 - a forward reference


NUMBER = Kind("a number", finite)
POSITIVE = Kind("a number > 0", lambda v: finite(v) and v > 0)
COUNT = Kind("a whole number >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1)
TEXT = Kind("text", lambda v: isinstance(v, str))
OPTIONAL_TEXT = Kind("text or null", lambda v: v is None or isinstance(v, str))
OBJECT = Kind("an object", lambda v: isinstance(v, dict))

PRESET: Spec = {
    "name": Required(TEXT),
    "aggregate_tok_s": Required(POSITIVE),
    "prefill_tok_s": Required(POSITIVE),
    "accelerators_per_replica": POSITIVE,
}
MANIFEST: dict[str, Spec] = {
    "run_id": TEXT,
    "status": TEXT,
    "started_at": TEXT,
    "workload": {"agent": OPTIONAL_TEXT, "graph": OPTIONAL_TEXT, "concurrency": COUNT},
    "model": {"kind": TEXT, "preset": PRESET},
    "profiling": {"sample_rate": COUNT},
    "host": OBJECT,
    "degraded": Each({"component": Required(TEXT), "reason": Required(TEXT)}),
}
CPU: dict[str, Spec] = {
    "window": Required(
        {"process_cpu_s": Required(NUMBER), "startup_cpu_s": NUMBER, "start_unix": NUMBER, "end_unix": NUMBER}
    ),
    "buckets_s": Each(NUMBER, keyed=True),
    "children_cpu_s": {"reaped": NUMBER, "attributed": NUMBER},
    "telemetry_threads_s": NUMBER,
    "native_threads_s": NUMBER,
    "meter": {name: NUMBER for name in ("overhead_estimate_s", "passthrough_estimate_s", "handle_cost_ns")},
}
_PROCESS_ENTRY: Spec = {"pid": NUMBER, "cpu_user": Required(NUMBER), "cpu_system": Required(NUMBER), "rss": NUMBER}
PROCESS_ROW: dict[str, Spec] = {"t": Required(NUMBER), WORKLOAD: _PROCESS_ENTRY, SAMPLER: _PROCESS_ENTRY}
# span attributes the analysis reads as numbers: seconds (`*_s`), token counts, and these
NUMERIC_ATTRIBUTES = frozenset({fields.MODEL_REQUESTS, "gen_ai.response.time_to_first_chunk"})
NAME_ATTRIBUTES = ("gen_ai.node.name", "gen_ai.tool.name", "orchestrace.task.id")


def show(value: Any) -> str:
    """A value as JSON, cut short for a problem line (too deep to print: its type)."""
    try:
        text = orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:
        text = f"a deeply nested {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def mismatch(value: Any, spec: Spec, where: str = "") -> str | None:
    """Where `value` first differs from `spec`, in words; None when it fits. `where`: its path in the file."""
    while isinstance(spec, Required):
        spec = spec.spec
    if isinstance(spec, Kind):
        return None if spec.test(value) else f"{where or 'the file'} is {show(value)}, not {spec.expected}"
    if isinstance(spec, Each):
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
        if spec.keyed and not isinstance(value, dict):
            return f"{where or 'the file'} is {show(value)}, not an object"
        if items is None:
            return f"{where or 'the file'} is {show(value)}, not a list or an object"
        return next((m for key, item in items if (m := mismatch(item, spec.spec, f"{where}[{key!r}]"))), None)
    if not isinstance(value, dict):
        return f"{where or 'the file'} is {show(value)}, not an object"
    for key, part in spec.items():
        if key not in value:
            if isinstance(part, Required):
                return f"{_at(where, key)} is missing"
            continue
        problem = mismatch(value[key], part, _at(where, key))
        if problem:
            return problem
    return None


def prune(value: dict[str, Any], spec: dict[str, Spec], file: str, where: str, problems: list[str]) -> dict[str, Any]:
    """`value` without the fields that do not fit `spec` (each one named in `problems`, as "FILE: path ...")."""
    kept = dict(value)
    for key, part in spec.items():
        if key not in kept:
            continue
        if isinstance(part, dict) and isinstance(kept[key], dict) and not _has_required(part):
            kept[key] = prune(kept[key], part, file, _at(where, key), problems)
        elif isinstance(part, Each) and not part.keyed and isinstance(kept[key], list):
            good = [item for item in kept[key] if mismatch(item, part.spec) is None]
            if len(good) < len(kept[key]):
                problems.append(f"{file}: {_at(where, key)}: {len(kept[key]) - len(good)} malformed entries ignored")
            kept[key] = good
        elif problem := mismatch(kept[key], part, _at(where, key)):
            problems.append(f"{file}: {problem}; ignored")
            del kept[key]
    return kept


def _has_required(spec: dict[str, Spec]) -> bool:
    return any(isinstance(part, Required) for part in spec.values())


def check_manifest(manifest: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    return prune(manifest, MANIFEST, "manifest.json", "", problems)


def check_cpu(cpu: Any, problems: list[str]) -> dict[str, Any] | None:
    """cpu.json as a whole, or None: its figures only add up together."""
    problem = mismatch(cpu, CPU)
    if problem:
        problems.append(f"cpu.json: {problem}; ignored (no CPU window figures)")
        return None
    checked: dict[str, Any] = cpu
    return checked


def check_process(rows: list[Any], problems: list[str]) -> list[dict[str, Any]]:
    good = [row for row in rows if mismatch(row, PROCESS_ROW) is None]
    if len(good) < len(rows):
        problems.append(f"process.jsonl: {len(rows) - len(good)} malformed row(s) skipped")
    return good


@dataclass
class SpanChecks:
    """Spans fit for span trees, checked a trace at a time: unique, not ending before they start, with
    acyclic shallow parent chains, typed attributes. What was left out is counted for `problems`."""

    duplicates: int = 0
    backwards: int = 0
    outside_trees: int = 0
    mistyped: int = 0

    def check(self, spans: list[SpanRecord]) -> list[SpanRecord]:
        unique: dict[tuple[str, str], SpanRecord] = {}
        for span in spans:
            unique.setdefault((span.trace_id, span.span_id), span)
        self.duplicates += len(spans) - len(unique)
        ordered = [span for span in unique.values() if span.end_ns >= span.start_ns]
        self.backwards += len(unique) - len(ordered)
        placed = _in_trees(ordered)
        self.outside_trees += len(ordered) - len(placed)
        cleaned = [_typed(span) for span in placed]
        self.mistyped += sum(c is not s for c, s in zip(cleaned, placed, strict=True))
        return cleaned

    def problems(self) -> list[str]:
        lines: list[str] = []
        _count(lines, self.duplicates, "duplicate span(s) (the same trace and span id) counted once")
        _count(lines, self.backwards, "span(s) ending before they start left out")
        _count(
            lines, self.outside_trees, f"span(s) in a parent cycle or nested over {MAX_SPAN_DEPTH} levels deep left out"
        )
        _count(lines, self.mistyped, "span(s) with mistyped attributes")
        return lines


def _count(problems: list[str], count: int, what: str) -> None:
    if count:
        problems.append(f"spans.jsonl: {count} {what}")


def _in_trees(spans: list[SpanRecord]) -> list[SpanRecord]:
    """The spans whose parent chain (within their trace) reaches a root in at most MAX_SPAN_DEPTH steps:
    a level at a time down from the roots (spans whose parent is not there), so a cycle is never reached."""
    present = {(span.trace_id, span.span_id) for span in spans}
    children: dict[tuple[str, str | None], list[SpanRecord]] = defaultdict(list)
    level = []
    for span in spans:
        if (span.trace_id, span.parent_id) in present:
            children[(span.trace_id, span.parent_id)].append(span)
        else:
            level.append(span)
    placed: set[int] = set()
    for _ in range(MAX_SPAN_DEPTH):
        if not level:
            break
        placed.update(map(id, level))
        level = [child for span in level for child in children.get((span.trace_id, span.span_id), ())]
    return [span for span in spans if id(span) in placed]


def _typed(span: SpanRecord) -> SpanRecord:
    """The span without attributes of the wrong type for what the analysis reads from them."""
    bad = [name for name, value in span.attributes.items() if (check := _CHECKS[name]) and not check(value)]
    if not bad:
        return span
    return span._replace(attributes={k: v for k, v in span.attributes.items() if k not in bad})


def _check_for(name: str) -> Callable[[Any], bool] | None:
    """What an attribute's value must be, by its name: seconds and counts numbers, names text."""
    if name.endswith(("_s", "_tokens")) or name in NUMERIC_ATTRIBUTES:
        return finite
    if name in NAME_ATTRIBUTES:
        return TEXT.test
    return None


class _Checks(dict[str, Callable[[Any], bool] | None]):
    """`_check_for` each attribute name, worked out once (a run has a few dozen names)."""

    LIMIT = 4096  # names remembered; a damaged file may invent a new one per span

    def __missing__(self, name: str) -> Callable[[Any], bool] | None:
        check = _check_for(name)
        if len(self) < self.LIMIT:
            self[name] = check
        return check


_CHECKS = _Checks()
