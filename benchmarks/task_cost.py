"""What one task run costs: AWS API calls on MWAA, start-up latency on-prem.

    python benchmarks/task_cost.py           # both parts, 15 on-prem runs of each operator
    python benchmarks/task_cost.py --quick   # 3 on-prem runs: the smoke run the suite runs
    python benchmarks/task_cost.py --part mwaa   (or onprem)

MWAA (task_cost_mwaa.py): one spec task against the provider's own pattern,
EcsRegisterTaskDefinitionOperator then EcsRunTaskOperator, each run by Airflow's
`dag.test()` against moto in server mode (ECS, CloudWatch Logs and SSM cannot run
offline), counting every AWS call by IAM action: a first run, a run of the unchanged
spec, a run after the spec changed, and a retry that reattaches to the ECS task its
lost worker started. Counts are exact, so one pass is the figure.

On-prem (task_cost_onprem.py): from the task starting (its task instance's start_date)
to the container starting (the engine's State.StartedAt), FactoryDockerOperator against
a stock DockerOperator running the same image on this machine's Docker engine; medians
of runs alternating between the two. Target: within 50 ms of the stock operator.

Results go to benchmarks/results/task-cost.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ONPREM_MARGIN_S = 0.050


def airflow_env(home: Path, python: Path) -> dict[str, str]:
    """A private AIRFLOW_HOME with a migrated SQLite DB; no AIRFLOW_/FACTORY_/AWS_
    settings of the caller leak in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "FACTORY_", "AWS_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(python.parent / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def measure_onprem(work: Path, python: Path, runs: int) -> dict[str, Any]:
    env = airflow_env(work / "onprem-home", python)
    out = work / "onprem.json"
    done = subprocess.run(
        [str(python), str(HERE / "task_cost_onprem.py"), str(runs), str(out)],
        env={**env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"task_cost_onprem.py exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    seconds = json.loads(out.read_text())
    return {name: {"runs_s": values, "median_s": statistics.median(values)} for name, values in seconds.items()}


def onprem_table(res: dict[str, Any]) -> tuple[list[str], bool]:
    factory, stock = res["factory"]["median_s"], res["stock"]["median_s"]
    gap = factory - stock
    ok = gap <= ONPREM_MARGIN_S
    runs = len(res["factory"]["runs_s"])
    return [
        f"Task start to container start, medians of {runs} alternating runs of each on this machine's Docker engine:",
        "",
        "| operator | median | fastest | slowest |",
        "|---|--:|--:|--:|",
        *(
            f"| {label} | {res[name]['median_s'] * 1000:.0f} ms | {min(res[name]['runs_s']) * 1000:.0f} ms "
            f"| {max(res[name]['runs_s']) * 1000:.0f} ms |"
            for name, label in (("factory", "FactoryDockerOperator"), ("stock", "stock DockerOperator"))
        ),
        "",
        f"The factory's start is {gap * 1000:+.0f} ms from the stock operator's (target: at most "
        f"+{ONPREM_MARGIN_S * 1000:.0f} ms): {'PASS' if ok else '**FAIL**'}.",
    ], ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("all", "mwaa", "onprem"), default="all")
    ap.add_argument("--runs", type=int, default=15, help="on-prem runs of each operator")
    ap.add_argument("--quick", action="store_true", help="3 on-prem runs: a smoke run")
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    python, runs = Path(args.python), 3 if args.quick else args.runs
    work = Path(tempfile.mkdtemp(prefix="factory-task-cost-"))
    results: dict[str, Any] = {}
    command = "python benchmarks/task_cost.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"`{command}` ({os.cpu_count()} cores)", ""]
    ok = True
    try:
        if args.part in ("all", "mwaa"):
            import task_cost_mwaa

            results["mwaa"] = task_cost_mwaa.measure(work / "mwaa", python, airflow_env(work / "mwaa-home", python))
            table, good = task_cost_mwaa.table(results["mwaa"])
            lines += ["### MWAA: AWS API calls per task run (moto)", "", *table, ""]
            ok = ok and good
        if args.part in ("all", "onprem"):
            results["onprem"] = measure_onprem(work, python, runs)
            table, good = onprem_table(results["onprem"])
            lines += ["### On-prem: task start to container start", "", *table, ""]
            ok = ok and good
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines)
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    stem = "task-cost-quick" if args.quick else "task-cost"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{stem}.md").write_text(text)
    print("\n" + text)
    # A smoke run checks that everything runs and counts; timings on a busy CI machine are not judged.
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
