"""How `run` follows the workload process: Ctrl-C is honoured wherever it lands."""

from pathlib import Path

from profiler.runner.run import _supervise
from profiler.runner.ui import QuietDisplay
from profiler.store.rundir import RunDir


class FakeWorkload:
    """Reports one started and two finished agent runs, then ends as the real one does after an interrupt."""

    def __init__(self) -> None:
        self.events = [[{"event": "started", "total": 2, "agent": "rag"}], [{"event": "run", "ok": True}], []]
        self.interrupted = False

    def poll(self):
        if self.events:
            return self.events.pop(0)
        return None

    def interrupt(self) -> None:
        self.interrupted = True
        self.events = [[{"event": "finished", "status": "interrupted", "completed": 1}]]

    def kill(self) -> None:
        raise AssertionError("one Ctrl-C must not kill")

    def wait(self) -> int:
        return 130


class CtrlCWhileShowingProgress(QuietDisplay):
    def advance(self, ok: bool, error: str | None) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_while_progress_is_shown_interrupts_the_workload(tmp_path: Path) -> None:
    workload = FakeWorkload()
    status, message, finished = _supervise(workload, RunDir(tmp_path), CtrlCWhileShowingProgress(None))
    assert workload.interrupted and status == "interrupted" and message == "interrupted by the user"
    assert finished["status"] == "interrupted"
