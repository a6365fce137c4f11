"""Create and update run directories (`traces/<run-id>/`) and their manifest."""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from profiler.store.cpuwindow import CpuWindow
from profiler.store.parts import PartInfo
from profiler.store.processseries import ProcessRow

SCHEMA = 1
MANIFEST = "manifest.json"
SPANS = "spans.jsonl"
PROCESS = "process.jsonl"
REPORT = "report.json"
SAMPLES = "samples"
SAMPLER_LOG = "pyspy.log"
CPU_FILE = "cpu.json"
WORKLOAD_CONFIG = "workload.json"  # what the workload process was asked to run (replay reads it)
SCRIPTS = "scripts.json"  # the simulated model's trajectory script per task
SCRIPT = "script.json"  # the simulated model's script for every task (--script, or the generic policy)
FAULTS = "faults.json"  # the simulated model's fault spec (--faults)
WORKLOAD_SAMPLES = f"{SAMPLES}/workload.raw"  # py-spy's raw stacks of the workload process
WORKLOAD_LOG = "workload.log"
SERVER_LOG = "modelserver.log"
WRITER_LOG = "spanwriter.log"
EXPORT_SUMMARY = "otlp_export.json"  # live OTLP export: spans exported / failed and the first cause
REPORT_ERROR = "report.error"  # why report.json could not be built (the recorded data stays)
LATEST = "latest"  # a symlink beside the run directories to the last finished one: `traces/latest`


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def new_run_id(label: str, now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:40] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024  # kept back at creation so a full disk still lets the run be finished


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` whole or not at all; a failed write (a full disk) leaves no temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RunDir:
    """One run's directory; the manifest is rewritten atomically on every update.

    A run directory is created with a reserve of disk space (`.reserve`), released just before
    the run is finished: a disk that fills up mid-run cannot cost the run its manifest.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, out: Path, label: str) -> RunDir:
        out.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            path = out / new_run_id(label)
            try:
                path.mkdir()
            except FileExistsError:
                continue
            (path / SAMPLES).mkdir()
            (path / RESERVE).write_bytes(bytes(RESERVE_BYTES))
            return cls(path)
        raise RuntimeError(f"could not create a unique run directory under {out}")

    @property
    def run_id(self) -> str:
        return self.path.name

    def mark_latest(self) -> None:
        """Point `<out>/latest` at this run (replaced atomically); where links are not allowed, skip it."""
        link = self.path.parent / LATEST
        tmp = link.with_name(f".{LATEST}.{os.getpid()}.tmp")
        try:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.path.name, target_is_directory=True)
            tmp.replace(link)
        except OSError:
            tmp.unlink(missing_ok=True)

    @property
    def spans(self) -> Path:
        return self.path / SPANS

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def file(self, name: str) -> Path:
        return self.path / name

    def read_manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def finish(self, **changes: Any) -> dict[str, Any]:
        """The last manifest update of a run, written into the space kept back for it."""
        (self.path / RESERVE).unlink(missing_ok=True)
        return self.update_manifest(**changes)

    def add_part(self, info: PartInfo) -> Path:
        """Record a part (one workload process) in the manifest; returns the folder for its files."""
        folder = self.path / info.dir
        (folder / SAMPLES).mkdir(parents=True, exist_ok=True)
        listed = [p for p in self.read_manifest().get("parts", []) if p.get("id") != info.id]
        self.update_manifest(parts=[*listed, info.to_json()])
        return folder

    def write_part(
        self, info: PartInfo, cpu: CpuWindow | None, process: list[ProcessRow], samples: dict[str, bytes]
    ) -> None:
        """A part measured elsewhere (a fleet worker): its CPU window, psutil rows and py-spy files."""
        folder = self.add_part(info)
        if cpu is not None:
            write_json_atomic(folder / CPU_FILE, cpu.to_json())
        if process:
            (folder / PROCESS).write_text(
                "".join(json.dumps(row.to_json()) + "\n" for row in process), encoding="utf-8"
            )
        for name, raw in samples.items():
            (folder / SAMPLES / Path(name).name).write_bytes(raw)

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        manifest = self.read_manifest() if self.manifest_path.exists() else {}
        manifest.update(changes)
        self.write_manifest(manifest)
        return manifest
