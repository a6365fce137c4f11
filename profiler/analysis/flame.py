"""py-spy's stack samples merged into one call tree (process → thread → frames), for flame graphs.

Idle samples are dropped as in the report's stack breakdown, so the tree's total is the
sampled CPU. Frames merge by function and file (line numbers dropped), as flame graphs do.
Each node remembers how many of its samples fell in each CPU category, for colouring.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field

from profiler.analysis.stacks import classify, in_window, of_target, target_pid
from profiler.store.session import StackSample

_LINE = re.compile(r":\d+\)$")


@dataclass
class FlameNode:
    name: str
    count: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    children: dict[str, FlameNode] = field(default_factory=dict)

    def child(self, name: str) -> FlameNode:
        if name not in self.children:
            self.children[name] = FlameNode(name)
        return self.children[name]

    @property
    def category(self) -> str:
        """The category most of this node's samples fall in."""
        return self.categories.most_common(1)[0][0] if self.categories else "other"


def process_label(pid: int, command: str) -> str:
    words = command.split()
    program = " ".join([os.path.basename(words[0]), *words[1:3]]) if words else "?"
    return f"pid {pid}: {program}"


def frame_key(frame: str) -> str:
    return _LINE.sub(")", frame)


def flame_tree(samples: list[StackSample], workload_pid: int | None = None) -> FlameNode:
    """The samples of the measured window (start-up and exit left out, as in the report's breakdown)."""
    root = FlameNode("all sampled CPU")
    pid = target_pid(samples, workload_pid)
    for sample in samples:
        if of_target(sample, pid) and not in_window(sample, pid):
            continue
        category = classify(sample.frames)
        if category is None:
            continue
        path = [process_label(sample.pid, sample.command), f"thread {sample.thread}"]
        path += [frame_key(f) for f in sample.frames]
        nodes = [root]
        for name in path:
            nodes.append(nodes[-1].child(name))
        for node in nodes:
            node.count += sample.count
            node.categories[category] += sample.count
    return root
