"""Without token usage from the endpoint, the recorded estimates are used everywhere, marked."""

import io
import json

import pytest
from rich.console import Console

from profiler.accelerators.presets import load_preset
from profiler.analysis.report import build_report
from profiler.analysis.traces import agent_runs
from profiler.render.sizing import render_sizing
from profiler.render.text import render
from profiler.sizing.headline import report_and_headline
from profiler.sizing.model import Targets, size
from profiler.store.session import load_session
from tests.conftest import edited_example

USAGE = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")


def _without_usage(spans: list[dict]) -> list[dict]:
    for span in spans:  # neither the client nor the server span says how many tokens
        span["attributes"] = [a for a in span.get("attributes", []) if a["key"] not in USAGE]
    return spans


def _no_usage_run(tmp_path, with_span_ids: bool = True):
    """The example run as a client that asks for no usage records it: estimates in trajectories.jsonl."""
    run = edited_example(tmp_path / "run", _without_usage)
    lines = []
    for agent_run in agent_runs(load_session(run).span_list()):
        chats = sorted((s for s in agent_run.spans if s.operation == "chat"), key=lambda s: s.end_ns)
        for turn, chat in enumerate(chats):
            line = {"trace_id": chat.trace_id, "thread": "t", "turn": turn, "tools": [], "prompt_chars": 4000}
            line |= {"span_id": chat.span_id} if with_span_ids else {}
            line |= {"tool_calls": [], "input_tokens": 1000, "output_tokens": 100}
            lines.append(line | {"input_tokens_estimated": True, "output_tokens_estimated": True})
    (run / "trajectories.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return load_session(run)


@pytest.mark.parametrize("with_span_ids", [True, False])  # lines of older runs are matched in the order calls ended
def test_report_uses_the_estimates_and_marks_them(tmp_path, with_span_ids):
    session = _no_usage_run(tmp_path, with_span_ids)
    report = build_report(session)
    inference = report.inference
    assert (inference.input_tokens, inference.output_tokens) == (12 * 1000, 12 * 100)
    assert inference.per_run.input_tokens == 4000 and inference.tokens_estimated_calls == 12
    assert "no token usage for 12 of 12 calls" in inference.tokens_note
    assert "ChatOpenAI(stream_usage=True)" in inference.tokens_note
    console = Console(file=io.StringIO(), width=100)
    console.print(render(*report_and_headline(session)))
    text = " ".join(console.file.getvalue().split())
    assert "tokens in 12,000 / out 1,200 (estimated)" in text


def test_sizing_uses_the_estimates_and_says_so(tmp_path):
    session = _no_usage_run(tmp_path)
    preset = load_preset("h100-llama3.1-8b")
    result = size(session, [preset], Targets(), preset)
    demand, row = result["demand"], result["presets"][0]
    assert (demand["input_tokens"], demand["output_tokens"], demand["llm_calls"]) == (4000, 400, 4)
    assert demand["tokens_estimated"] and demand["path_input_tokens"] == 4000
    assert row["d_acc_s"] == pytest.approx(400 / preset.aggregate_tok_s + 4000 / preset.prefill_tok_s)
    assert row["cores_per_accelerator"] is not None and row["accelerators"] > 0
    # model time at the preset comes from the same tokens: not just TTFTs
    assert row["t_model_s"] == pytest.approx(
        4 * preset.ttft_s + 4000 / preset.prefill_tok_s + 396 / preset.decode_tok_s
    )
    assert any("no token usage reported" in e and "stream_usage=True" in e for e in result["estimates"])
    console = Console(file=io.StringIO(), width=100)
    console.print(render_sizing(result))
    assert "no token usage reported" in console.file.getvalue()
