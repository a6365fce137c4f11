"""A run made of two parts (two workload processes) is one run to every view."""

import json
import shutil
from pathlib import Path

import pytest

from profiler.analysis.report import build_report
from profiler.export.jaeger import write_jaeger_json
from profiler.runner.environment import usable_cores
from profiler.store.cpuwindow import CpuWindow
from profiler.store.parts import PartInfo, part_dir
from profiler.store.processseries import ProcessRow
from profiler.store.rundir import CPU_FILE, PROCESS, SPANS, RunDir
from profiler.store.session import load_session
from profiler.store.trajectories import TRAJECTORIES
from tests.conftest import manifest_of, run_dir_of

pytestmark = pytest.mark.integration


def _run(cli, out: Path) -> Path:
    result = cli("run", "--agent", "rag", "--tasks", "2", "--model", "instant", "--no-sampler", "--out", str(out))
    assert result.code == 0, result.err + result.out
    return run_dir_of(result)


def test_two_workload_processes_make_one_run(cli, tmp_path):
    """Two runs of the workload, the second folded into the first as its part `b`."""
    first, second = _run(cli, tmp_path / "a"), _run(cli, tmp_path / "b")
    alone = [build_report(load_session(run)) for run in (first, second)]
    [info] = [PartInfo.from_json(p) for p in manifest_of(second)["parts"]]
    RunDir(first).write_part(
        PartInfo("b", info.host, info.pid, part_dir("b"), cores=info.cores),
        CpuWindow.from_json(json.loads((second / CPU_FILE).read_text())),
        [ProcessRow.from_json(json.loads(line)) for line in (second / PROCESS).read_text().splitlines()],
        {},
    )
    for name in (SPANS, TRAJECTORIES):
        with open(first / name, "a") as joined:
            joined.write((second / name).read_text())
    shutil.rmtree(second)

    session = load_session(first)
    assert [part.info.id for part in session.parts] == ["main", "b"]
    assert not [p for p in session.problems if "part" in p], session.problems
    report = build_report(session)
    assert report.agent_runs == report.completed == 4
    assert report.inference.calls == sum(r.inference.calls for r in alone)
    assert report.cpu_s.process_total == pytest.approx(sum(r.cpu_s.process_total for r in alone))
    [host] = report.hosts  # both parts ran here
    assert host.parts == ("main", "b") and host.agent_runs == 4
    assert host.cpu_s.process_total == pytest.approx(report.cpu_s.process_total)
    assert 0 <= host.host_cpu_percent <= 100
    # the two processes ran one after the other: their CPU over the time from the first's start to
    # the second's end, of the cores this host gave them
    windows = [part.cpu for part in session.parts]
    span = max(w.end_unix for w in windows) - min(w.start_unix for w in windows)
    assert host.cores == info.cores == usable_cores()
    assert host.cores_used == pytest.approx(report.cpu_s.process_total / span)
    assert 0 < host.cores_used <= host.cores

    out = tmp_path / "size.json"
    assert cli("size", str(first), "--format", "json", "-o", str(out)).code == 0
    sized = json.loads(out.read_text())
    assert sized["demand"]["runs"] == 4
    # replayed as it ran: two processes (each at the run's concurrency) on this host's cores, once
    assert sized["units"]["machine"] == {"cores": usable_cores(), "processes": 2, "concurrency": 2 * 4}
    [row] = sized["hosts"]
    assert row["cpu_per_run_s"] == pytest.approx(host.cpu_s.process_total / 4)
    assert row["cores_used"] == host.cores_used and row["cores"] == usable_cores()
    assert "Per host (measured)" in cli("size", str(first)).out
    for command, title in (("report", "Per host"), ("size", "Per host (measured)")):
        page = tmp_path / f"{command}.html"
        assert cli(command, str(first), "--format", "html", "-o", str(page)).code == 0
        assert f">{title}</h2>" in page.read_text() and f">{info.host}</td>" in page.read_text()
    with open(tmp_path / "run.jaeger.json", "w") as jaeger:
        assert write_jaeger_json(first / SPANS, jaeger) == len(session.span_list())
    text = cli("report", str(first))
    assert text.code == 0 and "Per host" in text.out
