"""manifest.json as the views read it: typed fields, and what is damaged or missing defaults."""

import json
from pathlib import Path

from profiler.store.manifest import Manifest, ProfilingInfo, WorkloadInfo

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100" / "manifest.json"


def test_the_example_manifest_reads_typed():
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    manifest = Manifest.from_json(data)
    assert (manifest.run_id, manifest.status, manifest.schema) == (data["run_id"], "completed", 1)
    assert manifest.workload == WorkloadInfo(
        "rag", None, data["workload"]["concurrency"], data["workload"]["agent_runs"], seed=data["workload"]["seed"]
    )
    assert manifest.simulated and manifest.preset == data["model"]["preset"]
    assert manifest.profiling.sample_rate == data["profiling"]["sample_rate"] and manifest.host == data["host"]
    assert manifest.to_json() == data


def test_missing_and_damaged_fields_default():
    manifest = Manifest.from_json(
        {
            "workload": {"graph": "m:f", "concurrency": "eight"},
            "model": "simulated",
            "profiling": {"sampler": False},
            "degraded": [{"component": "sampler", "reason": "no ptrace"}, "junk"],
            "workload_result": {"lost": [{"index": 3, "reason": "worker died"}, {"why": "no index"}]},
        }
    )
    assert manifest.workload.name == "m:f" and manifest.workload.concurrency == 1
    assert manifest.model is None and manifest.preset is None and not manifest.simulated
    assert manifest.profiling == ProfilingInfo(sampler=False) and manifest.run_id is None
    assert manifest.degraded == ({"component": "sampler", "reason": "no ptrace"},)
    assert manifest.lost_runs == ({"index": 3, "reason": "worker died"},)
