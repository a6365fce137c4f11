"""Supervisor task set: each question fans out to three researcher sub-agents."""

from __future__ import annotations

from agents.base import Task, answer_turn, tool_turn, user_input

WORKER_PREFIX = "Research task: "

# (id, question, [(topic, keyword query, similarity query, document to read)] * 3)
_TASKS = [
    (
        "concurrency-options",
        "Compare the standard library's options for concurrent work.",
        [
            ("threads and locks", "thread lock acquire", "threads sharing data safely", "threading.Thread"),
            (
                "process pools",
                "process pool executor",
                "run functions in worker processes",
                "concurrent.futures.process",
            ),
            ("asyncio tasks", "asyncio task gather", "cooperative concurrency with coroutines", "asyncio.tasks"),
        ],
    ),
    (
        "data-formats",
        "Which data interchange formats does Python support out of the box?",
        [
            ("JSON", "json dumps loads", "serialize objects as JSON", "json.dumps"),
            ("CSV", "csv reader writer dialect", "read comma separated files", "csv"),
            ("XML", "xml element tree", "parse XML documents", "xml.etree.ElementTree"),
        ],
    ),
    (
        "network-clients",
        "Survey the standard library's network client modules.",
        [
            ("HTTP clients", "http client connection request", "send HTTP requests", "http.client"),
            ("mail protocols", "smtp imap mail", "send and fetch email", "smtplib.SMTP"),
            ("sockets", "socket connect send recv", "low level network connections", "socket"),
        ],
    ),
    (
        "text-processing",
        "What tools exist for processing text?",
        [
            ("regular expressions", "regex compile match", "pattern matching in strings", "re.compile"),
            ("text wrapping", "textwrap wrap fill dedent", "format paragraphs", "textwrap.wrap"),
            ("diffing", "difflib diff ratio", "compare sequences", "difflib.SequenceMatcher"),
        ],
    ),
    (
        "numeric-types",
        "Explain Python's numeric types beyond float.",
        [
            ("decimal", "decimal context precision", "exact decimal arithmetic", "decimal.Decimal"),
            ("fractions", "fraction numerator denominator", "rational numbers", "fractions.Fraction"),
            ("statistics", "mean median variance", "descriptive statistics", "statistics.median"),
        ],
    ),
    (
        "file-handling",
        "How does the standard library help with files and directories?",
        [
            ("paths", "pathlib path glob", "object oriented file paths", "pathlib.PurePath"),
            ("copying", "shutil copy move rmtree", "copy directory trees", "shutil.copytree"),
            ("temporary files", "tempfile mkstemp", "temporary files and directories", "tempfile.TemporaryDirectory"),
        ],
    ),
    (
        "testing-tools",
        "What does the standard library offer for testing?",
        [
            ("unit tests", "testcase assert setup", "write unit tests", "unittest.case.TestCase"),
            ("mocking", "mock patch magic", "replace objects in tests", "unittest.mock.patch"),
            ("doctests", "doctest examples docstring", "test examples in documentation", "doctest.testmod"),
        ],
    ),
    (
        "introspection",
        "How can a program inspect itself at runtime?",
        [
            ("inspect module", "inspect signature members", "examine live objects", "inspect.signature"),
            ("bytecode", "dis disassemble bytecode", "look at compiled code", "dis.dis"),
            ("syntax trees", "ast parse node visitor", "analyse source code", "ast.literal_eval"),
        ],
    ),
    (
        "archives-compression",
        "Which archive and compression formats are supported?",
        [
            ("zip", "zipfile extract write", "zip archives", "zipfile.ZipFile"),
            ("tar", "tarfile open extract", "tar archives", "tarfile"),
            ("gzip", "gzip compress open", "gzip compressed files", "gzip.open"),
        ],
    ),
    (
        "dates-times",
        "How should dates, times and time zones be handled?",
        [
            ("datetime", "datetime timedelta arithmetic", "date and time values", "datetime.datetime"),
            ("time zones", "zoneinfo tz database", "IANA time zones", "zoneinfo.ZoneInfo"),
            ("calendars", "calendar month leap", "calendar computations", "calendar.monthrange"),
        ],
    ),
]


def tasks() -> list[Task]:
    out = []
    for task_id, question, topics in _TASKS:
        threads = {}
        for topic, keyword, similar, doc_id in topics:
            threads[WORKER_PREFIX + topic] = {
                "turns": [
                    tool_turn(
                        42, ("search_bm25", {"query": keyword, "k": 4}), ("search_dense", {"query": similar, "k": 4})
                    ),
                    tool_turn(20, ("read_document", {"doc_id": doc_id})),
                    answer_turn(f"Findings on {topic} (from {doc_id}): ", 120),
                ]
            }
        script = {
            "turns": [
                tool_turn(60, *[("delegate", {"topic": topic}) for topic, *_ in topics]),
                answer_turn(f"Summary across {', '.join(t[0] for t in topics)}: ", 300),
            ],
            "threads": threads,
        }
        out.append(Task(task_id, user_input(question), script))
    return out
