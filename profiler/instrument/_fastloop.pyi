"""Types of the C hooks (see _fastloop.c)."""

from typing import Any

class State:
    current: Any
    current_entry: Any
    pending: dict[Any, int]
    figures: dict[Any, Any]
    wall0: int
    window0: int
    cpu0: int
    proc0: int
    charged: int
    reconciles: int
    nvcsw0: int
    run_delay0: int
    cum_total: int
    cum_runtime: int
    handles: int
    switches: int
    idle_end: int
    sched_fd: int
    idle: bool
    is_loop: bool
    in_work: bool
    section_return: Any
    section_key: Any
    section_totals: Any
    section_cpu0: int
    telemetry_depth: int
    context_changed: bool

class Counters:
    def __init__(self, size: int) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> float: ...
    def __setitem__(self, index: int, value: float) -> None: ...

def configure(*tables: Any) -> tuple[Any, Any, Any]: ...
def set_state(key: str, state: Any) -> None: ...
def get_state(key: str) -> Any: ...
def reconcile(state: Any, now: int) -> None: ...
def section_enter() -> None: ...
def section_exit() -> None: ...
