"""Profile a hand-written LangGraph agent with orchestrace's Python API.

    python agents/examples/profile_my_graph.py                       # offline: simulated model server
    python agents/examples/profile_my_graph.py --endpoint http://localhost:11434/v1 --model llama3.1  # Ollama

Without --endpoint it starts `orchestrace serve-model` (simulated timing, real HTTP) and talks
to it with a plain `ChatOpenAI`, exactly as it would talk to vLLM, Ollama or OpenAI. It then
profiles the graph twice: once with `profile_graph()` (inputs at a concurrency), once with the
`profile()` context manager around your own calls, and prints where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import SecretStr

from profiler import aprofile_graph, profile


@tool
def word_frequencies(text: str, top: int = 5) -> str:
    """The most frequent words of a text."""
    counts: dict[str, int] = {}
    for word in text.lower().split():
        counts[word.strip(".,;:!?")] = counts.get(word.strip(".,;:!?"), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return ", ".join(f"{w} {n}" for w, n in ranked)


@tool
def primes_below(limit: int) -> int:
    """How many primes are below `limit` (a small CPU-bound tool)."""
    limit = max(2, min(int(limit), 2_000_000))
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, limit, i)))
    return sum(sieve)


def build_graph(model: Any) -> Any:
    """A tool-calling agent: model → tools → model … until the model answers."""
    tools = [word_frequencies, primes_below]
    bound = model.bind_tools(tools)

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name="my-agent")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulated_server(preset: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """`orchestrace serve-model` on a free loopback port; returns the process, base URL, model id."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "profiler", "serve-model", "--preset", preset, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1) as response:
                return server, url, str(json.load(response)["data"][0]["id"])
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the simulated model server did not start within 30 s")


async def profile_both_ways(graph: Any, inputs: list[dict[str, Any]], out: str) -> None:
    """One event loop for both: an async HTTP client belongs to the loop that first used it."""
    # 1. the library form of `orchestrace run --graph`: inputs at a concurrency
    session, results = await aprofile_graph(graph, inputs, concurrency=3, out=out, name="my-agent")
    failed = sum(isinstance(r, Exception) for r in results)
    print(f"aprofile_graph: {len(results)} agent run{'s' * (len(results) != 1)} ({failed} failed) -> {session.run_dir}")

    # 2. the context manager around your own code (`with profile(...)` in sync code)
    async with profile(out=out, name="my-agent-ctx") as run:
        await graph.ainvoke({"messages": [HumanMessage("How many primes are below 300000?")]})
    share = run.report.cpu_share_of_latency if run.report else None
    print(f"profile(): 1 agent run -> {run.run_dir}; CPU share of latency {share:.1%}")
    print(f"next: orchestrace report {session.run_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="an OpenAI-compatible base URL (default: start the simulated server)")
    parser.add_argument("--model", help="model id at --endpoint")
    parser.add_argument("--preset", default="h100-llama3.1-8b", help="simulated preset (without --endpoint)")
    parser.add_argument("--out", default="traces", help="where run directories go")
    parser.add_argument("--runs", type=int, default=6, help="agent runs for profile_graph()")
    args = parser.parse_args()

    server = None
    if args.endpoint:
        if not args.model:
            parser.error("--endpoint needs --model")
        base_url, model_id = args.endpoint, args.model
    else:
        server, base_url, model_id = start_simulated_server(args.preset)
    api_key = SecretStr(os.environ.get("OPENAI_API_KEY", "not-needed"))
    try:
        model = ChatOpenAI(model=model_id, base_url=base_url, api_key=api_key, streaming=True, stream_usage=True)
        graph = build_graph(model)
        questions = [
            f"How many primes are below {n}? Also list the top words of: the cat saw the other cat."
            for n in range(100_000, 100_000 + 50_000 * args.runs, 50_000)
        ]
        inputs = [{"messages": [HumanMessage(q)]} for q in questions]

        asyncio.run(profile_both_ways(graph, inputs, args.out))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
