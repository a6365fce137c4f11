"""The figures a reader wants first, including cores per accelerator at the run's own preset.

Cores per accelerator is the sizing model's figure at the default targets (an estimate: the
run's tokens at the preset's saturated throughput); when the run has no usable preset the
reason is given instead of a number.
"""

from __future__ import annotations

from profiler.accelerators.presets import recorded_preset
from profiler.analysis.passes import Tally, fold
from profiler.analysis.report import ReportTally
from profiler.errors import UsageError
from profiler.sizing.model import DemandTally, Targets, size_preset
from profiler.store.report import Headline, Report
from profiler.store.session import Session


def _cores_per_accelerator(session: Session, report: Report, demand: DemandTally | None) -> tuple[float | None, str]:
    preset_data = session.manifest.preset
    if not preset_data or demand is None:
        return None, "no accelerator preset (real endpoint): size it with `orchestrace size RUN --base PRESET`"
    try:
        preset = recorded_preset(preset_data)
        per_run = demand.result(report)
    except UsageError as exc:
        return None, str(exc)
    if preset.synthetic:
        return None, f"{preset.name} is synthetic (no model time): size it with `orchestrace size RUN --presets PRESET`"
    if not preset.accelerator:
        return None, (
            f"{preset.name} does not say what one accelerator is (an API replica): `orchestrace size RUN` gives "
            "cores per 1k output tokens/s instead"
        )
    targets = Targets()
    sized = size_preset(per_run, preset, targets)
    return sized["cores_per_accelerator"], (
        f"estimate at {preset.name}: tokens at its saturated throughput, CPU utilisation "
        f"{targets.cpu_utilisation:g}, accelerator utilisation {targets.accelerator_utilisation:g}"
    )


def report_and_headline(session: Session, *more: Tally) -> tuple[Report, Headline]:
    """The run's report and headline from one pass over its traces (which `more` tallies are told too)."""
    report = ReportTally(session)
    demand = DemandTally(session) if session.manifest.preset else None  # only a preset's run is sized
    fold(session.traces(), report, *([demand] if demand else []), *more)
    built = report.result()
    return built, headline(session, built, demand)


def headline(session: Session, report: Report, demand: DemandTally | None) -> Headline:
    """CPU share of latency, CPU and model wait per agent run, cores per accelerator (`demand`: the
    same traces' sizing tally; None for a run without a preset, which is not sized)."""
    per_run = report.wall_s.per_run
    cores, cores_note = _cores_per_accelerator(session, report, demand)
    client_side = report.inference.source != "server spans"
    return Headline(
        cpu_share_of_latency=report.cpu_share_of_latency,
        cpu_per_run_s=report.cpu_per_run_s,
        wall_per_run_s=per_run["total"].mean,
        model_wait_per_run_s=per_run["model_wait"].mean,
        model_wait_note=(
            "client-side: no SERVER spans, so it includes the network" if client_side else "from the server's spans"
        ),
        cores_per_accelerator=cores,
        cores_per_accelerator_note=cores_note,
    )
