"""The user's tool function as its own CPU bucket inside its tool span.

A LangChain tool span also holds the framework's wrapper around the function (argument
validation, callbacks, building the tool message): that is orchestration, not the tool. The
`_run` / `_arun` methods of LangChain's tool classes (and of every `BaseTool` subclass defined by
the time the meter is installed) are wrapped so that the function's own time runs under a
`ToolFnSpan`: the tool span's ids, the meter's tool-function bucket.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.tools import BaseTool
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

from profiler.instrument.cpumeter import SpanCpuMeter


def _tool_classes(root: type) -> Iterator[type]:
    cls: type
    for cls in root.__subclasses__():
        yield cls
        yield from _tool_classes(cls)


def install(meter: SpanCpuMeter) -> Callable[[], None]:
    """Wrap the tool classes' own `_run` / `_arun`; returns the function that undoes it."""

    def enter() -> object | None:
        span = trace.get_current_span()
        if (getattr(span, "attributes", None) or {}).get(gen_ai.GEN_AI_OPERATION_NAME) != "execute_tool":
            return None  # not inside one of our tool spans (no handler, or the tool was called directly)
        marker = meter.tool_fn_span(span)
        return None if marker is None else otel_context.attach(trace.set_span_in_context(marker))

    def sync(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def _run(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
            token = enter()
            try:
                return original(self, *args, **kwargs)
            finally:
                if token is not None:
                    otel_context.detach(token)  # type: ignore[arg-type]

        return _run

    def asynchronous(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        async def _arun(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
            token = enter()  # LangChain runs the coroutine in its own task: the marker stays in it
            try:
                return await original(self, *args, **kwargs)
            finally:
                if token is not None:
                    otel_context.detach(token)  # type: ignore[arg-type]

        return _arun

    patched: list[tuple[type, str, Any]] = []
    classes: set[type] = set(_tool_classes(BaseTool))
    for cls in classes:
        for name, wrap in (("_run", sync), ("_arun", asynchronous)):
            original = cls.__dict__.get(name)
            if callable(original) and not getattr(original, "__isabstractmethod__", False):
                patched.append((cls, name, original))
                setattr(cls, name, wrap(original))

    def uninstall() -> None:
        for cls, name, original in patched:
            setattr(cls, name, original)

    return uninstall
