"""The coder agent's sandbox with real child processes: environment, process group, limits, confinement, secrets."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel

from agents.base import answer_turn, tool_turn, user_input
from agents.coder import graph as coder_graph
from agents.coder.sandbox import Limits, run_sandboxed
from agents.coder.tools import PYTHON
from profiler.store.redact import REDACTED
from tests.conftest import run_dir_of, spans_of

pytestmark = pytest.mark.integration
PLANTED = "sk-planted0123456789abcdefghijKLMN"


def landlock_available() -> bool:
    """Confinement needs Landlock (Linux 5.13+); try it in a throwaway child."""
    probe = "import sys; from agents.coder.confine import confine; sys.exit(confine(['/'], []) is not None)"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


needs_landlock = pytest.mark.skipif(not landlock_available(), reason="Landlock is not available on this kernel")


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "ws"
    path.mkdir()
    return str(path)


def python(code: str, workspace: str, **kwargs) -> str:
    return run_sandboxed([*PYTHON, "-c", code], workspace, **kwargs)


SPAWN_SLEEP = "import subprocess; p = subprocess.Popen(['/bin/sleep', '60']); open('pid', 'w').write(str(p.pid))"


def left_running(workspace: str) -> bool:
    """Is the `sleep` the model's code started still alive (a zombie awaiting its reaper is not)?"""
    time.sleep(0.2)
    stat = Path(f"/proc/{(Path(workspace) / 'pid').read_text()}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_model_code_sees_a_minimal_environment(workspace, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    out = python("import os; print(sorted(os.environ))", workspace)
    assert out.startswith("exit status 0")
    assert "['HOME', 'LANG', 'PATH', 'TMPDIR']" in out and PLANTED not in out


def test_a_background_child_neither_stalls_the_run_nor_survives_it(workspace):
    started = time.monotonic()
    out = python(SPAWN_SLEEP + "; print('left')", workspace)
    assert time.monotonic() - started < 10, out  # not the 30 s timeout
    assert out.startswith("exit status 0") and "left" in out
    assert not left_running(workspace)


def test_a_timeout_kills_the_whole_process_group(workspace):
    started = time.monotonic()
    out = python(SPAWN_SLEEP + "; import time; time.sleep(60)", workspace, timeout_s=1)
    assert out.startswith("timed out after 1s") and time.monotonic() - started < 10
    assert not left_running(workspace)


def test_resource_limits_apply(workspace):
    limits = Limits(memory_bytes=512 * 1024**2, file_bytes=1024**2, cpu_s=1)
    names = "r.RLIMIT_AS, r.RLIMIT_FSIZE, r.RLIMIT_CPU, r.RLIMIT_NOFILE"
    out = python(f"import resource as r; print([r.getrlimit(x)[0] for x in ({names})])", workspace, limits=limits)
    assert f"[{512 * 1024**2}, {1024**2}, 1, 256]" in out
    assert "MemoryError" in python("bytearray(1024**3)", workspace, limits=limits)
    too_big = python("open('big', 'wb').write(b'x' * 2 * 1024**2)", workspace, limits=limits)
    assert "File too large" in too_big or not too_big.startswith("exit status 0")
    assert os.path.getsize(os.path.join(workspace, "big")) <= 1024**2
    assert python("while True: pass", workspace, limits=limits).startswith("exit status -")  # SIGXCPU/SIGKILL
    nproc = python("import resource as r; print(r.getrlimit(r.RLIMIT_NPROC)[0])", workspace)
    assert int(nproc.split()[-1]) >= Limits().processes


@pytest.mark.skipif(os.getuid() == 0, reason="Linux does not enforce RLIMIT_NPROC for root")
def test_the_process_count_is_limited(workspace):
    out = python("import subprocess\nfor i in range(500):\n    subprocess.Popen(['/bin/sleep', '5'])", workspace)
    assert "BlockingIOError" in out or "Resource temporarily unavailable" in out


@needs_landlock
def test_model_code_is_confined_to_its_workspace(workspace, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("not for the model")
    assert python("open('inside.txt', 'w').write('ok'); print(open('inside.txt').read())", workspace).startswith(
        "exit status 0\nok"
    )
    for code in (
        f"open({str(tmp_path / 'written.txt')!r}, 'w')",
        f"print(open({str(secret)!r}).read())",
        "print(open('/etc/hostname').read())",
        "import socket; socket.create_connection(('127.0.0.1', 9), timeout=2)",
        f"import os; os.kill({os.getpid()}, 0)",
    ):
        out = python(code, workspace)
        assert "PermissionError" in out and "not for the model" not in out, (code, out)
    assert not (tmp_path / "written.txt").exists()


def test_the_coder_tools_run_tests_in_the_sandbox(tmp_path):
    workspace = tmp_path / "project"
    shutil.copytree(coder_graph._template(), workspace)
    out = run_sandboxed([*PYTHON, "-m", "unittest", "-q", "tests.test_roman"], str(workspace))
    assert out.startswith("exit status 1") and "AssertionError: 'IIII' != 'IV'" in out
    assert not list(workspace.rglob("__pycache__"))  # -B: nothing written beside the sources


def test_workspaces_of_a_killed_process_are_removed_by_the_next_one(tmp_path, monkeypatch):
    monkeypatch.setattr(coder_graph.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(coder_graph, "_workspaces", None)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{coder_graph.WORKSPACES_PREFIX}{dead.pid}-abcd"
    (stale / "run").mkdir(parents=True)
    alive = tmp_path / f"{coder_graph.WORKSPACES_PREFIX}{os.getppid()}-efgh"
    alive.mkdir()
    mine = coder_graph.workspaces()
    assert mine.parent == tmp_path and mine.exists()
    assert not stale.exists() and alive.exists()


class BrokenModel(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "broken"

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        raise RuntimeError("the model is down")


def test_a_failed_run_removes_its_workspace(tmp_path, monkeypatch):
    monkeypatch.setattr(coder_graph.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(coder_graph, "_workspaces", None)
    graph = coder_graph.build(BrokenModel())
    with pytest.raises(RuntimeError, match="the model is down"):
        asyncio.run(graph.ainvoke(user_input("fix it")))
    assert list(coder_graph.workspaces().iterdir()) == []


def test_a_planted_key_never_reaches_the_trace_even_with_content_capture(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the workload puts the coder's workspaces
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    tool_turn(20, ("run_python", {"code": "import os; print(sorted(os.environ.items()))"})),
                    tool_turn(20, ("run_python", {"code": f"print('{PLANTED}')"})),  # the model echoes the key
                    answer_turn(f"done; the key was {PLANTED}", 20),
                ]
            }
        )
    )
    out = tmp_path / "runs"
    result = cli("run", "--agent", "coder", "--tasks", "1", "--model", "instant", "--script", str(script),
                 "--no-sampler", "--out", str(out))  # fmt: skip
    assert result.code == 0, result.out + result.err
    run_dir = run_dir_of(result)
    assert PLANTED not in (run_dir / "spans.jsonl").read_text()
    results = [s.attributes["gen_ai.tool.call.result"] for s in spans_of(run_dir) if s.operation == "execute_tool"]
    assert len(results) == 2 and "OPENAI_API_KEY" not in results[0] and "'HOME'" in results[0]
    assert REDACTED in results[1]  # the echoed key was captured, and replaced
    jaeger = tmp_path / "run.jaeger.json"
    assert cli("export", str(run_dir), "--jaeger-json", str(jaeger)).code == 0
    assert PLANTED not in jaeger.read_text()
    assert not list(tmp_path.glob(f"{coder_graph.WORKSPACES_PREFIX}*"))  # the workspace went with the workload
