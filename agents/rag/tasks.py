"""RAG task set: questions about the standard library, each with the trajectory it takes."""

from __future__ import annotations

from agents.base import Task, answer_turn, tool_turn, user_input

# (id, question, keyword query, similarity query, documents to read, answer tokens)
_QUESTIONS = [
    (
        "json-sorted",
        "How do I serialize a Python object to a JSON string with sorted keys?",
        "json dumps sort_keys serialize",
        "serialize object to JSON formatted string",
        ["json.dumps", "json.encoder.JSONEncoder"],
        210,
    ),
    (
        "argparse-subcommands",
        "How do I build a command-line parser with subcommands?",
        "argparse subparsers command line",
        "parse command line options and sub-commands",
        ["argparse.ArgumentParser", "argparse.Action"],
        260,
    ),
    (
        "path-glob",
        "How can I find all files matching a pattern under a directory?",
        "pathlib glob pattern files",
        "iterate over files matching a wildcard pattern",
        ["pathlib.Path.glob", "glob.glob"],
        180,
    ),
    (
        "heap-topk",
        "What is the most efficient way to get the n largest items from a list?",
        "heapq nlargest heap",
        "find the largest elements of an iterable",
        ["heapq.nlargest", "heapq.heappush"],
        190,
    ),
    (
        "lru-cache",
        "How does functools.lru_cache decide what to evict, and how do I inspect it?",
        "lru_cache cache_info maxsize",
        "memoize function results with a bounded cache",
        ["functools.lru_cache", "functools.partial"],
        240,
    ),
    (
        "subprocess-timeout",
        "How do I run a command with a timeout and capture its output?",
        "subprocess run timeout capture_output",
        "run external program and collect stdout",
        ["subprocess.run", "subprocess.Popen"],
        230,
    ),
    (
        "decimal-rounding",
        "How do I round money amounts correctly in Python?",
        "decimal quantize rounding",
        "exact decimal arithmetic for currency",
        ["decimal.Decimal", "fractions.Fraction"],
        250,
    ),
    (
        "tempdir-cleanup",
        "How do I create a temporary directory that is cleaned up automatically?",
        "tempfile TemporaryDirectory cleanup",
        "temporary directory removed on exit",
        ["tempfile.TemporaryDirectory", "shutil.copytree"],
        170,
    ),
    (
        "url-parse",
        "How do I split a URL into its components and quote a path safely?",
        "urlparse quote url components",
        "parse URL into scheme host path",
        ["urllib.parse.urlparse", "urllib.parse.quote"],
        200,
    ),
    (
        "median-stdev",
        "How do I compute the median and standard deviation of a sample?",
        "statistics median stdev sample",
        "central tendency and spread of data",
        ["statistics.median", "statistics.stdev"],
        180,
    ),
    (
        "text-diff",
        "How can I produce a unified diff between two versions of a text?",
        "difflib unified_diff SequenceMatcher",
        "compare two sequences of lines",
        ["difflib.unified_diff", "difflib.SequenceMatcher"],
        220,
    ),
    (
        "rotating-logs",
        "How do I write logs to a file that rotates when it gets large?",
        "RotatingFileHandler maxBytes backupCount",
        "log file rotation by size",
        ["logging.handlers.RotatingFileHandler", "logging.basicConfig"],
        230,
    ),
]


def tasks() -> list[Task]:
    out = []
    for task_id, question, keyword, similar, read, answer_tokens in _QUESTIONS:
        script = {
            "turns": [
                tool_turn(
                    48, ("search_bm25", {"query": keyword, "k": 5}), ("search_dense", {"query": similar, "k": 5})
                ),
                tool_turn(36, *[("read_document", {"doc_id": d}) for d in read]),
                tool_turn(52, ("assemble_answer", {"question": question, "doc_ids": read})),
                answer_turn(f"Based on the documentation of {' and '.join(read)}: ", answer_tokens),
            ]
        }
        out.append(Task(task_id, user_input(question), script))
    return out
