"""Names the run directory's files carry: span attributes of the CPU meter and its bucket names.

Written by `instrument`, read by `analysis`: declared once here so both sides spell them alike.
"""

from __future__ import annotations

# ---- span attributes (seconds unless named otherwise) ------------------------------------
CPU_SELF = "orchestrace.cpu.self_s"  # CPU charged to the span itself (its tool function included)
CPU_INCLUSIVE = "orchestrace.cpu.inclusive_s"  # self + descendants + child processes
CPU_CHILDREN = "orchestrace.cpu.children_s"  # child processes the span reaped
CPU_TOOL_FN = "orchestrace.cpu.tool_fn_s"  # inside the user's tool function (tool spans)
CPU_PROFILER = "orchestrace.cpu.profiler_s"  # orchestrace's own sections while the span was current
PROFILER_WAIT = "orchestrace.profiler.wait_s"  # those sections' time off the CPU (GIL, descheduled)
WAIT = "orchestrace.wait_s"  # duration minus inclusive CPU
READY_WAIT = "orchestrace.ready_wait_s"  # ready to run, the event loop busy (run-queue delay)
# what ran on the loop while the span was ready: this agent run's CPU by kind, other agent runs
READY_ORCHESTRATION = "orchestrace.ready.orchestration_s"
READY_TOOL = "orchestrace.ready.tool_s"
READY_MODEL_CLIENT = "orchestrace.ready.model_client_s"
READY_PROFILER = "orchestrace.ready.profiler_s"
READY_OTHER_RUNS = "orchestrace.ready.other_runs_s"
READY_RUNTIME = "orchestrace.ready.runtime_s"  # the loop's own work and wake-up, this run's share
# running the span's code, but off the CPU
OFFCPU_GIL = "orchestrace.offcpu.gil_s"  # waiting for the GIL (another thread held it)
OFFCPU_HOST = "orchestrace.offcpu.host_s"  # runnable, the OS ran something else (run-queue delay)
OFFCPU_BLOCKED = "orchestrace.offcpu.blocked_s"  # asleep in a system call: I/O, sleep, locks
# a model request in flight: the stretches the model was working through (the client waited for
# it at their end), and the client's own CPU and run-queue delays hidden inside them
MODEL_WAIT = "orchestrace.model.wait_s"
MODEL_OVERLAP_CPU = "orchestrace.model.overlap_cpu_s"
MODEL_OVERLAP_READY = "orchestrace.model.overlap_ready_s"
HANDOFF = "orchestrace.handoff_s"  # waiting for a worker thread to take the span's work, and to hand it back
MODEL_REQUESTS = "orchestrace.model.requests"  # HTTP requests of the model client (count)
INCOMPLETE = "orchestrace.incomplete"  # a span ended for it when the run stopped (Ctrl-C, crash)
INTERRUPTED = "interrupted"  # the status description of an agent run cut short (cancelled, Ctrl-C)

# ---- the simulated model server's span (per request) -----------------------------------------
SERVER_DECODE = "orchestrace.server.decode_s"  # time decoding the reply after its first token
SERVER_WRITES = "orchestrace.server.writes"  # writes of a streamed reply (the chunks the client reads)

READY_BLAME = (
    READY_ORCHESTRATION,
    READY_TOOL,
    READY_MODEL_CLIENT,
    READY_PROFILER,
    READY_OTHER_RUNS,
    READY_RUNTIME,
)

# ---- CPU meter buckets (cpu.json `buckets_s`) ----------------------------------------------
LOOP = "asyncio-loop"  # the event loop's own work between handles
EXECUTOR_IDLE = "executor-idle"  # thread-pool workers between work items
NO_SPAN = "no-span"  # Python code running outside any span of ours
TELEMETRY = "telemetry"  # orchestrace's own sections (callbacks), inside spans or not
LATE = "after-export"  # CPU reaching a span after its figures were exported (tiny)
SPANS_BUCKET = "spans"  # every span's own CPU together
