"""Load a run directory into one `Session` value: the single entry point for every view.

Missing or damaged files do not stop loading: what is valid is loaded and each problem is
recorded in `Session.problems` (the report prints them). Only an unusable directory, or a
schema newer than this version understands, is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from profiler.errors import UsageError
from profiler.store.parts import MAIN, Part, PartInfo, merge_windows
from profiler.store.rundir import CPU_FILE, MANIFEST, PROCESS, SAMPLER_LOG, SAMPLES, SCHEMA, SPANS
from profiler.store.spans import SpanRecord, read_span_file
from profiler.store.trajectories import TRAJECTORIES, read_trajectories
from profiler.store.validate import check_cpu, check_manifest, check_process, check_spans, show

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
    path: Path
    manifest: dict[str, Any]
    spans: list[SpanRecord]
    parts: list[Part] = field(default_factory=list)  # one per workload process (see store.parts)
    problems: list[str] = field(default_factory=list)
    trajectories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # chat calls by trace id
    sampler_errors: int | None = None  # samples py-spy failed to read (from its log)

    @property
    def cpu(self) -> dict[str, Any] | None:
        """The run's CPU window: every part's added up (they ran side by side)."""
        return merge_windows(part.cpu for part in self.parts)

    @property
    def process(self) -> list[dict[str, Any]]:
        """The psutil series of the run's first part (a fleet's parts each have their own: `parts`)."""
        return self.parts[0].process if self.parts else []

    @property
    def samples(self) -> list[StackSample]:
        return [sample for part in self.parts for sample in part.samples]

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id", self.path.name))

    @property
    def degraded(self) -> list[dict[str, str]]:
        return list(self.manifest.get("degraded", []))

    @property
    def why_no_samples(self) -> str:
        """Why the run has no stack samples: py-spy was turned off (asked for), or what stopped it."""
        if self.manifest.get("profiling", {}).get("sampler") is False:
            return "py-spy was turned off (--no-sampler)"
        return "; ".join(f"{d.get('component')}: {d.get('reason')}" for d in self.degraded)

    @property
    def sample_rate(self) -> int:
        return int(self.manifest.get("profiling", {}).get("sample_rate", 100))


def _read_json(path: Path, problems: list[str]) -> Any:
    try:
        return orjson.loads(path.read_bytes())  # orjson: nesting over 1,024 levels is an error, not a crash
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} is unreadable ({exc}); ignored")
    return None


def _read_jsonl(path: Path, problems: list[str]) -> list[Any]:
    rows, bad = [], 0
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    rows.append(orjson.loads(line))
                except ValueError:
                    bad += 1
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


def _spans(root: Path, problems: list[str]) -> list[SpanRecord]:
    try:
        span_file = read_span_file(root / SPANS)
    except OSError as exc:
        problems.append(f"spans.jsonl is unreadable ({exc.strerror or exc}): no span-level figures")
        return []
    if span_file.bad_lines:
        problems.append(
            f"spans.jsonl: {span_file.bad_lines} truncated or corrupt line(s) skipped "
            f"(first at line {span_file.first_bad_line}); figures use the {len(span_file.spans)} valid spans"
        )
    if span_file.bad_spans:
        problems.append(f"spans.jsonl: {span_file.bad_spans} span(s) with missing or mistyped ids or times skipped")
    return check_spans(span_file.spans, problems)


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
    if not (root / SPANS).exists():
        if manifest is None:
            raise UsageError(f"{path} has neither manifest.json nor spans.jsonl: nothing to report")
        problems.append("spans.jsonl is missing: no span-level figures")
        spans = []
    else:
        spans = _spans(root, problems)
    if manifest is None:
        manifest = {"schema": SCHEMA, "run_id": root.name}
    if manifest.get("status") == "running":
        problems.append("the run did not finish (manifest still says running): the workload may have died")
    parts = [_part(root, info, problems) for info in _part_infos(manifest, problems)]
    trajectories = read_trajectories(root / TRAJECTORIES)
    return Session(root, manifest, spans, parts, problems, trajectories, _sampler_errors(root))


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
        cpu = None if raw_cpu is None else check_cpu(raw_cpu, named)
    else:
        named.append("cpu.json is missing: no CPU window figures (the workload did not finish its window)")
    process = check_process(_read_jsonl(where / PROCESS, named), named) if (where / PROCESS).exists() else []
    samples = _samples(where, named)
    problems.extend(named if info.id == MAIN else [f"part {info.id}: {problem}" for problem in named])
    return Part(info, cpu, process, samples)


def _sampler_errors(root: Path) -> int | None:
    try:
        counts = _PYSPY_COUNTS.findall((root / SAMPLER_LOG).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return sum(int(errors) for _, errors in counts) if counts else None
