"""Web research tools: search the site, fetch and parse pages, LexRank summaries (numpy)."""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import quote_plus, urljoin

import httpx
from langchain_core.tools import BaseTool, tool

from agents.textindex import lexrank, split_sentences

MAX_PAGE_CHARS = 3000
_SKIP = {"script", "style", "nav", "header", "footer", "head"}


class PageText(HTMLParser):
    """Visible text of <main> (or the body), plus links and search results."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0
        self.parts: list[str] = []
        self.links: list[str] = []
        self.results: list[tuple[str, str]] = []  # (href, text) of search results
        self._in_result = False
        self._result_href = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _SKIP:
            self.skip_depth += 1
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
            if self._in_result:
                self._result_href = attributes["href"] or ""
        if tag == "li" and attributes.get("class") == "result":
            self._in_result = True
        if tag in ("p", "h1", "h2", "li", "section"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag == "li" and self._in_result:
            self._in_result = False

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        self.parts.append(data)
        if self._in_result and self._result_href and data.strip():
            self.results.append((self._result_href, data.strip()))
            self._result_href = ""

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split(" ")).strip()


def parse(html_text: str) -> PageText:
    parser = PageText()
    parser.feed(html_text)
    parser.close()
    return parser


class Site:
    """The loopback documentation site, started on first use, stopped at exit."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agents.web.site", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the web agent's site server did not start")
        self.base_url = f"http://127.0.0.1:{json.loads(line)['port']}"
        self.client = httpx.Client(timeout=10.0)
        atexit.register(self.stop)

    def get(self, url: str) -> str:
        response = self.client.get(urljoin(self.base_url, url))
        response.raise_for_status()
        return response.text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)


def make_tools(site: Site) -> list[BaseTool]:
    @tool
    def web_search(query: str) -> str:
        """Search the documentation website; returns result titles and URLs."""
        page = parse(site.get(f"/search?q={quote_plus(query)}"))
        return "\n".join(f"{title} -> {href}" for href, title in page.results) or "no results"

    @tool
    def fetch_page(url: str) -> str:
        """Fetch a page of the documentation website and return its readable text."""
        page = parse(site.get(url))
        return f"{page.text[:MAX_PAGE_CHARS]}\n[{len(page.text)} characters, {len(page.links)} links]"

    @tool
    def summarize_page(url: str, sentences: int = 5) -> str:
        """Fetch a page and summarise it extractively (LexRank over its sentences)."""
        found = split_sentences(parse(site.get(url)).text)
        chosen = lexrank(found[:400], max(1, min(sentences, 12)))
        return " ".join(found[i] for i in chosen) or "nothing to summarise"

    return [web_search, fetch_page, summarize_page]
