"""The parse benchmark still runs end to end (small N): every scenario parses the same
DAGs as the hand-written file with zero import errors. Timing targets are not checked
here; they belong to `python benchmarks/parse.py`, on a quiet machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_every_scenario(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "parse.py"),
            "--quick",
            "--dagfactory",
            "no",
            "--only",
            "full,task,lint,scaling",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    # Exit 3 means the benchmark refused a broken parse (import errors, missing DAGs,
    # or a factory DAG that differs from the hand-written one).
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(next(results.glob("*.json")).read_text())
    assert {"full", "task", "lint", "scaling"} <= set(report["scenarios"])
