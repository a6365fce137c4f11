"""The committed example run's report.json is what today's analysis makes of it.

A change to any figure or field of the report shows up here as a diff. When the change is meant,
regenerate it deliberately and review the diff:

    orchestrace report traces/examples/rag-h100 --format json -o traces/examples/rag-h100/report.json
"""

import json
from pathlib import Path

from profiler.analysis.report import build_report
from profiler.store.session import load_session

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


def test_the_example_report_is_what_the_analysis_makes_of_the_example_run():
    committed = json.loads((EXAMPLE / "report.json").read_text(encoding="utf-8"))
    made = json.loads(json.dumps(build_report(load_session(EXAMPLE)).to_json()))
    assert made["completed"] == 3 and made["problems"] == []
    for key in sorted(set(committed) | set(made)):
        assert made.get(key) == committed.get(key), key
