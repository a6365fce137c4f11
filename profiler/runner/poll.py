"""`python -m profiler.runner.poll PID FILE`: psutil series of a process until stdin closes.

Used by the Python API, where the profiled process is the caller's own: polling from a child
keeps psutil's cost out of the measured process, and a closed pipe (the parent finished or
died) ends it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from profiler.runner.sampling import ProcessPoller
from profiler.store.processseries import WORKLOAD


def main(argv: list[str]) -> int:
    poller = ProcessPoller(Path(argv[1]), {WORKLOAD: int(argv[0])})
    poller.start()
    sys.stdin.buffer.read()  # until the parent closes the pipe
    poller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
