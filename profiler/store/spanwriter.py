"""The span writer process: frames from span relays in, OTLP JSON lines out.

    python -m profiler.store.spanwriter OUT.jsonl FD [FD ...]

Reads length-prefixed frames from each inherited pipe until all reach end of file, rebuilds
the spans and appends one OTLP JSON `ExportTraceServiceRequest` line per frame.
"""

from __future__ import annotations

import os
import selectors
import signal
import sys

from profiler.store.spanfile import JsonlSpanExporter
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


def run(out: str, fds: list[int]) -> int:
    exporter = JsonlSpanExporter(out)
    selector = selectors.DefaultSelector()
    for fd in fds:
        selector.register(fd, selectors.EVENT_READ, FrameReader(fd))
    truncated = 0
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
                    exporter.export(decode_frame(frame))
                except Exception as exc:  # a bad frame must not lose the others
                    print(f"spanwriter: skipped a bad frame: {exc}", file=sys.stderr)
    exporter.shutdown()
    if truncated:
        print(f"spanwriter: {truncated} bytes of an unfinished frame were dropped", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stop only when every producer closed its pipe
    return run(argv[0], [int(fd) for fd in argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
