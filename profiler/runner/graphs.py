"""Load the graph to profile: a sample agent by name, or the user's `MODULE:FACTORY`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from profiler.errors import UsageError


def split_graph_spec(spec: str) -> tuple[str, str]:
    module, sep, factory = spec.rpartition(":")
    if not sep or not module or not factory.isidentifier():
        raise UsageError(f"--graph must look like MODULE:FACTORY or path/to/file.py:FACTORY, got {spec!r}")
    return module, factory


def where(exc: BaseException) -> str:
    """' (at file:line)' of the user's code that raised: the deepest frame outside Python's import
    machinery and orchestrace (a syntax error names its place itself)."""
    if isinstance(exc, SyntaxError):
        return ""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<") and Path(__file__).parent.parent not in Path(frame.filename).parents
    ]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def load_factory(spec: str) -> Any:
    """Import the module and return the factory callable; errors name what failed."""
    module_name, factory_name = split_graph_spec(spec)
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise UsageError(f"--graph: file {module_name} does not exist")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or module_spec.loader is None:
                raise UsageError(f"--graph: cannot import {module_name}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(module_name)
    except UsageError:
        raise
    except ImportError as exc:
        raise UsageError(f"--graph: cannot import module '{module_name}': {exc}{where(exc)}") from None
    except Exception as exc:
        raise UsageError(f"--graph: importing '{module_name}' raised {type(exc).__name__}: {exc}{where(exc)}") from None
    factory = getattr(module, factory_name, None)
    if factory is None:
        raise UsageError(f"--graph: module '{module_name}' has no attribute '{factory_name}'")
    if not callable(factory):
        raise UsageError(f"--graph: '{module_name}:{factory_name}' is not callable; it must be FACTORY(model) -> graph")
    return factory


def check_graph(graph: Any, origin: str) -> Any:
    """The factory's result must be a compiled LangGraph graph (or at least a Runnable)."""
    from langgraph.graph import StateGraph

    if isinstance(graph, StateGraph):
        raise UsageError(f"{origin} returned an uncompiled StateGraph; return graph.compile()")
    if not hasattr(graph, "ainvoke") or not hasattr(graph, "invoke"):
        raise UsageError(f"{origin} returned {type(graph).__name__}, not a compiled LangGraph graph")
    return graph


def build_graph(agent: str | None, graph_spec: str | None, model: Any) -> tuple[Any, str]:
    """The compiled graph and the agent name its spans carry."""
    if agent:
        from agents import get_agent

        return check_graph(get_agent(agent).build(model), f"agent {agent}"), agent
    assert graph_spec is not None
    factory = load_factory(graph_spec)
    origin = f"--graph {graph_spec}"
    try:
        graph = factory(model)
    except Exception as exc:
        raise UsageError(f"{origin}: FACTORY(model) raised {type(exc).__name__}: {exc}{where(exc)}") from None
    name = getattr(graph, "name", None)
    label = name if isinstance(name, str) and name and name != "LangGraph" else split_graph_spec(graph_spec)[1]
    return check_graph(graph, origin), label
