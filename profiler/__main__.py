"""`python -m profiler` runs the orchestrace CLI."""

from profiler.cli import entrypoint

entrypoint()
