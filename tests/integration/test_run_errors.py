"""Bad input and failures of `orchestrace run`: one-line errors, non-zero exits, nothing lost."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.runner.processes import ServerProcess
from profiler.store.spans import STATUS_ERROR, read_span_file
from tests.conftest import by_trace, manifest_of, run_dir_of, sigint_as_in_a_terminal, spans_of

pytestmark = pytest.mark.integration
GRAPH = str(Path(__file__).with_name("user_graph.py"))


def one_line_error(result, *fragments):
    assert result.code == 1, (result.code, result.out, result.err)
    lines = [line for line in result.err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.err


@pytest.fixture
def inputs(tmp_path):
    path = tmp_path / "inputs.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"messages": [{"role": "user", "content": text}]})
            for text in ("ok one", "fail-500", "ok two", "fail-429", "slow")
        )
        + "\n"
    )
    return path


def test_unknown_agent_lists_valid_names(cli, tmp_path):
    one_line_error(
        cli("run", "--agent", "chatbot", "--out", str(tmp_path)),
        "unknown agent 'chatbot'",
        "rag, web, coder, supervisor",
    )


def test_unknown_preset_lists_valid_names(cli, tmp_path):
    one_line_error(
        cli("run", "--model", "tpu-v9", "--out", str(tmp_path)),
        "unknown preset 'tpu-v9'",
        "h100-llama3.1-8b",
        "instant",
    )


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no_such_module_xyz:build", "cannot import module 'no_such_module_xyz'"),
        (f"{GRAPH}:missing", "has no attribute 'missing'"),
        (f"{GRAPH}:not_a_graph", "returned int, not a compiled LangGraph graph"),
        (f"{GRAPH}:uncompiled", "uncompiled StateGraph"),
        (f"{GRAPH}:raises", "FACTORY(model) raised RuntimeError: factory broke"),
        ("nocolon", "MODULE:FACTORY"),
    ],
)
def test_bad_graph_gives_a_clear_error(cli, tmp_path, inputs, spec, fragment):
    out = tmp_path / "traces"
    result = cli("run", "--graph", spec, "--inputs", str(inputs), "--model", "instant", "--out", str(out))
    one_line_error(result, fragment)
    assert not list(out.glob("*/manifest.json"))  # nothing ran: no run directory is left behind


def test_a_graph_module_that_fails_to_import_names_its_file_and_line(cli, tmp_path, inputs):
    module = tmp_path / "broken_graph.py"
    module.write_text("from typing import Any\n\nVALUE = undefined_name + 1\n\n\ndef build(model: Any) -> Any: ...\n")
    result = cli("run", "--graph", f"{module}:build", "--inputs", str(inputs), "--out", str(tmp_path / "traces"))
    one_line_error(result, "raised NameError: name 'undefined_name' is not defined", f"(at {module}:3)")
    result = cli("run", "--graph", f"{GRAPH}:raises", "--inputs", str(inputs), "--out", str(tmp_path / "traces"))
    one_line_error(result, "factory broke (at ", "user_graph.py:")
    assert not list((tmp_path / "traces").glob("*/manifest.json"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--graph", f"{GRAPH}:build"], "--graph needs --inputs"),
        (["--concurrency", "0"], "--concurrency must be >= 1"),
        (["--agent", "rag", "--graph", "x:y"], "either --agent or --graph"),
        (["--endpoint", "http://127.0.0.1:9/v1"], "--endpoint needs --model-name"),
        (["--endpoint", "localhost:8000"], "must be an http(s) URL"),
    ],
)
def test_bad_option_combinations(cli, tmp_path, args, fragment):
    one_line_error(cli("run", *args, "--out", str(tmp_path)), fragment)


def test_bad_inputs_file(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n[1, 2\n')
    one_line_error(
        cli("run", "--graph", f"{GRAPH}:build", "--inputs", str(bad), "--out", str(tmp_path)),
        "line 2 is not valid JSON",
    )


def test_unreachable_endpoint_fails_fast(cli, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = cli("run", "--endpoint", f"http://127.0.0.1:{port}/v1", "--model-name", "m", "--out", str(tmp_path))
    one_line_error(result, f"cannot reach --endpoint http://127.0.0.1:{port}/v1")
    assert time.monotonic() - started < 10


def test_model_errors_are_recorded_and_other_runs_go_on(cli, tmp_path, inputs):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "add", "args": {"a": 2, "b": 3}}], "output_tokens": 20},
                    {"content": "five", "output_tokens": 10},
                ],
                "threads": {
                    "fail-500": {"turns": [{"error": {"status": 500, "message": "accelerator on fire"}}]},
                    "fail-429": {
                        "turns": [
                            {"tool_calls": [{"name": "add", "args": {"a": 1, "b": 1}}]},
                            {"error": {"status": 429, "message": "rate limited"}},
                        ]
                    },
                    "slow": {"turns": [{"content": "late", "delay_s": 5}]},
                },
            }
        )
    )
    result = cli(
        "run",
        "--graph",
        f"{GRAPH}:build",
        "--inputs",
        str(inputs),
        "--script",
        str(script),
        "--model",
        "instant",
        "--request-timeout",
        "1",
        "--concurrency",
        "5",
        "--out",
        str(tmp_path),
    )
    assert result.code == 3, result.err + result.out
    run_dir = run_dir_of(result)
    assert "agent runs 5: 2 completed, 3 failed" in " ".join(result.out.split())
    assert manifest_of(run_dir)["status"] == "completed_with_errors"
    failed = {}
    for spans in by_trace(spans_of(run_dir)).values():
        root = next(s for s in spans if s.parent_id is None)
        chats = [s for s in spans if s.operation == "chat" and s.kind == 3 and s.status_code == STATUS_ERROR]
        if root.status_code == STATUS_ERROR:
            assert len(chats) == 1
            failed[chats[0].attributes["error.type"]] = chats[0].attributes.get("http.response.status_code")
        else:
            assert not chats
    assert failed == {"OpenAIAPIError": 500, "OpenAIRateLimitError": 429, "OpenAITimeoutError": None}


def test_real_endpoint_mode_against_a_separate_server(cli, tmp_path):
    server = ServerProcess("instant", tmp_path, "external", None)
    server.wait_ready()
    try:
        env_key = "ORCHESTRACE_TEST_KEY"
        os.environ[env_key] = "sk-secret-value"
        result = cli(
            "run",
            "--agent",
            "rag",
            "--tasks",
            "2",
            "--endpoint",
            server.base_url,
            "--model-name",
            "instant",
            "--api-key-env",
            env_key,
            "--out",
            str(tmp_path / "runs"),
        )
    finally:
        os.environ.pop(env_key, None)
        server.stop()
    assert result.code == 0, result.err
    run_dir = run_dir_of(result)
    manifest = manifest_of(run_dir)
    assert manifest["model"] == {"kind": "endpoint", "endpoint": server.base_url, "model_name": "instant"}
    for path in run_dir.iterdir():
        if path.is_file():
            assert "sk-secret-value" not in path.read_text(errors="replace"), path
    assert len(by_trace(spans_of(run_dir))) == 2


def test_ctrl_c_flushes_spans_and_marks_the_run_interrupted(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "profiler",
            "run",
            "--agent",
            "rag",
            "--tasks",
            "200",
            "--concurrency",
            "2",
            "--model",
            "h100-llama3.1-70b",
            "--out",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_as_in_a_terminal,
        text=True,
    )
    deadline = time.monotonic() + 60
    spans_file = None
    while time.monotonic() < deadline:
        found = list(tmp_path.glob("*/spans.jsonl"))
        if found and any('"invoke_agent rag"' in line for line in found[0].read_text().splitlines()):
            spans_file = found[0]
            break
        time.sleep(0.2)
    assert spans_file is not None, "no agent run finished in time"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    run_dir = spans_file.parent
    assert manifest_of(run_dir)["status"] == "interrupted"
    recorded = read_span_file(spans_file)
    assert recorded.bad_lines == 0
    roots = [s for s in recorded.spans if s.parent_id is None and s.name == "invoke_agent rag"]
    assert any(s.status_code != STATUS_ERROR for s in roots)  # runs finished before Ctrl-C are kept
    interrupted = [s for s in roots if s.status_code == STATUS_ERROR]
    assert interrupted and all(s.status_message == "interrupted" for s in interrupted)
    # cut-off runs are incomplete, not failed, and feed no per-run figure
    report = json.loads((run_dir / "report.json").read_text())
    assert (report["errors"], report["incomplete"]) == (0, len(interrupted))
    assert f"{len(roots) - len(interrupted)} completed, {len(interrupted)} incomplete (interrupted)" in " ".join(
        out.split()
    )
    completed = {s.trace_id for s in roots if s.status_code != STATUS_ERROR}
    calls = [s for s in recorded.spans if s.trace_id in completed and s.operation == "chat" and s.kind == 3]
    assert report["inference"]["per_run"]["calls"] == len(calls) / len(completed)
