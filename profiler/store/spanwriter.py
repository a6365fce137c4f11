"""The span writer process: frames from span relays in, OTLP JSON lines out (and live OTLP export).

    python -m profiler.store.spanwriter OUT.jsonl FD [FD ...] [--summary-fd FD] [--runner-fd FD --manifest FILE]
                                                              [--otlp-url URL --otlp-protocol P --export-summary FILE]

Reads length-prefixed frames from each inherited pipe until all reach end of file, rebuilds
the spans and appends one OTLP JSON `ExportTraceServiceRequest` line per frame. With an OTLP
endpoint it also exports them live through the official exporter on its own thread: the file
is written first and never waits for the backend, and a down backend only costs a count.

It outlives the runner on purpose: if the runner was killed (its end of `--runner-fd` closed
before the writer finished), the writer is the one left to finalise the manifest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import selectors
import signal
import sys
import time
from pathlib import Path

from opentelemetry.sdk.trace.export import BatchSpanProcessor

from profiler.export.target import EXPORT_TIMEOUT_S, CountingExporter, OtlpTarget
from profiler.store.redact import Redactor
from profiler.store.rundir import RunDir, iso
from profiler.store.spanfile import JsonlSpanExporter, append_line
from profiler.store.spanrelay import FRAME_HEADER, decode_frame


class FrameReader:
    """Reassembles frames from one pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        frames = []
        while len(self._buffer) >= FRAME_HEADER.size:
            (length,) = FRAME_HEADER.unpack_from(self._buffer)
            end = FRAME_HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append(self._buffer[FRAME_HEADER.size : end])
            self._buffer = self._buffer[end:]
        return frames

    @property
    def leftover(self) -> int:
        return len(self._buffer)


class LiveExport:
    """Official OTLP exporter behind a batch processor; counts offered, exported, failed."""

    def __init__(self, target: OtlpTarget) -> None:
        self.target = target
        self.counting = CountingExporter(target.exporter())
        self.processor = BatchSpanProcessor(
            self.counting,
            max_queue_size=65536,
            schedule_delay_millis=500,
            export_timeout_millis=int(EXPORT_TIMEOUT_S * 1000),
        )
        self.offered = 0

    def offer(self, spans: list) -> None:  # type: ignore[type-arg]
        for span in spans:
            self.processor.on_end(span)
        self.offered += len(spans)

    def finish(self) -> dict[str, object]:
        """Flush what is queued: patiently to a backend that answers, briefly to one that does not."""
        patience_s = 2 * EXPORT_TIMEOUT_S if self.counting.answering else 1.0
        flushed = self.processor.force_flush(timeout_millis=int(patience_s * 1000))
        not_sent = self.offered - self.counting.exported
        summary = {
            "endpoint": self.target.endpoint,
            "protocol": self.target.protocol,
            "spans": self.offered,
            "exported": self.counting.exported,
            "failed": not_sent,
            "gave_up": self.counting.gave_up,
            "last_error": self.counting.last_error,
            "flushed": flushed,
        }
        if flushed:
            self.processor.shutdown()  # type: ignore[no-untyped-call]
        return summary


def runner_gone(fd: int) -> bool:
    """The runner's end of the watchdog pipe is closed: it died (it never writes, only holds it)."""
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable) and os.read(fd, 1) == b""


def finalise_for_dead_runner(manifest: Path, written: int) -> None:
    """Mark the run as ended without its runner, so it does not say `running` forever."""
    if not manifest.exists():
        return
    RunDir(manifest.parent).finish(
        status="failed",
        message=f"the orchestrace run process died before finishing the run (killed?); the span writer kept "
        f"the {written} spans it received",
        ended_at=iso(time.time()),
        ended_unix=time.time(),
    )


def run(
    out: str,
    fds: list[int],
    live: LiveExport | None = None,
    summary_path: Path | None = None,
    *,
    redactor: Redactor | None = None,
    summary_fd: int | None = None,
    runner_fd: int | None = None,
    manifest: Path | None = None,
) -> int:
    redactor = redactor or Redactor()
    exporter = JsonlSpanExporter(out, redact=False)  # redacted once below, for the file and live export
    selector = selectors.DefaultSelector()
    for fd in fds:
        selector.register(fd, selectors.EVENT_READ, FrameReader(fd))
    truncated = bad_frames = 0
    while selector.get_map():
        for key, _ in selector.select():
            reader: FrameReader = key.data
            chunk = os.read(reader.fd, 1 << 20)
            if not chunk:
                truncated += reader.leftover
                selector.unregister(reader.fd)
                os.close(reader.fd)
                continue
            for frame in reader.feed(chunk):
                try:
                    spans = [redactor.span(span) for span in decode_frame(frame)]
                except Exception as exc:  # a bad frame must not lose the others
                    print(f"spanwriter: skipped a bad frame: {exc}", file=sys.stderr)
                    bad_frames += 1
                    continue
                exporter.export(spans)
                if live is not None:
                    live.offer(spans)
    exporter.shutdown()
    if truncated:
        print(f"spanwriter: {truncated} bytes of an unfinished frame were dropped", file=sys.stderr)
    if runner_fd is not None and manifest is not None and runner_gone(runner_fd):
        try:
            finalise_for_dead_runner(manifest, exporter.exported)
        except OSError as exc:
            print(f"spanwriter: could not finalise the manifest: {exc}", file=sys.stderr)
    if summary_fd is not None:  # a pipe, not a file: it must get through when the disk is full
        written = {"spans": exporter.exported, "failed": exporter.failed, "last_error": exporter.last_error}
        with contextlib.suppress(OSError):  # the runner may be gone
            append_line(summary_fd, json.dumps({**written, "bad_frames": bad_frames, "truncated": truncated}).encode())
        os.close(summary_fd)
    if live is not None:
        summary = live.finish()
        if summary_path is not None:
            summary_path.write_text(json.dumps(summary), encoding="utf-8")
        sys.stdout.flush()
        os._exit(0)  # a backend that is still not answering must not keep us waiting
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stop only when every producer closed its pipe
    parser = argparse.ArgumentParser(prog="python -m profiler.store.spanwriter")
    parser.add_argument("out")
    parser.add_argument("fds", nargs="+", type=int)
    parser.add_argument("--otlp-url", help="the exact URL to send to (the runner resolved it)")
    parser.add_argument("--otlp-protocol", default="http/protobuf")
    parser.add_argument("--export-summary", type=Path)
    parser.add_argument("--secret-env", action="append", default=[], help="redact this variable's value too")
    parser.add_argument("--summary-fd", type=int, help="write what was written (spans, errors) to this pipe")
    parser.add_argument("--runner-fd", type=int, help="the runner's watchdog pipe (its end closes when it dies)")
    parser.add_argument("--manifest", type=Path, help="the manifest to finalise if the runner died")
    args = parser.parse_args(argv)
    target = OtlpTarget(args.otlp_url, args.otlp_protocol, signal_url=True) if args.otlp_url else None
    live = LiveExport(target) if target else None
    return run(
        args.out,
        args.fds,
        live,
        args.export_summary,
        redactor=Redactor(names=args.secret_env),
        summary_fd=args.summary_fd,
        runner_fd=args.runner_fd,
        manifest=args.manifest,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
