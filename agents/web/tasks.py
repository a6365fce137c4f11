"""Web research task set: each task searches the site, reads pages and summarises one."""

from __future__ import annotations

from agents.base import Task, answer_turn, tool_turn, user_input

# (id, question, search query, pages to fetch, page to summarise, answer tokens)
_TASKS = [
    (
        "asyncio-tasks",
        "Research how asyncio schedules and cancels tasks.",
        "asyncio task cancel gather",
        ["/docs/asyncio.tasks.html", "/docs/asyncio.taskgroups.html"],
        "/docs/asyncio.tasks.html",
        260,
    ),
    (
        "http-server",
        "Find out how to serve files over HTTP with the standard library.",
        "http server request handler",
        ["/docs/http.server.html", "/docs/socketserver.html"],
        "/docs/http.server.html",
        220,
    ),
    (
        "email-parsing",
        "How are email messages parsed and their headers accessed?",
        "email message parser headers",
        ["/docs/email.message.html", "/docs/email.parser.html"],
        "/docs/email.message.html",
        240,
    ),
    (
        "zip-archives",
        "Summarise how to read and write zip and tar archives.",
        "zip archive tar extract",
        ["/docs/zipfile.html", "/docs/tarfile.html"],
        "/docs/zipfile.html",
        230,
    ),
    (
        "logging-setup",
        "What is the recommended way to configure logging handlers?",
        "logging handler configuration",
        ["/docs/logging.html", "/docs/logging.config.html"],
        "/docs/logging.config.html",
        250,
    ),
    (
        "unittest-mock",
        "Explain how unittest.mock patches objects during tests.",
        "mock patch test",
        ["/docs/unittest.mock.html", "/docs/unittest.case.html"],
        "/docs/unittest.mock.html",
        270,
    ),
    (
        "xml-parsing",
        "How do I parse and search XML documents?",
        "xml element tree parse",
        ["/docs/xml.etree.ElementTree.html", "/docs/html.parser.html"],
        "/docs/xml.etree.ElementTree.html",
        210,
    ),
    (
        "ssl-contexts",
        "What does an SSL context configure for a client connection?",
        "ssl context certificate",
        ["/docs/ssl.html", "/docs/socket.html"],
        "/docs/ssl.html",
        240,
    ),
    (
        "typing-generics",
        "Research generics and protocols in the typing module.",
        "typing generic protocol",
        ["/docs/typing.html", "/docs/types.html"],
        "/docs/typing.html",
        280,
    ),
    (
        "concurrency-executors",
        "Compare thread and process pool executors.",
        "executor thread process pool",
        ["/docs/concurrent.futures.thread.html", "/docs/concurrent.futures.process.html"],
        "/docs/concurrent.futures.process.html",
        250,
    ),
    (
        "dataclasses-fields",
        "How do dataclasses generate methods and handle field defaults?",
        "dataclass field default",
        ["/docs/dataclasses.html", "/docs/enum.html"],
        "/docs/dataclasses.html",
        220,
    ),
]


def tasks() -> list[Task]:
    out = []
    for task_id, question, query, pages, summary_page, answer_tokens in _TASKS:
        script = {
            "turns": [
                tool_turn(30, ("web_search", {"query": query})),
                tool_turn(44, *[("fetch_page", {"url": url}) for url in pages]),
                tool_turn(34, ("summarize_page", {"url": summary_page, "sentences": 6})),
                answer_turn(f"From {', '.join(pages)}: ", answer_tokens),
            ]
        }
        out.append(Task(task_id, user_input(question), script))
    return out
