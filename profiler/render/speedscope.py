"""py-spy's samples as a speedscope file (https://www.speedscope.app/file-format-schema.json).

One "sampled" profile per process and thread, weights in seconds (samples ÷ rate). Idle
samples are dropped as in the report, so the profiles show where CPU went.
"""

from __future__ import annotations

import re
from typing import Any

from profiler import __version__
from profiler.analysis.flame import process_label
from profiler.analysis.stacks import classify
from profiler.errors import UsageError
from profiler.store.session import Session

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
_FRAME = re.compile(r"^(.*) \((.*):(\d+)\)$")


def _frame(text: str) -> dict[str, Any]:
    match = _FRAME.match(text)
    if not match:
        return {"name": text}
    return {"name": match.group(1), "file": match.group(2), "line": int(match.group(3))}


def speedscope_profile(session: Session) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    profiles: dict[tuple[int, int], dict[str, Any]] = {}
    for sample in session.samples:
        if classify(sample.frames) is None:
            continue
        profile = profiles.get((sample.pid, sample.thread))
        if profile is None:
            profile = profiles[(sample.pid, sample.thread)] = {
                "type": "sampled",
                "name": f"{process_label(sample.pid, sample.command)} · thread {sample.thread}",
                "unit": "seconds",
                "startValue": 0,
                "endValue": 0.0,
                "samples": [],
                "weights": [],
            }
        stack = []
        for text in sample.frames:
            if text not in index:
                index[text] = len(frames)
                frames.append(_frame(text))
            stack.append(index[text])
        weight = sample.count / session.sample_rate
        profile["samples"].append(stack)
        profile["weights"].append(weight)
        profile["endValue"] += weight
    ordered = sorted(profiles.values(), key=lambda p: -float(p["endValue"]))
    if not ordered:
        raise UsageError(
            f"{session.path} has no CPU stack samples ({session.why_no_samples or 'py-spy saw no CPU'}): "
            "nothing to write for --format speedscope; re-run without --no-sampler (py-spy needs ptrace)"
        )
    return {
        "$schema": SCHEMA_URL,
        "name": f"orchestrace run {session.run_id} (py-spy, {session.sample_rate} Hz, idle samples dropped)",
        "exporter": f"orchestrace {__version__}",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": ordered,
    }
