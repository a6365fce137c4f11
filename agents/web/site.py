"""A small documentation website on loopback, generated from the stdlib docstring corpus.

It stands in for "the web" of the published web-agent workloads: real HTTP, real HTML with
navigation, scripts and styles around the content, and a server-side search page. It runs
in its own process so its CPU is not the agent's. `python -m agents.web.site --port 0`
prints `{"port": N}` when it is listening.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import sys
import threading
import time
from collections import defaultdict
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

from agents.corpus import Document, load_corpus
from agents.textindex import TextIndex

_STYLE = "body{font-family:sans-serif;margin:0}nav{width:240px;float:left}main{margin-left:260px}" * 20
_SCRIPT = "window.__analytics={" + ",".join(f'"k{i}":{i}' for i in range(300)) + "};"


@cache
def _site() -> tuple[dict[str, list[Document]], TextIndex, list[str]]:
    pages: dict[str, list[Document]] = defaultdict(list)
    for doc in load_corpus():
        pages[doc.module].append(doc)
    modules = sorted(pages)
    index = TextIndex([" ".join(f"{d.id} {d.text}" for d in pages[m]) for m in modules])
    return pages, index, modules


def _frame(title: str, body: str, modules: list[str]) -> str:
    nav = "".join(f'<li><a href="/docs/{quote(m)}.html">{html.escape(m)}</a></li>' for m in modules)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<header><a href='/'>PyDocs mirror</a> <form action='/search'><input name='q'></form></header>"
        f"<nav><ul>{nav}</ul></nav><main>{body}</main>"
        f"<footer>Generated from CPython docstrings. <script>console.log('ok')</script></footer></body></html>"
    )


def module_page(module: str) -> str | None:
    pages, _, modules = _site()
    docs = pages.get(module)
    if not docs:
        return None
    sections = []
    for doc in docs:
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in doc.text.split("\n\n") if p.strip())
        sections.append(
            f"<section id='{html.escape(doc.id)}'><h2>{html.escape(doc.signature)}</h2>"
            f"<div class='kind'>{doc.kind}</div>{paragraphs}</section>"
        )
    toc = "".join(f"<li><a href='#{html.escape(d.id)}'>{html.escape(d.id)}</a></li>" for d in docs)
    return _frame(module, f"<h1>{html.escape(module)}</h1><ul class='toc'>{toc}</ul>{''.join(sections)}", modules)


def search_page(query: str) -> str:
    pages, index, modules = _site()
    items = []
    for i, score in index.bm25(query, 10):
        module = modules[i]
        snippet = html.escape(pages[module][0].text[:200])
        items.append(
            f"<li class='result'><a href='/docs/{quote(module)}.html'>{html.escape(module)}</a>"
            f"<p class='snippet'>{snippet}</p><span class='score'>{score:.2f}</span></li>"
        )
    return _frame(f"search: {query}", f"<h1>Results for {html.escape(query)}</h1><ol>{''.join(items)}</ol>", modules)


def index_page() -> str:
    _, _, modules = _site()
    return _frame("PyDocs mirror", "<h1>Modules</h1>", modules)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlparse(self.path)
        body: str | None
        if url.path == "/":
            body = index_page()
        elif url.path == "/search":
            body = search_page(parse_qs(url.query).get("q", [""])[0])
        elif url.path.startswith("/docs/") and url.path.endswith(".html"):
            body = module_page(url.path[len("/docs/") : -len(".html")])
        else:
            body = None
        status = 200 if body is not None else 404
        data = (body or "<h1>404 not found</h1>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _exit_with_parent() -> None:
    """The site belongs to the agent process that started it: leave when it is gone."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.web.site")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    _site()  # build before announcing, so the first request is not slow
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
