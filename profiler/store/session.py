"""Load a run directory into one `Session` value: the single entry point for every view.

Missing or damaged files do not stop loading: what is valid is loaded and each problem is
recorded in `Session.problems` (the report prints them). Only an unusable directory, or a
schema newer than this version understands, is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from profiler.errors import UsageError
from profiler.store.cpuwindow import CpuWindow, merge
from profiler.store.manifest import Manifest
from profiler.store.parts import MAIN, Part, PartInfo
from profiler.store.processseries import ProcessRow
from profiler.store.rundir import CPU_FILE, MANIFEST, PROCESS, SAMPLER_LOG, SAMPLES, SCHEMA, SPANS
from profiler.store.spans import SpanFile, SpanRecord, span_lines
from profiler.store.spanstream import TraceGrouper
from profiler.store.trajectories import TRAJECTORIES, TrajectoryCall, read_trajectories
from profiler.store.validate import SpanChecks, check_cpu, check_manifest, check_process, show
from profiler.store.values import json_lines

MAX_STACK_FRAMES = 512  # py-spy stacks deeper than this are cut (flame graphs show a dozen levels)

_PYSPY_COUNTS = re.compile(r"Samples: (\d+) Errors: (\d+)")
_PROCESS_FRAME = re.compile(r'^process (\d+):"(.*)"$')
_THREAD_FRAME = re.compile(r"^thread \((\d+)\)(?::\s*(.*))?$")


@dataclass(frozen=True)
class StackSample:
    """One distinct stack of py-spy's raw output and how many samples it got."""

    pid: int
    command: str
    thread: int
    frames: tuple[str, ...]  # root first, Python frames only
    count: int


@dataclass
class Session:
    """A run directory, loaded: its small files at once, its spans streamed a trace at a time.

    `spans` is None for a run read from disk (`traces()` streams `spans.jsonl`, holding only the
    traces still open, so memory does not grow with the run); a list for spans made in memory.
    """

    path: Path
    manifest: Manifest
    spans: list[SpanRecord] | None = None
    parts: list[Part] = field(default_factory=list)  # one per workload process (see store.parts)
    load_problems: list[str] = field(default_factory=list)
    sampler_errors: int | None = None  # samples py-spy failed to read (from its log)
    _span_problems: list[str] | None = field(default=None, repr=False)
    _trajectories: dict[str, list[TrajectoryCall]] | None = field(default=None, repr=False)

    def traces(self) -> Iterator[list[SpanRecord]]:
        """Every trace's spans, checked (duplicates, spans ending before they start, cycles, types)."""
        checks = SpanChecks()
        tally = SpanFile([])
        grouper = TraceGrouper()
        lines: Iterable[list[SpanRecord]] = [self.spans] if self.spans is not None else self._span_file(tally)
        for line in lines:
            for trace in grouper.feed(line):
                yield checks.check(trace)
        for trace in grouper.finish():
            yield checks.check(trace)
        if self._span_problems is None:  # the first whole pass names what it left out
            self._span_problems = [*_file_problems(tally), *checks.problems()]
            if grouper.late_spans:
                self._span_problems.append(
                    f"spans.jsonl: {grouper.late_spans} span(s) arrived after their agent run was analysed; left out"
                )

    def span_list(self) -> list[SpanRecord]:
        """Every span at once, for the views that need the whole run (not flat in memory)."""
        return [span for trace in self.traces() for span in trace]

    def _span_file(self, tally: SpanFile) -> Iterator[list[SpanRecord]]:
        try:
            yield from span_lines(self.path / SPANS, tally)
        except OSError as exc:
            self.load_problems.append(f"spans.jsonl is unreadable ({exc.strerror or exc}): no span-level figures")

    @property
    def problems(self) -> list[str]:
        """What could not be loaded, spans included (their problems are known after one pass)."""
        if self._span_problems is None:
            for _ in self.traces():
                pass
        return [*self.load_problems, *(self._span_problems or [])]

    @property
    def trajectories(self) -> dict[str, list[TrajectoryCall]]:
        """Chat calls by trace id (read when first asked for: only estimates need them)."""
        if self._trajectories is None:
            self._trajectories = read_trajectories(self.path / TRAJECTORIES)
        return self._trajectories

    @property
    def cpu(self) -> CpuWindow | None:
        """The run's CPU window: every part's added up (they ran side by side)."""
        return merge(part.cpu for part in self.parts)

    @property
    def process(self) -> list[ProcessRow]:
        """The psutil series of the run's first part (a fleet's parts each have their own: `parts`)."""
        return self.parts[0].process if self.parts else []

    @property
    def samples(self) -> list[StackSample]:
        return [sample for part in self.parts for sample in part.samples]

    @property
    def run_id(self) -> str:
        return self.manifest.run_id or self.path.name

    @property
    def degraded(self) -> list[dict[str, str]]:
        return [dict(entry) for entry in self.manifest.degraded]

    @property
    def why_no_samples(self) -> str:
        """Why the run has no stack samples: py-spy was turned off (asked for), or what stopped it."""
        if self.manifest.profiling.sampler is False:
            return "py-spy was turned off (--no-sampler)"
        return "; ".join(f"{d.get('component')}: {d.get('reason')}" for d in self.degraded)

    @property
    def sample_rate(self) -> int:
        return self.manifest.profiling.sample_rate


def _read_json(path: Path, problems: list[str]) -> Any:
    try:
        return orjson.loads(path.read_bytes())  # orjson: nesting over 1,024 levels is an error, not a crash
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} is unreadable ({exc}); ignored")
    return None


def _read_jsonl(path: Path, problems: list[str]) -> list[Any]:
    rows: list[Any] = []
    bad = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            rows, bad = json_lines(handle)
    except OSError as exc:
        problems.append(f"{path.name} is unreadable ({exc.strerror or exc}); ignored")
    if bad:
        problems.append(f"{path.name}: {bad} corrupt line(s) skipped")
    return rows


def parse_raw_stacks(text: str) -> list[StackSample]:
    """py-spy `--format raw` with `--threads --subprocesses`: `process ..;thread (..);frame;.. COUNT`."""
    samples = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        pid, command, thread = 0, "", 0
        while frames:
            process = _PROCESS_FRAME.match(frames[0])
            thread_frame = _THREAD_FRAME.match(frames[0])
            if process:
                pid, command = int(process.group(1)), process.group(2)
            elif thread_frame:
                thread = int(thread_frame.group(1))
            else:
                break
            frames = frames[1:]
        samples.append(StackSample(pid, command, thread, tuple(frames[:MAX_STACK_FRAMES]), int(count)))
    return samples


def _schema(manifest: dict[str, Any], path: str | Path, problems: list[str]) -> None:
    """A schema newer than this version is an error; one that is not a schema number is a problem."""
    schema = manifest.get("schema", SCHEMA)
    if isinstance(schema, str) and schema.isdigit():
        schema = int(schema)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        problems.append(f"manifest.json: schema {show(schema)} is not a schema number; read as schema {SCHEMA}")
        schema = SCHEMA
    if schema > SCHEMA:
        raise UsageError(
            f"{path} has run-directory schema {schema}, newer than this orchestrace understands "
            f"({SCHEMA}); upgrade orchestrace to read it"
        )
    manifest["schema"] = schema


def _samples(root: Path, problems: list[str]) -> list[StackSample]:
    samples: list[StackSample] = []
    for raw in sorted((root / SAMPLES).glob("*.raw")) if (root / SAMPLES).is_dir() else []:
        try:
            samples.extend(parse_raw_stacks(raw.read_text(encoding="utf-8", errors="replace")))
        except OSError as exc:
            problems.append(f"{SAMPLES}/{raw.name} is unreadable ({exc.strerror or exc}); ignored")
    return samples


def _file_problems(tally: SpanFile) -> list[str]:
    problems = []
    if tally.bad_lines:
        problems.append(
            f"spans.jsonl: {tally.bad_lines} truncated or corrupt line(s) skipped (first at line "
            f"{tally.first_bad_line}); figures use the valid spans"
        )
    if tally.bad_spans:
        problems.append(f"spans.jsonl: {tally.bad_spans} span(s) with missing or mistyped ids or times skipped")
    return problems


def load_session(path: str | Path) -> Session:
    """The run directory at `path`, as far as it is readable; what is not is named in `problems`."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{path} is not a run directory (expected a folder with manifest.json and spans.jsonl)")
    problems: list[str] = []
    manifest = _read_json(root / MANIFEST, problems)
    if manifest is not None and not isinstance(manifest, dict):
        problems.append("manifest.json is not an object; ignored")
        manifest = None
    if manifest is not None:
        _schema(manifest, path, problems)
        manifest = check_manifest(manifest, problems)
    has_spans = (root / SPANS).exists()
    if not has_spans:
        if manifest is None:
            raise UsageError(f"{path} has neither manifest.json nor spans.jsonl: nothing to report")
        problems.append("spans.jsonl is missing: no span-level figures")
    if manifest is None:
        manifest = {"schema": SCHEMA, "run_id": root.name}
    if manifest.get("status") == "running":
        problems.append("the run did not finish (manifest still says running): the workload may have died")
    parts = [_part(root, info, problems) for info in _part_infos(manifest, problems)]
    return Session(
        root, Manifest.from_json(manifest), None if has_spans else [], parts, problems, _sampler_errors(root)
    )


def _part_infos(manifest: dict[str, Any], problems: list[str]) -> list[PartInfo]:
    """The parts the manifest lists; a run written before parts has one, at the root."""
    listed = manifest.get("parts")
    if listed is None:
        return [PartInfo(MAIN, str(manifest.get("host", {}).get("hostname", "")), None, "")]
    infos = []
    for entry in listed if isinstance(listed, list) else []:
        try:
            infos.append(PartInfo.from_json(entry))
        except (KeyError, TypeError, AttributeError):
            problems.append(f"manifest.json: a part entry {show(entry)} is not a part; ignored")
    return infos


def _part(root: Path, info: PartInfo, problems: list[str]) -> Part:
    """One part's CPU window, psutil series and py-spy stacks; what is damaged is named."""
    where = root / info.dir
    named: list[str] = []  # the part's own problems, named after it when there are several
    cpu = None
    if (where / CPU_FILE).exists():
        raw_cpu = _read_json(where / CPU_FILE, named)
        checked = None if raw_cpu is None else check_cpu(raw_cpu, named)
        cpu = None if checked is None else CpuWindow.from_json(checked)
    else:
        named.append("cpu.json is missing: no CPU window figures (the workload did not finish its window)")
    rows = check_process(_read_jsonl(where / PROCESS, named), named) if (where / PROCESS).exists() else []
    process = [ProcessRow.from_json(row) for row in rows]
    samples = _samples(where, named)
    problems.extend(named if info.id == MAIN else [f"part {info.id}: {problem}" for problem in named])
    return Part(info, cpu, process, samples)


def _sampler_errors(root: Path) -> int | None:
    try:
        counts = _PYSPY_COUNTS.findall((root / SAMPLER_LOG).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return sum(int(errors) for _, errors in counts) if counts else None
