"""A document corpus built offline from the docstrings of the Python standard library.

Parsed with `ast` (nothing is imported), so it is the same on every machine with the same
Python version. Building takes a few seconds, so it is cached as JSON under the user's
cache directory.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import sysconfig
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODULES = """
argparse ast asyncio.base_events asyncio.events asyncio.locks asyncio.queues asyncio.streams
asyncio.subprocess asyncio.tasks asyncio.taskgroups asyncio.timeouts asyncio.runners base64 bisect
calendar cmd code codecs collections concurrent.futures._base concurrent.futures.thread
concurrent.futures.process configparser contextlib copy csv dataclasses datetime _pydecimal difflib
dis doctest email.message email.parser email.utils email.headerregistry enum filecmp fnmatch
fractions ftplib functools getopt gettext glob graphlib gzip hashlib heapq hmac html html.parser
http.client http.cookies http.server imaplib inspect ipaddress json json.decoder json.encoder locale
logging logging.handlers logging.config mailbox mimetypes numbers operator optparse pathlib pickle
pkgutil platform poplib pprint profile pstats queue quopri random re reprlib sched secrets selectors
shelve shlex shutil smtplib socket socketserver ssl statistics string subprocess tarfile tempfile
textwrap threading timeit tokenize tomllib._parser trace traceback types typing unittest.case
unittest.mock unittest.loader urllib.parse urllib.request uuid warnings wave weakref
xml.etree.ElementTree zipfile zoneinfo._zoneinfo
""".split()

MIN_DOC_CHARS = 40


@dataclass(frozen=True)
class Document:
    id: str  # qualified name, e.g. "json.dumps"
    module: str
    kind: str  # module | class | function
    signature: str
    text: str


def _module_file(root: Path, module: str) -> Path | None:
    rel = module.replace(".", "/")
    for candidate in (root / f"{rel}.py", root / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    try:
        return f"{node.name}({ast.unparse(node.args)})"
    except Exception:  # unparse of exotic defaults
        return f"{node.name}(...)"


def public_name(module: str) -> str:
    """`_pydecimal` is `decimal`; private submodules belong to their package."""
    if module == "_pydecimal":
        return "decimal"
    return ".".join(part for part in module.split(".") if not part.startswith("_"))


def _documents_of(module: str, tree: ast.Module) -> list[Document]:
    public = public_name(module)
    docs: list[Document] = []
    doc = ast.get_docstring(tree)
    if doc and len(doc) >= MIN_DOC_CHARS:
        docs.append(Document(public, public, "module", public, doc))

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.startswith("_") and node.name != "__init__":
                    continue
                qual = f"{prefix}.{node.name}"
                text = ast.get_docstring(node)
                if text and len(text) >= MIN_DOC_CHARS:
                    if isinstance(node, ast.ClassDef):
                        docs.append(Document(qual, public, "class", node.name, text))
                    else:
                        docs.append(Document(qual, public, "function", _signature(node), text))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, qual)

    visit(tree.body, public)
    return docs


def _cache_path() -> Path:
    key = hashlib.sha1(("\n".join(MODULES) + platform.python_version()).encode()).hexdigest()[:12]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orchestrace"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        base = Path(tempfile.gettempdir()) / "orchestrace-cache"
        base.mkdir(parents=True, exist_ok=True)
    return base / f"stdlib-corpus-{platform.python_version()}-{key}.json"


def build_corpus() -> list[Document]:
    root = Path(sysconfig.get_paths()["stdlib"])
    docs: list[Document] = []
    for module in MODULES:
        path = _module_file(root, module)
        if path is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        docs.extend(_documents_of(module, tree))
    unique: dict[str, Document] = {}
    for d in docs:
        unique.setdefault(d.id, d)
    return list(unique.values())


@cache
def load_corpus() -> tuple[Document, ...]:
    """The corpus, from the cache when present (building and caching it otherwise)."""
    path = _cache_path()
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return tuple(Document(**row) for row in rows)
    except (OSError, ValueError, TypeError):
        pass
    docs = build_corpus()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps([d.__dict__ for d in docs]), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
    return tuple(docs)
