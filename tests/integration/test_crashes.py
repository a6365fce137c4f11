"""Crashes lose nothing and leave nothing: signals to the runner, and parts of a run killed mid-run."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from profiler.store.session import load_session
from tests.conftest import manifest_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROLES = {
    "workload": "profiler.runner.workload",
    "modelserver": "profiler.modelserver",
    "spanwriter": "profiler.store.spanwriter",
}


def sigint_ignored() -> None:
    """`preexec_fn`: start as a shell's background job does, SIGINT ignored (inherited by children)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def start_run():
    """Start `orchestrace run` as a background job (SIGINT ignored, as `cmd &` in a script); whatever a
    failing test leaves running (orphans too) is killed at teardown."""
    outs: list[str] = []

    def start(out: Path, tasks: int) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "profiler", "run", "--agent", "rag", "--tasks", str(tasks),
                   "--concurrency", "2", "--model", "h100-llama3.1-8b", "--no-sampler", "--out", str(out)]  # fmt: skip
        outs.append(str(out))
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_ignored
        )

    yield start
    for process in psutil.process_iter(["cmdline"]):
        if any(out in " ".join(process.info["cmdline"] or []) for out in outs):  # every part names the run dir
            with contextlib.suppress(psutil.Error):
                process.kill()


def first_agent_run_recorded(out: Path, runner: subprocess.Popen[str], timeout_s: float = 90) -> Path:
    """The run directory, once spans.jsonl holds one finished agent run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert runner.poll() is None, runner.communicate()
        for spans in out.glob("*/spans.jsonl"):
            if '"invoke_agent rag"' in spans.read_text(errors="replace"):
                return spans.parent
        time.sleep(0.2)
    raise AssertionError("no agent run finished in time")


def children(runner: subprocess.Popen[str]) -> dict[str, psutil.Process]:
    found = {}
    for child in psutil.Process(runner.pid).children(recursive=True):
        command = " ".join(child.cmdline())
        found.update({role: child for role, module in ROLES.items() if module in command})
    assert set(found) == set(ROLES), found
    return found


def all_gone(processes, timeout_s: float = 30) -> bool:
    _, alive = psutil.wait_procs(list(processes), timeout=timeout_s)
    return not alive


def manifest_settled(run_dir: Path, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and manifest_of(run_dir)["status"] == "running":
        time.sleep(0.2)
    return manifest_of(run_dir)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_run_like_ctrl_c(start_run, tmp_path, sig):
    runner = start_run(tmp_path, 200)
    run_dir = first_agent_run_recorded(tmp_path, runner)
    parts = children(runner)
    runner.send_signal(sig)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "Traceback" not in err, err
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "interrupted" and manifest["message"] == f"interrupted by {sig.name}"
    # the workload took the runner's SIGINT though it started with SIGINT ignored: it flushed and said
    # so itself, rather than being killed after the grace period
    assert manifest["workload_result"]["status"] == "interrupted"
    assert all_gone(parts.values())
    assert load_session(run_dir).span_list()  # what was recorded is kept


def test_sigkill_of_the_runner_takes_its_children_and_the_writer_finalises_the_manifest(start_run, tmp_path):
    runner = start_run(tmp_path, 200)
    run_dir = first_agent_run_recorded(tmp_path, runner)
    parts = children(runner)
    runner.kill()
    runner.communicate(timeout=10)
    assert all_gone(parts.values()), [p for p in parts.values() if p.is_running()]
    manifest = manifest_settled(run_dir)
    assert manifest["status"] == "failed" and "orchestrace run process died" in manifest["message"]
    session = load_session(run_dir)
    assert any(s.name == "invoke_agent rag" and not s.is_error for s in session.span_list())


def kill_mid_run(start_run, tmp_path: Path, child: str) -> tuple[str, dict]:
    """Kill one of a 6-task run's processes once an agent run is recorded: the runner's output and
    the manifest it leaves (the runner must exit 1)."""
    runner = start_run(tmp_path, 6)
    run_dir = first_agent_run_recorded(tmp_path, runner)
    children(runner)[child].kill()
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 1, out + err
    return out, manifest_of(run_dir)


def test_a_killed_span_writer_makes_the_run_incomplete_and_is_named(start_run, tmp_path):
    out, manifest = kill_mid_run(start_run, tmp_path, "spanwriter")
    assert manifest["status"] == "incomplete"
    assert "the span writer died (killed by SIGKILL)" in manifest["message"]
    assert (
        f"the workload finished 6 agent runs but spans.jsonl holds {manifest['checks']['agent_runs_found']}"
        in (manifest["message"])
    )
    assert "status       incomplete" in out


def test_a_killed_model_server_is_named_as_the_cause(start_run, tmp_path):
    _out, manifest = kill_mid_run(start_run, tmp_path, "modelserver")
    assert manifest["status"] == "failed"
    assert "the simulated model server died during the run (killed by SIGKILL)" in manifest["message"]
