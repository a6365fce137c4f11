"""orchestrace: agentic orchestration workload profiler.

Python API: `profile()` (a context manager, sync or async), `profile_graph()`,
`aprofile_graph()` and `profile_fleet()` (on Ray); see `profiler.api`. Their `report` is a
`Report` (`profiler.store.report`). They load lazily, so the CLI and the model server do not
import LangChain.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Report", "__version__", "aprofile_graph", "profile", "profile_fleet", "profile_graph"]


def __getattr__(name: str) -> Any:
    if name in ("profile", "profile_graph", "aprofile_graph", "profile_fleet"):
        from profiler import api

        return getattr(api, name)
    if name == "Report":
        from profiler.store.report import Report

        return Report
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
