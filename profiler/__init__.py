"""orchestrace: agentic orchestration workload profiler."""

__version__ = "0.1.0"
