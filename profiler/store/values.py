"""Reading values out of JSON a run directory holds, which may have been damaged: the wrong type
is None (or empty), never an exception."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson


def finite(value: Any) -> bool:
    """An int or a finite float, not a bool (`v - v` is 0 only for finite floats: fast, it runs per span attribute)."""
    kind = type(value)
    return (
        kind is int
        or (kind is float and value - value == 0.0)
        or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))
    )


def number(value: Any) -> float | None:
    """A finite number (not a bool), as a float."""
    return float(value) if finite(value) else None


def count(value: Any) -> int | None:
    """A whole number >= 0 (not a bool)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def text(value: Any) -> str | None:
    """A string."""
    return value if isinstance(value, str) else None


def items(value: Any) -> list[Any]:
    """A list, or nothing."""
    return value if isinstance(value, list) else []


def fields_of(value: Any) -> Mapping[str, Any]:
    """An object, or an empty one."""
    return value if isinstance(value, Mapping) else {}


def json_lines(lines: Iterable[str]) -> tuple[list[Any], int]:
    """The values of the lines that parse, and how many did not (blank lines are neither)."""
    values, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            values.append(orjson.loads(line))
        except ValueError:  # a half-written last line, or damage
            bad += 1
    return values, bad
