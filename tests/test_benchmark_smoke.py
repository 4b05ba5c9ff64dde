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


def run_quick(script: str, results: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_quick_scale_benchmark_runs_the_real_dag_processor_on_postgresql(tmp_path: Path) -> None:
    run_quick("scale.py", tmp_path)
    report = json.loads((tmp_path / "scale-quick.json").read_text())
    factory, hand = report["results"]["40"]["factory"]["median"], report["results"]["40"]["hand"]["median"]
    # The same 40 DAGs active from both, nothing killed, no import error.
    assert (factory["dags_active"], factory["import_errors"], factory["unfinished_files"]) == (40, 0, 0)
    assert (hand["dags_active"], hand["import_errors"], hand["unfinished_files"]) == (40, 0, 0)


def test_quick_lint_benchmark_lints_cold_unchanged_and_five_files(tmp_path: Path) -> None:
    run_quick("lint_speed.py", tmp_path)
    report = json.loads((tmp_path / "lint-speed-quick.json").read_text())
    assert report["said"] == {
        "cold": "All 200 spec(s) OK.",
        "unchanged": "All 200 spec(s) OK.",
        "pre-commit": "All 5 spec(s) OK.",
    }


def test_quick_sync_benchmark_counts_both_tools_requests(tmp_path: Path) -> None:
    run_quick("sync_speed.py", tmp_path)
    (run,) = json.loads((tmp_path / "sync-speed-quick.json").read_text())["runs"]
    for tool in ("aws", "factory"):
        assert run[f"{tool}/first"]["requests"].get("PUT", 0) >= 50, run  # every spec went up
    # A no-op factory sync lists the prefix and reads the manifest, and writes nothing.
    assert set(run["factory/no-op"]["requests"]) <= {"LIST", "GET"}, run


def test_quick_task_cost_benchmark_counts_calls_and_times_container_starts(tmp_path: Path) -> None:
    run_quick("task_cost.py", tmp_path)
    report = json.loads((tmp_path / "task-cost-quick.json").read_text())
    factory, provider = report["mwaa"]["factory"], report["mwaa"]["provider"]
    # Parsing calls no AWS; the factory registers a revision only when the spec changed,
    # the provider's pattern on every run that is not a retry.
    assert factory["parse"] == {}, factory["parse"]
    assert [factory[s]["revisions"] for s in ("first", "unchanged", "changed", "retry")] == [1, 0, 1, 0]
    assert [provider[s]["revisions"] for s in ("first", "unchanged", "changed", "retry")] == [1, 1, 1, 0]
    # A retry reattaches: it starts no second ECS task.
    assert "ecs:RunTask" not in factory["retry"]["calls"] and "ecs:RunTask" not in provider["retry"]["calls"]
    for name in ("factory", "stock"):
        seconds = report["onprem"][name]["runs_s"]
        assert len(seconds) == 3 and all(0 < s < 30 for s in seconds), (name, seconds)


def test_quick_loader_file_cost_benchmark_measures_forked_file_processors(tmp_path: Path) -> None:
    run_quick("loader_file_cost.py", tmp_path)
    results = json.loads((tmp_path / "loader-file-cost-quick.json").read_text())["results"]
    one_of_16, hand = results["factory, 1 of 16 files"], results["hand-written, 250 a file"]
    assert 200 / 16 / 3 < one_of_16["dags"] < 200 / 16 * 3, one_of_16  # its share of the 200 specs
    assert hand["dags"] == 200 and not hand["import_errors"] and not one_of_16["import_errors"]
    for r in results.values():
        assert r["cpu_s"] > 0 and r["private_mib"] > 0
    # The loader imports its operators after the fork; hand-written files' are pre-imported.
    assert one_of_16["modules"] > hand["modules"]
