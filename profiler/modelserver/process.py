"""Runs the simulated model server as a process: args, telemetry, signals, ready line."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from profiler.accelerators.presets import load_preset
from profiler.errors import UsageError
from profiler.instrument.telemetry import Telemetry, resource_for
from profiler.lifeline import die_with_parent
from profiler.modelserver.faults import Faults, read_spec
from profiler.modelserver.server import Limits, ModelServer
from profiler.modelserver.trajectory import Script

SERVICE_NAME = "orchestrace-modelserver"
SHUTDOWN_GRACE_S = 2.0  # on SIGTERM, requests in flight get this long (the runner waits 10 s in all)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        "--model",
        dest="preset",
        default="h100-llama3.1-8b",
        help="accelerator preset name or JSON file (default: %(default)s)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=_port, default=8000, help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=Limits.timeout_s,
        help="close connections idle, half-sent or not reading for this many seconds (default: %(default)s)",
    )
    parser.add_argument("--script", help="trajectory script JSON used for every request")
    parser.add_argument(
        "--scripts",
        help="JSON object of named scripts, chosen per request by the "
        "'orchestrace.script' baggage entry or X-Orchestrace-Script header",
    )
    parser.add_argument("--spans", help="append the server's SERVER spans to this OTLP JSON lines file")
    parser.add_argument(
        "--faults", help="fault spec JSON file: error rates by status, latency spikes, dropped or malformed streams"
    )
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--span-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready-json", action="store_true", help=argparse.SUPPRESS)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535; 0 picks a free one)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _load_json(path: str, what: str) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from None


def build_server(args: argparse.Namespace) -> ModelServer:
    preset = load_preset(args.preset)
    default = Script.from_dict(_load_json(args.script, "script file"), args.script) if args.script else None
    scripts: dict[str, Script] = {}
    if args.scripts:
        raw = _load_json(args.scripts, "scripts file")
        if not isinstance(raw, dict):
            raise UsageError(f"scripts file {args.scripts}: expected an object of name -> script")
        scripts = {k: Script.from_dict(v, f"scripts file {args.scripts}: {k}") for k, v in raw.items()}
    faults = Faults.from_dict(read_spec(args.faults), f"fault spec {args.faults}") if args.faults else None
    limits = Limits(timeout_s=args.timeout)
    return ModelServer(preset, scripts=scripts, default_script=default, limits=limits, faults=faults)


async def serve(server: ModelServer, host: str, port: int, announce_json: bool, listen_fd: int | None) -> None:
    # aiohttp's keep-alive timer also closes connections that never finish their request headers
    runner = web.AppRunner(
        server.app(),
        access_log=None,
        handle_signals=False,
        keepalive_timeout=server.limits.timeout_s,
        shutdown_timeout=SHUTDOWN_GRACE_S,
    )
    await runner.setup()
    if listen_fd is not None:  # a socket the parent already bound: clients may connect before we serve
        site: web.BaseSite = web.SockSite(runner, socket.socket(fileno=listen_fd))
    else:
        site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if announce_json:
        print(json.dumps({"event": "ready", "port": bound, "model": server.preset.model}), flush=True)
    else:
        print(
            f"orchestrace model server (SIMULATED timing, preset {server.preset.name}) serving "
            f"'{server.preset.model}' on http://{host}:{bound}/v1 — Ctrl-C to stop",
            flush=True,
        )
    await stop.wait()
    await runner.cleanup()


# The span exporter thread holds the GIL while it encodes; hand it back to the event loop
# quickly so simulated timing stays within about a millisecond of the model.
GIL_SWITCH_INTERVAL_S = 0.0005


def run(args: argparse.Namespace) -> int:
    die_with_parent(signal.SIGTERM)  # started by `orchestrace run`: stop (and flush spans) when it dies
    server = build_server(args)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    telemetry = Telemetry(
        resource_for(SERVICE_NAME, args.run_id, {"orchestrace.preset": server.preset.name}),
        span_fd=args.span_fd,
        spans_path=args.spans,
    )
    server.tracer = telemetry.provider.get_tracer("orchestrace.modelserver")
    try:
        try:
            import uvloop

            uvloop.run(serve(server, args.host, args.port, args.ready_json, args.listen_fd))
        except ImportError:
            asyncio.run(serve(server, args.host, args.port, args.ready_json, args.listen_fd))
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    finally:
        telemetry.shutdown()
        if args.ready_json and telemetry.exporter is not None:  # for the runner's check of spans written
            print(json.dumps({"event": "stopped", "spans_sent": telemetry.exporter.exported}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profiler.modelserver")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
