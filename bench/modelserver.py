"""Benchmark of the simulated model server: throughput on `instant`, timing error against a preset.

    python bench/modelserver.py [--seconds 5] [--streams 1,64]

Prints (1) requests/s the server sustains with the `instant` preset (non-streaming and streaming)
and (2) the timing error at 1 and 64 concurrent streams on h100-llama3.1-8b: actual minus expected
TTFT and total time, p50/p95, where "expected" is the pure timing model fed the client's own send
times. The server is a separate single-threaded process; the load generator runs here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.accelerators.presets import load_preset
from profiler.accelerators.timing import Accelerator
from profiler.modelserver.trajectory import prompt_tokens
from profiler.runner.processes import ServerProcess, SpanWriter
from profiler.store.spans import read_span_file

OUTPUT_TOKENS = 64


def body(model: str, stream: bool) -> dict:
    return {
        "model": model,
        "stream": stream,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "x" * 400}],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def throughput(url: str, model: str, stream: bool, seconds: float, clients: int) -> tuple[float, int]:
    done = 0
    deadline = time.perf_counter() + seconds
    payload = body(model, stream)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.post(url, json=payload) as response:
                    await response.read()
                    assert response.status == 200
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - started), done


async def timing(
    url: str, model: str, streams: int, requests_per_stream: int, staggered: bool
) -> list[tuple[float, float, float]]:
    """(send, first chunk, last chunk) on the client's monotonic clock, per request after a warm-up.

    Lockstep: every stream sends its next request as soon as the last ended, so requests arrive
    in bursts of `streams`. Staggered: random start offsets and think times (mean 50 ms) spread
    the arrivals while keeping about `streams` requests in flight.
    """
    samples: list[tuple[float, float, float]] = []
    payload = body(model, True)
    rng = random.Random(1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams)) as session:

        async def warm_up() -> None:
            async with session.post(url, json=payload) as response:
                await response.read()

        await asyncio.gather(*(warm_up() for _ in range(streams)))  # open every connection first

        async def worker() -> None:
            if staggered:
                await asyncio.sleep(rng.uniform(0, 0.35))
            for _ in range(requests_per_stream):
                if staggered:
                    await asyncio.sleep(rng.expovariate(1 / 0.05))
                sent = time.monotonic()
                first = None
                async with session.post(url, json=payload) as response:
                    async for _data in response.content.iter_any():  # raw bytes: keep the client cheap
                        first = first or time.monotonic()
                samples.append((sent, first or sent, time.monotonic()))

        await asyncio.gather(*(worker() for _ in range(streams)))
    return samples


def expected(preset_name: str, samples: list[tuple[float, float, float]], n_prompt: int) -> list[tuple[float, float]]:
    """Model TTFT and total for each request, given the actual send times."""
    accelerator = Accelerator(load_preset(preset_name))
    order = sorted(range(len(samples)), key=lambda i: samples[i][0])
    records = {}
    for i in order:
        accelerator.advance(samples[i][0])
        records[i], _ = accelerator.submit(str(i), n_prompt, OUTPUT_TOKENS, samples[i][0])
    while (at := accelerator.next_event_at()) is not None:
        accelerator.advance(at)
    return [(records[i].prefill_end - samples[i][0], records[i].done - samples[i][0]) for i in range(len(samples))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--streams", default="1,64")
    parser.add_argument("--requests", type=int, default=0, help="requests per stream (default: enough for ~5 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps({"turns": [{"content": "bench", "output_tokens": OUTPUT_TOKENS}]}))
        server = ServerProcess("instant", Path(tmp), "bench", None, script)
        server.wait_ready()
        try:
            url = server.base_url + "/chat/completions"
            print(f"## throughput, preset instant, {OUTPUT_TOKENS}-token replies (streamed one chunk per token)")
            for stream in (False, True):
                for clients in (8, 32):
                    rate, count = uvloop.run(throughput(url, "instant", stream, args.seconds, clients))
                    print(f"stream={stream!s:5} clients={clients:3}  {rate:8.1f} requests/s  ({count} requests)")
        finally:
            server.stop()

        preset = "h100-llama3.1-8b"
        model = load_preset(preset).model
        n_prompt = prompt_tokens(body(model, True))
        print(f"\n## timing error vs preset {preset} (ms), streaming {OUTPUT_TOKENS} tokens")
        print("client: actual - expected as the load generator sees it (includes its own HTTP/parsing delay);")
        print("server: how late the server wrote the first chunk / the last byte versus its timing model")
        print(
            f"{'streams':>14} {'requests':>8} {'TTFT p50':>9} {'TTFT p95':>9} {'total p50':>9} {'total p95':>9}"
            f" {'server first p95':>16} {'server last p95':>15} {'expected total p50 s':>20}"
        )
        for staggered in (False, True):
            for streams in (int(s) for s in args.streams.split(",")):
                per_stream = args.requests or max(3, int(args.seconds / 0.35))
                run_dir = Path(tmp) / f"timing-{streams}-{staggered}"
                run_dir.mkdir()
                writer = SpanWriter(run_dir / "spans.jsonl", 1, run_dir / "writer.log")
                server = ServerProcess(preset, run_dir, "bench", None, script, writer.fds[0])
                writer.release_parent_ends()
                server.wait_ready()
                try:
                    samples = uvloop.run(
                        timing(server.base_url + "/chat/completions", model, streams, per_stream, staggered)
                    )
                finally:
                    server.stop()
                    writer.wait(30)
                server_spans = [sp.attributes for sp in read_span_file(run_dir / "spans.jsonl").spans]
                late_first = [a["orchestrace.server.first_token_lateness_s"] * 1000 for a in server_spans[streams:]]
                late_last = [a["orchestrace.server.lateness_s"] * 1000 for a in server_spans[streams:]]
                model_times = expected(preset, samples, n_prompt)
                ttft = [(s[1] - s[0] - m[0]) * 1000 for s, m in zip(samples, model_times, strict=True)]
                total = [(s[2] - s[0] - m[1]) * 1000 for s, m in zip(samples, model_times, strict=True)]
                label = f"{streams} {'staggered' if staggered else 'lockstep'}"
                print(
                    f"{label:>14} {len(samples):8d} {statistics.median(ttft):9.2f} {percentile(ttft, 0.95):9.2f} "
                    f"{statistics.median(total):9.2f} {percentile(total, 0.95):9.2f} "
                    f"{percentile(late_first, 0.95):16.2f} {percentile(late_last, 0.95):15.2f} "
                    f"{statistics.median(m[1] for m in model_times):20.3f}"
                )
    print(json.dumps({"note": "server: one process, one event loop (uvloop); load generator: this process"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
