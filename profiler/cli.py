"""Command line: thin; parses, calls the library, prints. `main(argv) -> int` is testable in-process."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from profiler import __version__
from profiler.errors import UsageError
from profiler.render.views import FILE_FORMATS, RENDERERS, as_json, as_text
from profiler.runner.plan import DEFAULT_PRESET
from profiler.runner.sampling import DEFAULT_SAMPLE_RATE

if TYPE_CHECKING:  # the commands import what they use when they run
    from profiler.store.session import Session

DEBUG_ENV = "ORCHESTRACE_DEBUG"
DEFAULT_SWEEP = ("h100-llama3.1-8b", "groq-llama3-8b", "cerebras-llama3.1-8b")  # the first is the reference
DEFAULT_CONCURRENCY = 4
PIPED_WIDTH = 160

Command = Callable[[argparse.Namespace, Console], int]


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from profiler.render.text import summary
    from profiler.runner.run import execute, summary_lines
    from profiler.runner.ui import make_display

    result = execute(_run_options(args), make_display(console))
    if result.report is not None and result.headline is not None:
        console.print(summary(result.report, result.headline))
    for line in summary_lines(result):
        console.print(line, highlight=False)
    run = shlex.quote(str(result.run_dir.path))
    console.print(
        f"next: orchestrace report {run} --format html -o report.html · orchestrace size {run}", highlight=False
    )
    return result.exit_code


def _run_options(args: argparse.Namespace) -> Any:
    from profiler.runner.plan import RunOptions

    return RunOptions(
        agent=args.agent,
        graph=args.graph,
        inputs=args.inputs,
        tasks=args.tasks,
        concurrency=args.concurrency if args.concurrency is not None else DEFAULT_CONCURRENCY,
        concurrency_given=args.concurrency is not None,
        model=args.model,
        script=args.script,
        faults=args.faults,
        endpoint=args.endpoint,
        model_name=args.model_name,
        api_key_env=args.api_key_env,
        out=args.out,
        seed=args.seed,
        request_timeout_s=args.request_timeout,
        max_retries=args.max_retries,
        sampler=not args.no_sampler,
        sample_rate=args.sample_rate,
        sample_children=args.sample_children,
        loop=args.loop,
        mode=args.mode,
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        replay=getattr(args, "replay", None),
        ray=getattr(args, "ray", None),
        ray_workers=getattr(args, "ray_workers", 2),
        argv=("orchestrace", *args.argv),
    )


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from profiler.render.views import ReportView, render
    from profiler.store.session import load_session

    _check_file_output(args)
    if args.compare and args.format == "speedscope":
        raise UsageError("--compare works with --format text, json or html, not speedscope")
    if args.agent_run is not None and (args.format != "html" or args.compare):
        raise UsageError("--agent-run picks the timeline of a single-run --format html report; drop it otherwise")
    session = load_session(args.run)
    terminal = args.output is None
    view = ReportView(
        session,
        args.agent_run,
        _regenerate(args),
        width=console.width if terminal else 120,
        styled=terminal and console.is_terminal,
    )
    if args.compare:
        return _report_comparison(args, console, session)
    text = render(view, args.format)
    if args.format == "html":
        _write_html(args.output, text, console)
    elif args.format == "speedscope":
        _write(args.output, text)
        console.print(f"wrote {args.output} (open it at https://www.speedscope.app)", highlight=False)
    elif args.output:
        _write(args.output, text)
    else:
        console.file.write(text)
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_file_output(args: argparse.Namespace) -> None:
    """HTML and speedscope are files to open elsewhere, not terminal output: checked before any work."""
    if args.format in FILE_FORMATS and not args.output:
        suffix = "html" if args.format == "html" else "speedscope.json"
        raise UsageError(f"--format {args.format} writes a file: add -o FILE (e.g. -o {args.command}.{suffix})")


def _write_html(path: Path, text: str, console: Console) -> None:
    _write(path, text)
    size_mb = len(text.encode("utf-8")) / 1e6
    console.print(f"wrote {path} ({size_mb:.1f} MB, self-contained: opens offline in a browser)", highlight=False)


def _regenerate(args: argparse.Namespace) -> str:
    return shlex.join(["orchestrace", *args.argv])


def _report_comparison(args: argparse.Namespace, console: Console, session: Session) -> int:
    from profiler.analysis.compare import compare_runs
    from profiler.render.compare import render_comparison
    from profiler.render.html_compare import render_compare_html
    from profiler.sizing.headline import report_and_headline
    from profiler.store.session import load_session

    other = load_session(args.compare)
    comparison = compare_runs(*report_and_headline(session), *report_and_headline(other))
    simulated = session.manifest.simulated or other.manifest.simulated
    _emit(
        args,
        console,
        comparison,
        render_comparison(comparison),
        lambda: render_compare_html(comparison, simulated, _regenerate(args)),
    )
    return 0


def _presets(spec: str | None) -> list[Any]:
    from profiler.accelerators.presets import load_preset, real_presets

    if spec is None:
        return real_presets()
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise UsageError("--presets needs at least one preset name or file")
    return [load_preset(name) for name in names]


def _targets(args: argparse.Namespace) -> Any:
    from profiler.sizing.model import Targets

    return Targets(
        rate=args.target_rps,
        cpu_utilisation=args.cpu_util,
        accelerator_utilisation=args.acc_util,
        latency_target_ms=args.latency_target_ms,
        accelerator_hour=args.accelerator_hour,
        core_hour=args.core_hour,
    )


def _emit(
    args: argparse.Namespace, console: Console, result: dict[str, Any], renderable: Any, html: Callable[[], str]
) -> None:
    if args.format == "html":
        _write_html(args.output, html(), console)
        return
    if args.format == "json":
        text = as_json(result)
        if args.output:
            _write(args.output, text)
        else:
            sys.stdout.write(text)
        return
    if args.output:
        _write(args.output, as_text(renderable, 140))
    else:
        console.print(renderable)


def _cmd_size(args: argparse.Namespace, console: Console) -> int:
    from profiler.accelerators.presets import load_preset, recorded_preset
    from profiler.render.html_sizing import render_size_html
    from profiler.render.sizing import render_sizing
    from profiler.sizing.model import size
    from profiler.store.session import load_session

    _check_file_output(args)
    targets = _targets(args)
    session = load_session(args.run)
    presets = _presets(args.presets)
    run_preset = session.manifest.preset
    base = load_preset(args.base) if args.base else None
    if base is None and run_preset:
        base = recorded_preset(run_preset)
    if base is None or (base.synthetic and not args.base):
        base = load_preset(DEFAULT_PRESET)
    if base.synthetic:
        raise UsageError(f"--base {base.name}: a synthetic preset has no model time to speed up; pick a real preset")
    result = size(session, presets, targets, base, args.cores, args.concurrency)
    simulated = session.manifest.simulated
    _emit(args, console, result, render_sizing(result), lambda: render_size_html(result, simulated, _regenerate(args)))
    return 0


def _cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from profiler.render.html_sizing import render_sweep_html
    from profiler.render.sizing import render_sweep
    from profiler.runner.run import execute
    from profiler.runner.sweep import run_at_presets
    from profiler.runner.ui import make_display
    from profiler.sizing.sweep import sweep

    _check_file_output(args)
    targets = _targets(args)
    presets = _presets(args.presets or ",".join(DEFAULT_SWEEP))
    options = _run_options(args)
    result = sweep(run_at_presets(options, presets, lambda opts: execute(opts, make_display(console))), targets)
    _emit(args, console, result, render_sweep(result), lambda: render_sweep_html(result, _regenerate(args)))
    return 0


def _cmd_overhead(args: argparse.Namespace, console: Console) -> int:
    from profiler.render.overhead import render_overhead
    from profiler.runner.overhead import measure_overhead
    from profiler.runner.run import execute
    from profiler.runner.ui import QuietDisplay

    display = QuietDisplay(console)
    result = measure_overhead(
        _run_options(args),
        args.rounds,
        lambda options: execute(options, display),
        lambda line: console.print(line, highlight=False),
    )
    _emit(args, console, result, render_overhead(result), lambda: "")
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from profiler.export.jaeger import write_jaeger_json
    from profiler.export.otlp import export_run
    from profiler.export.target import OtlpTarget
    from profiler.store.rundir import SPANS
    from profiler.store.session import load_session

    session = load_session(args.run)  # validates the directory and its schema
    spans = session.path / SPANS
    if not spans.exists():
        raise UsageError(f"{args.run} has no {SPANS}: nothing to export")
    if args.jaeger_json:
        try:
            with open(args.jaeger_json, "w", encoding="utf-8") as out:
                count = write_jaeger_json(spans, out)
        except OSError as exc:
            raise UsageError(f"cannot write {args.jaeger_json}: {exc.strerror or exc}") from None
        console.print(f"wrote {count} spans to {args.jaeger_json} (Jaeger UI: Search → Upload JSON)", highlight=False)
        return 0
    target = OtlpTarget.resolve(args.otlp_endpoint, args.otlp_protocol)
    if target is None:
        raise UsageError(
            "say where to export: --otlp-endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT), or --jaeger-json FILE"
        )
    result = export_run(spans, target)
    line = f"exported {result['exported']}/{result['spans']} spans to {result['endpoint']} ({result['protocol']})"
    if result["failed"]:
        print(f"error: {line}; {result['failed']} failed: {result['last_error'] or 'no answer'}", file=sys.stderr)
        return 1
    console.print(line, highlight=False)
    return 0


def _cmd_serve_model(args: argparse.Namespace, console: Console) -> int:
    from profiler.modelserver.process import run

    return run(args)


def _cmd_presets(args: argparse.Namespace, console: Console) -> int:
    from profiler.accelerators.presets import builtin_presets

    table = Table(title="Accelerator presets (timing of the SIMULATED model server)", show_lines=True)
    for column in ("name", "model", "TTFT s", "decode tok/s", "aggregate tok/s", "max batch", "source"):
        table.add_column(column, overflow="fold")
    for preset in builtin_presets().values():
        source = preset.source + (
            "\n[dim]estimated: " + "; ".join(preset.estimated) + "[/]" if preset.estimated else ""
        )
        price = preset.price
        if price is not None:
            rate = (
                f"${price.per_accelerator_hour:g} per accelerator-hour"
                if price.per_accelerator_hour is not None
                else f"${price.input_per_mtok:g} in / ${price.output_per_mtok:g} out per million tokens"
            )
            source += f"\nprice: {rate} ({price.source}, {price.date})"
        source += f"\naccelerator: {preset.accelerator or 'not a published unit (one API replica)'}"
        table.add_row(
            preset.name,
            preset.model,
            f"{preset.ttft_s:g}",
            f"{preset.decode_tok_s:g}",
            f"{preset.aggregate_tok_s:g}",
            str(preset.max_batch),
            source,
        )
    console.print(table)
    return 0


def _cmd_agents(args: argparse.Namespace, console: Console) -> int:
    from agents import all_agents

    table = Table(title="Sample agents")
    for column in ("name", "tasks", "description", "mirrors"):
        table.add_column(column, overflow="fold")
    for spec in all_agents():
        table.add_row(spec.name, str(len(spec.tasks())), spec.description, spec.workload_class)
    console.print(table)
    return 0


def _add_workload_arguments(parser: argparse.ArgumentParser, outputs: bool = True) -> None:
    what = parser.add_argument_group("what to run")
    what.add_argument("--agent", help="sample agent name (see `orchestrace agents`; default: rag)")
    what.add_argument(
        "--graph", metavar="MODULE:FACTORY", help="your own graph: FACTORY(model) returns a compiled LangGraph graph"
    )
    what.add_argument("--inputs", type=Path, metavar="FILE.jsonl", help="graph inputs for --graph, one JSON per line")
    what.add_argument(
        "--tasks", type=int, metavar="N", help="agent runs (the task set is cycled; default: each task once)"
    )
    what.add_argument(
        "--concurrency", type=int, metavar="C", help=f"agent runs at once (default: {DEFAULT_CONCURRENCY})"
    )
    what.add_argument(
        "--mode",
        choices=("async", "sync"),
        default="async",
        help="async: agent runs are tasks on one event loop (graph.ainvoke); sync: threads calling "
        "graph.invoke (default: async)",
    )
    what.add_argument("--seed", type=int, default=0, help="seed for the workload's random module (default: 0)")
    profiling = parser.add_argument_group("profiling")
    profiling.add_argument(
        "--no-sampler",
        action="store_true",
        help="do not attach py-spy (CPU per span still comes from the in-process meter)",
    )
    profiling.add_argument(
        "--sample-rate",
        type=int,
        default=DEFAULT_SAMPLE_RATE,
        metavar="HZ",
        help=f"py-spy samples per second (default: {DEFAULT_SAMPLE_RATE}: py-spy then costs at most ~4%% of one "
        "core in its own process here; 100 Hz costs 11-14%%)",
    )
    profiling.add_argument(
        "--sample-children",
        action="store_true",
        help="also sample the stacks of child processes (py-spy --subprocesses: 2-3%% of a core more where tools "
        "spawn many; their CPU is measured either way)",
    )
    profiling.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop of the workload (default: asyncio)"
    )
    if not outputs:
        return
    export = parser.add_argument_group("live export (the run directory is written regardless)")
    export.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="also export spans to this OTLP endpoint as they end, e.g. http://localhost:4318 (Jaeger); "
        "default: OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    export.add_argument(
        "--otlp-protocol",
        choices=("http/protobuf", "grpc"),
        help="default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf",
    )
    parser.add_argument("--out", type=Path, default=Path("traces"), help="where run directories go (default: traces/)")


def _add_sizing_arguments(parser: argparse.ArgumentParser, presets_help: str) -> None:
    sizing = parser.add_argument_group("sizing")
    sizing.add_argument("--presets", metavar="A,B,C", help=presets_help)
    sizing.add_argument(
        "--target-rps",
        type=float,
        default=10.0,
        metavar="X",
        help="target throughput in agent runs per second (default: 10)",
    )
    sizing.add_argument(
        "--cpu-util", type=float, default=0.6, metavar="U", help="target CPU utilisation, 0 < U < 1 (default: 0.6)"
    )
    sizing.add_argument(
        "--acc-util",
        type=float,
        default=0.8,
        metavar="U",
        help="target accelerator utilisation, 0 < U < 1 (default: 0.8)",
    )
    sizing.add_argument(
        "--latency-target-ms",
        type=float,
        metavar="T",
        help="size cores so the mean CPU queueing delay stays under T ms (Erlang C)",
    )
    sizing.add_argument(
        "--accelerator-hour", type=float, metavar="USD", help="price per accelerator-hour (default: 3.50, see README)"
    )
    sizing.add_argument("--core-hour", type=float, metavar="USD", help="price per core-hour (default: 0.04)")
    sizing.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="output format (default: text); html is one self-contained page with the CPU share of latency "
        "against inference speed, and needs -o",
    )
    sizing.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of the terminal")


def _console() -> Console:
    """The terminal's width on a terminal; piped or redirected output gets room for the tables."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPED_WIDTH)
    return console


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model", metavar="PRESET|FILE", help="accelerator preset for the simulated server (default: h100-llama3.1-8b)"
    )
    model.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help="trajectory script for the simulated server (default: the agent's own scripts, "
        "or the generic tool-calling policy for --graph)",
    )
    model.add_argument(
        "--faults",
        type=Path,
        metavar="FILE",
        help="fault spec for the simulated server: error rates by status (429 with Retry-After, 500, 503), "
        "latency spikes, dropped or malformed streams",
    )
    model.add_argument(
        "--endpoint",
        metavar="URL",
        help="a real OpenAI-compatible endpoint instead, e.g. "
        "http://localhost:8000/v1 (vLLM, Ollama, llama.cpp, Groq, OpenAI)",
    )
    model.add_argument("--model-name", metavar="NAME", help="model id to request from --endpoint")
    model.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the endpoint's API key (default: OPENAI_API_KEY)",
    )
    model.add_argument(
        "--request-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="per model request timeout in seconds (default: 120)",
    )
    model.add_argument(
        "--max-retries",
        type=int,
        default=0,
        metavar="N",
        help="client retries per model request (default: 0, so every error is seen)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrace",
        description="Profile LangGraph agents: CPU orchestration vs model-inference wait, and cores per accelerator.",
    )
    parser.add_argument("--version", action="version", version=f"orchestrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run agent tasks under full profiling and write a run directory",
        description="Run agent tasks under profiling. Default: the 'rag' sample agent against the "
        "embedded simulated model server (preset h100-llama3.1-8b), no network needed.",
    )
    _add_workload_arguments(run)
    run.add_argument(
        "--replay",
        type=Path,
        metavar="RUN",
        help="replay the model behaviour recorded in RUN (its trajectories: tool calls, token counts) "
        "through the same graph against the simulated server at --model; fails naming the first call "
        "that differs",
    )
    _add_model_arguments(run)
    fleet = run.add_argument_group("Ray (pip install 'orchestrace[ray]')")
    fleet.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="spread the agent runs over Ray workers: a cluster's HOST:PORT (as `ray start --head` prints), or "
        "none to start a local Ray instance for the run",
    )
    fleet.add_argument(
        "--ray-workers",
        type=int,
        default=2,
        metavar="N",
        help="Ray workers (actors), each running --concurrency agent runs at once (default: 2)",
    )
    run.set_defaults(handler=_cmd_run)

    size = sub.add_parser(
        "size",
        help="capacity sizing from a run: cores, accelerators, cores per accelerator, what-ifs",
        description="Size CPU cores and accelerators for a target throughput from a measured run, per "
        "accelerator preset, with the CPU share of latency and what happens as inference gets faster.",
    )
    size.add_argument("run", type=Path, metavar="RUN", help="run directory (traces/<run-id>)")
    _add_sizing_arguments(
        size, "accelerator presets (names or files) to size for (default: every built-in one but the synthetic instant)"
    )
    size.add_argument(
        "--base",
        metavar="PRESET",
        help="preset the what-if speedups start from (default: the run's preset, or h100-llama3.1-8b)",
    )
    size.add_argument(
        "--cores", type=float, metavar="N", help="cores to replay the run on (default: the run's machine's)"
    )
    size.add_argument(
        "--concurrency",
        type=int,
        metavar="C",
        help="agent runs at once in the replay (default: the run's own concurrency)",
    )
    size.set_defaults(handler=_cmd_size)

    sweep = sub.add_parser(
        "sweep",
        help="run the same workload against several presets; measured vs simulated and closed-form CPU share",
        description="Run the workload at the first preset, then replay its recorded trajectories at each other "
        "preset, and compare the measured CPU share of latency and cores with the first run replayed at that "
        "preset (simulated) and with the closed form.",
    )
    _add_workload_arguments(sweep)
    _add_sizing_arguments(
        sweep,
        "accelerator presets (names or files); the first is the reference the others are predicted from "
        f"(default: {','.join(DEFAULT_SWEEP)})",
    )
    sweep.set_defaults(
        handler=_cmd_sweep,
        model=None,
        script=None,
        faults=None,
        endpoint=None,
        model_name=None,
        api_key_env="OPENAI_API_KEY",
        request_timeout=120.0,
        max_retries=0,
    )

    overhead = sub.add_parser(
        "overhead",
        help="measure the profiler's total overhead on your workload (bare vs profiled, a few rounds)",
        description="Run the workload (same options as `run`) alternately bare (no instrumentation) and profiled, "
        "in fresh processes, and print the CPU and wall the profiler adds per agent run, with the spread over "
        "rounds: the total, indirect costs included (the in-run overhead figure counts direct costs only).",
    )
    _add_workload_arguments(overhead, outputs=False)
    _add_model_arguments(overhead)
    overhead.add_argument(
        "--rounds", type=int, default=3, metavar="R", help="bare/profiled pairs, order alternating (default: 3)"
    )
    overhead.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    overhead.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of the terminal")
    overhead.set_defaults(
        handler=_cmd_overhead, replay=None, out=Path("traces"), otlp_endpoint=None, otlp_protocol=None
    )

    serve = sub.add_parser(
        "serve-model",
        help="start the simulated OpenAI-compatible model server alone",
        description="Serve the simulated model (SIMULATED timing from a preset, real HTTP) "
        "for any OpenAI-compatible client.",
    )
    from profiler.modelserver.process import add_arguments

    add_arguments(serve)
    serve.set_defaults(handler=_cmd_serve_model)

    export = sub.add_parser(
        "export",
        help="send a stored run to an OTLP endpoint (Jaeger) or write Jaeger UI JSON",
        description="Export a run's spans with their original ids and timestamps: to an OTLP endpoint "
        "(exporting twice is idempotent where the backend dedupes), or as Jaeger UI JSON that "
        "Jaeger's 'Upload JSON' opens without a backend.",
    )
    export.add_argument("run", type=Path, metavar="RUN", help="run directory (traces/<run-id>)")
    target = export.add_mutually_exclusive_group()
    target.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="OTLP endpoint, e.g. http://localhost:4318 (default: OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    target.add_argument("--jaeger-json", type=Path, metavar="FILE", help="write Jaeger UI JSON to FILE")
    export.add_argument(
        "--otlp-protocol",
        choices=("http/protobuf", "grpc"),
        help="default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf",
    )
    export.set_defaults(handler=_cmd_export)

    report = sub.add_parser(
        "report",
        help="re-analyse a run directory",
        description="Analyse a run directory: wall-time decomposition, CPU categories, "
        "top nodes and tools, the profiler's own overhead; as text, JSON, an HTML page or a speedscope "
        "profile, or compared with another run (--compare).",
    )
    report.add_argument("run", type=Path, metavar="RUN", help="run directory (traces/<run-id>)")
    report.add_argument(
        "--format",
        choices=tuple(RENDERERS),
        default="text",
        help="text (default), json, html (one self-contained page with charts and a flame graph; needs -o) or "
        "speedscope (py-spy's samples for speedscope.app; needs -o)",
    )
    report.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of the terminal")
    report.add_argument(
        "--compare",
        type=Path,
        metavar="OTHER_RUN",
        help="compare with another run directory: the same tables side by side, OTHER_RUN (B) against RUN (A)",
    )
    report.add_argument(
        "--agent-run",
        type=int,
        metavar="N",
        help="html: the agent run (1 = first started) shown on the timeline (default: the median wall time)",
    )
    report.set_defaults(handler=_cmd_report)

    sub.add_parser("presets", help="list accelerator presets and their sources").set_defaults(handler=_cmd_presets)
    sub.add_parser("agents", help="list the sample agents").set_defaults(handler=_cmd_agents)
    return parser


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    console = console or _console()
    handler: Command = args.handler
    try:
        return handler(args, console)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for users; ORCHESTRACE_DEBUG=1 shows it
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        print(
            f"error: internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr
        )
        return 1


def entrypoint() -> None:
    sys.exit(main())
