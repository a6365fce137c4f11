"""The loader never hangs, never crashes, never accepts nonsense: damaged run directories, and a fuzz."""

from __future__ import annotations

import io
import json
import shutil
from functools import partial
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from profiler.analysis.report import build_report
from profiler.cli import main
from profiler.store.report import Report
from profiler.store.session import load_session
from tests.conftest import EXAMPLE_RUN, edited_example
from tests.timeouts import within

EXAMPLE_AGENT_RUNS = 3


def report_of(run: Path) -> Report:
    with within(10):
        return build_report(load_session(run))


def problems_of(report: Report) -> str:
    return "\n".join(report.problems)


def test_a_parent_cycle_is_left_out_not_looped_on(tmp_path):
    def cycle(spans):
        inner = [s for s in spans if s.get("parentSpanId")]
        if len(inner) >= 2:
            inner[0]["parentSpanId"], inner[1]["parentSpanId"] = inner[1]["spanId"], inner[0]["spanId"]
        return spans

    report = report_of(edited_example(tmp_path / "run", cycle))
    assert "in a parent cycle" in problems_of(report)
    assert report.agent_runs == EXAMPLE_AGENT_RUNS


def test_spans_ending_before_they_start_are_left_out(tmp_path):
    def reverse(spans):
        for span in spans:
            if span.get("parentSpanId"):
                span["startTimeUnixNano"], span["endTimeUnixNano"] = span["endTimeUnixNano"], span["startTimeUnixNano"]
        return spans

    report = report_of(edited_example(tmp_path / "run", reverse))
    assert "ending before they start left out" in problems_of(report)
    assert all(value >= 0 for value in report.wall_s.parts.values()) and report.wall_s.total >= 0


def test_duplicated_span_lines_count_once(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run)
    spans = run / "spans.jsonl"
    spans.write_text(spans.read_text() * 2)
    report = report_of(run)
    assert report.agent_runs == EXAMPLE_AGENT_RUNS
    assert "duplicate span(s)" in problems_of(report)
    assert report.inference == report_of(EXAMPLE_RUN).inference


def test_a_deeply_nested_line_is_a_corrupt_line(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run)
    with open(run / "spans.jsonl", "a") as spans:
        spans.write("[" * 100_000 + "]" * 100_000 + "\n")
    report = report_of(run)
    assert "1 truncated or corrupt line(s) skipped" in problems_of(report)
    assert report.agent_runs == EXAMPLE_AGENT_RUNS


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_zero_sample_rate_and_a_damaged_cpu_file_are_named_and_skipped(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run)
    edit_json(run / "manifest.json", lambda m: m["profiling"].update(sample_rate=0))
    edit_json(run / "cpu.json", lambda c: c["window"].update(process_cpu_s="lots"))
    report = report_of(run)
    problems = problems_of(report)
    assert "manifest.json: profiling.sample_rate is 0, not a whole number >= 1; ignored" in problems
    assert 'cpu.json: window.process_cpu_s is "lots", not a number; ignored (no CPU window figures)' in problems
    assert report.cpu_s.process_total is None and report.stacks.rate_hz == 100


def cli_report(run: Path, fmt: str, out: Path) -> int:
    """`orchestrace report` in-process, under a timeout; its exit code (stderr: capsys)."""
    args = ["report", str(run), "--format", fmt]
    if fmt in ("html", "speedscope"):
        args += ["-o", str(out / f"report.{fmt}")]
    with within(20):
        return main(args, console=Console(file=io.StringIO(), width=200))


def test_a_schema_string_is_read_as_its_number(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run)
    edit_json(run / "manifest.json", lambda m: m.update(schema="99"))
    assert cli_report(run, "text", tmp_path) == 1
    assert "has run-directory schema 99, newer than this orchestrace understands" in capsys.readouterr().err
    edit_json(run / "manifest.json", lambda m: m.update(schema="one"))
    report = report_of(run)
    assert 'manifest.json: schema "one" is not a schema number; read as schema 1' in problems_of(report)
    assert report.agent_runs == EXAMPLE_AGENT_RUNS


# ---- property test: any damage, any format: a report or one clear line, never a traceback or a hang ----

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
ANY_VALUE = (  # an OTLP attribute value of any type, for attributes the analysis reads as numbers or names
    st.builds(lambda v: {"stringValue": v}, st.text(max_size=8))
    | st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63))
    | st.builds(lambda v: {"doubleValue": v}, st.floats(allow_nan=False, allow_infinity=False))
    | st.builds(lambda v: {"boolValue": v}, st.booleans())
    | st.builds(lambda v: {"arrayValue": {"values": [{"stringValue": v}]}}, st.text(max_size=4))
    | JSON
)
FIELDS = {  # what the analysis reads, by file (a path into the JSON)
    "manifest.json": [("schema",), ("status",), ("workload",), ("workload", "concurrency"), ("workload", "agent"),
                      ("model",), ("model", "preset"), ("model", "preset", "aggregate_tok_s"), ("profiling",),
                      ("profiling", "sample_rate"), ("host",), ("started_at",), ("degraded",)],
    "cpu.json": [("window",), ("window", "process_cpu_s"), ("window", "start_unix"), ("buckets_s",),
                 ("buckets_s", "spans"), ("children_cpu_s",), ("children_cpu_s", "reaped"), ("meter",),
                 ("meter", "handle_cost_ns"), ("telemetry_threads_s",)],
    "process.jsonl": [("t",), ("workload",), ("workload", "pid"), ("workload", "cpu_user"), ("workload", "rss")],
}  # fmt: skip
SPAN_FIELDS = ["traceId", "spanId", "parentSpanId", "startTimeUnixNano", "endTimeUnixNano", "kind", "status",
               "attributes", "events", "name"]  # fmt: skip


def replace_somewhere(data, *, keys: list[int], value):
    """`data` with one value replaced by `value`: descend by `keys` (indices at each level) as far as they go."""
    if not isinstance(data, dict | list):
        return value
    place = data
    for step, index in enumerate(keys):
        items = list(place.items()) if isinstance(place, dict) else list(enumerate(place))
        if not items:
            break
        key, child = items[index % len(items)]
        if step == len(keys) - 1 or not isinstance(child, dict | list) or not child:
            place[key] = value
            return data
        place = child
    return data


EDITS = st.one_of(
    st.tuples(st.just("file"), st.sampled_from([*FIELDS, "spans.jsonl", "samples/workload.raw"]),
              st.sampled_from(["truncate", "garbage", "duplicate", "delete"]), st.integers(0, 10**6)),
    st.tuples(st.just("field"), st.sampled_from(list(FIELDS)), st.integers(0, 100), st.integers(0, 100), JSON),
    st.tuples(st.just("span"), st.sampled_from(SPAN_FIELDS), st.integers(0, 1000), JSON),
    st.tuples(st.just("attribute"), st.integers(0, 1000), st.integers(0, 100), ANY_VALUE),
    st.tuples(st.just("cycle"), st.integers(0, 1000), st.integers(0, 1000)),
    st.tuples(st.just("anywhere"), st.sampled_from([*FIELDS, "spans.jsonl"]), st.integers(0, 100),
              st.lists(st.integers(0, 50), min_size=2, max_size=10), JSON),
)  # fmt: skip


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def _edit_line(path: Path, number: int, edit) -> None:
    """Edit one JSON document: a line of a .jsonl file, or a whole .json file."""
    lines = [path.read_text(errors="replace")] if path.suffix == ".json" and path.exists() else _lines(path)
    if lines:
        index = number % len(lines)
        try:
            lines[index] = json.dumps(edit(json.loads(lines[index])))
        except ValueError:
            return
        path.write_text("\n".join(lines) + "\n")


def _set(data, *, path: tuple[str, ...], value):
    place = data
    for key in path[:-1]:
        if not isinstance(place, dict) or not isinstance(place.get(key), dict):
            return data
        place = place[key]
    if isinstance(place, dict):
        place[path[-1]] = value
    return data


def _spans(request) -> list[dict]:
    """The spans of one OTLP JSON line, as far as its structure is still intact."""
    found = []
    for resource in request.get("resourceSpans", []) if isinstance(request, dict) else []:
        for scope in resource.get("scopeSpans", []) if isinstance(resource, dict) else []:
            spans = scope.get("spans", []) if isinstance(scope, dict) else []
            found += [span for span in spans if isinstance(span, dict) and isinstance(span.get("spanId"), str)]
    return found


def _requests(path: Path) -> list:
    """Each line of spans.jsonl parsed (None where it no longer parses)."""
    parsed = []
    for line in _lines(path):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    return parsed


def apply(run: Path, edits) -> None:
    spans_file = run / "spans.jsonl"
    for kind, *args in edits:
        if kind == "file":
            _damage_file(run / args[0], *args[1:])
        elif kind == "field":
            file, which, number, value = args
            path = FIELDS[file][which % len(FIELDS[file])]
            _edit_line(run / file, number, partial(_set, path=path, value=value))
        elif kind == "span":
            field, number, value = args
            _edit_line(
                spans_file, number, partial(_edit_span, number=number, edit=partial(_set, path=(field,), value=value))
            )
        elif kind == "attribute":
            number, which, value = args
            _edit_line(
                spans_file,
                number,
                partial(_edit_span, number=number, edit=partial(_set_attribute, which=which, value=value)),
            )
        elif kind == "cycle":
            spans = [span for request in _requests(spans_file) for span in _spans(request)]
            if len(spans) > 1:
                a, b = (spans[n % len(spans)]["spanId"] for n in args)
                _rewrite_spans(spans_file, {a: b, b: a})
        elif kind == "anywhere":
            file, number, keys, value = args
            _edit_line(run / file, number, partial(replace_somewhere, keys=keys, value=value))


def _damage_file(path: Path, how: str, number: int) -> None:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    if how == "truncate":
        path.write_text(text[: number % (len(text) + 1)])
    elif how == "garbage" and lines:
        lines[number % len(lines)] = '{"resourceSpans": [' + lines[number % len(lines)][: number % 50]
        path.write_text("\n".join(lines) + "\n")
    elif how == "duplicate" and lines:
        path.write_text(text + lines[number % len(lines)] + "\n")
    elif how == "delete" and path.exists():
        path.unlink()


def _edit_span(request, *, number: int, edit):
    spans = _spans(request)
    if spans:
        edit(spans[number % len(spans)])
    return request


def _set_attribute(span: dict, *, which: int, value) -> None:
    attributes = span.get("attributes")
    items = [item for item in attributes if isinstance(item, dict)] if isinstance(attributes, list) else []
    if items:
        items[which % len(items)]["value"] = value


def _rewrite_spans(path: Path, parents: dict[str, str]) -> None:
    """Give spans new parents (span id -> parent id) wherever they are in the file."""
    lines = _lines(path)
    for index, request in enumerate(_requests(path)):
        for span in _spans(request):
            if span["spanId"] in parents:
                span["parentSpanId"] = parents[span["spanId"]]
        if request is not None:
            lines[index] = json.dumps(request)
    path.write_text("\n".join(lines) + "\n")


@st.composite
def damage(draw):
    """One to four edits a crash, a disk or a hand could make to a run directory."""
    return draw(st.lists(EDITS, min_size=1, max_size=4))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=damage())
def test_damaged_run_directories_never_crash_or_hang_any_report_format(tmp_path_factory, capsys, edits):
    run = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(EXAMPLE_RUN, run)
    apply(run, edits)
    for fmt in ("text", "json", "html", "speedscope"):
        code = cli_report(run, fmt, run.parent)
        err = capsys.readouterr().err
        assert "internal error" not in err and "Traceback" not in err, (fmt, err)
        assert code == 0 or (code == 1 and err.startswith("error: ") and err.count("\n") == 1), (fmt, code, err)


def test_bytes_that_are_not_utf8_read_as_replacement_characters(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run)
    spans = run / "spans.jsonl"
    spans.write_bytes(spans.read_bytes().replace(b'"name":"chat ', b'"name":"\xffchat ', 1))
    session = load_session(run)
    names = [span.name for trace in session.traces() for span in trace]
    assert sum(name.startswith("\ufffdchat ") for name in names) == 1
    assert not any("corrupt" in problem for problem in session.problems)


def test_a_time_that_is_not_finite_is_a_mistyped_attribute(tmp_path):
    def infinite_cpu(spans):
        for span in spans[:1]:
            span["attributes"].append({"key": "orchestrace.cpu.self_s", "value": {"doubleValue": "Infinity"}})
        return spans

    session = load_session(edited_example(tmp_path / "run", infinite_cpu))
    cpu = [span.attributes.get("orchestrace.cpu.self_s") for trace in session.traces() for span in trace]
    assert all(value is None or 0 <= value < 100 for value in cpu)
    assert "span(s) with mistyped attributes" in "\n".join(session.problems)
