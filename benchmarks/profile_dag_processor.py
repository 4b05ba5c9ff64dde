"""Where the DAG processor's time goes for the factory at large N (issue: 10,000 specs).

    python benchmarks/profile_dag_processor.py --n 10000     # ~10 min here
    python benchmarks/profile_dag_processor.py --quick       # N=50: a smoke run

Before optimising the loader for N = 10,000, this measures it as it is, in Airflow's own
`airflow dag-processor -n 1` (benchmarks/dag_processor_child.py's probes, SQLite), with
the processor's timeouts raised so the pass finishes instead of being killed: what each
step of each DAG file's processing costs (start-up, the DagBag fill, serialisation,
sending the result, the manager's DB write), with the spec cache cold and warm; then a
cProfile of the loader's DagBag fill alone in a fresh process, and what its biggest
cumulative entries are. Results go to benchmarks/results/profile-dag-processor.{json,md};
docs/benchmarks.md says what they mean.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dag_processor as dp
import parse
from dag_processor_report import MIB, REPORTER

HERE = Path(__file__).resolve().parent
RAISED_TIMEOUT_S = 1800  # far above any pass here: measure, do not kill

_PROFILE = """
import cProfile, io, json, pstats, sys, time
import airflow
from airflow.dag_processing import manager  # what the processor's manager imported before it forks
from airflow.dag_processing.dagbag import DagBag

prof = cProfile.Profile()
t = time.perf_counter()
prof.enable()
bag = DagBag(dag_folder=sys.argv[1], load_op_links=False)
prof.disable()
wall = time.perf_counter() - t
stats = pstats.Stats(prof)
rows = []
for (file, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
    where = f"{file.rsplit('site-packages/', 1)[-1]}:{line}({name})"
    rows.append({"where": where, "calls": nc, "tottime": tt, "cumtime": ct})
rows.sort(key=lambda r: -r["cumtime"])
json.dump({"wall_s": wall, "dags": len(bag.dags), "import_errors": len(bag.import_errors), "top": rows[:60],
           "by_tottime": sorted(rows, key=lambda r: -r["tottime"])[:30]}, open(sys.argv[2], "w"))
"""


def steps(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for name, f in sorted(result["files"].items()):
        out[name] = {
            "run_duration_s": f["run_duration_s"],
            "cpu_s": f["cpu_s"],
            "maxrss_mib": f["maxrss_kib"] / MIB,
            **{step: round(seconds, 3) for step, seconds in f["steps"].items()},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="N=50, a smoke run")
    ap.add_argument("--python", default=str(parse.REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--workdir", help="keep the projects, DB and logs there (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    n = min(args.n, 50) if args.quick else args.n
    python = Path(args.python)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="factory-dp-profile-"))
    started = time.perf_counter()
    try:
        base = parse.base_env(work)
        base["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = str(RAISED_TIMEOUT_S)
        base["AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT"] = str(RAISED_TIMEOUT_S)
        base["AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT"] = str(RAISED_TIMEOUT_S)  # its Airflow 2 name
        projects = dp.write_workloads(work / "projects", n, parse.REPO)
        loaders = dp.loader_counts(projects["factory"], [p.dag_id for p in dp.generate.pipelines(n)])
        good = {**loaders, REPORTER: (0, 0)}
        largest = max(loaders, key=lambda name: loaders[name][0])  # the loader file cProfile fills
        variant = dp.Variant("factory", "factory", projects["factory"], good, cold=True)
        dp.prepare(variant, work / "homes", python, base)
        print(f"N={n}: generated, DB migrated ({time.perf_counter() - started:.0f} s)", flush=True)
        first = dp.run_pass(variant, python, "first")  # cold cache, empty DB: DAGs written for the first time
        print(f"first pass (cache cold, empty DB): {first['wall_s']:.1f} s", flush=True)
        cold = dp.run_pass(variant, python, "cold")  # cold cache, DB holds the DAGs
        print(f"pass, cache cold: {cold['wall_s']:.1f} s", flush=True)
        variant.cold = False
        warm = dp.run_pass(variant, python, "warm")
        print(f"pass, cache warm: {warm['wall_s']:.1f} s", flush=True)
        profile_path = work / "profile.json"
        proc = subprocess.run(
            [str(python), "-P", "-c", _PROFILE, str(variant.project / "dags" / largest), str(profile_path)],
            env=variant.env,
            cwd=variant.home,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise parse.BenchmarkError(f"profile failed:\n{proc.stderr[-2000:]}")
        profile = json.loads(profile_path.read_text())
    except parse.BenchmarkError as exc:
        print(f"\nPROFILE ABORTED: {exc}", file=sys.stderr)
        return 3
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    results = {
        "n": n,
        "command": "python benchmarks/profile_dag_processor.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": parse.machine(parse.Pythons(project=python, bench=None)),
        "passes": {
            name: {"wall_s": r["wall_s"], "manager_maxrss_mib": r["manager_maxrss_kib"] / MIB, "files": steps(r)}
            for name, r in (("first", first), ("cold", cold), ("warm", warm))
        },
        "loader_profile": profile,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    stem = "profile-dag-processor-quick" if args.quick else "profile-dag-processor"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# The DAG processor at N = {results['n']:,} specs (timeouts raised so the pass finishes)", ""]
    lines += ["| pass | file | run_duration | CPU | peak RSS | start-up | DagBag fill | serialise | send, exit |"]
    lines += ["|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name, p in results["passes"].items():
        for file, f in p["files"].items():
            lines.append(
                f"| {name} | {file} | {f['run_duration_s']:.1f} s | {f['cpu_s']:.1f} s | {f['maxrss_mib']:.0f} MiB "
                f"| {f['start-up']:.2f} s | {f['DagBag fill']:.1f} s | {f['serialise']:.1f} s "
                f"| {f['send, exit']:.1f} s |"
            )
    prof = results["loader_profile"]
    lines += ["", f"cProfile of the loader's DagBag fill alone (cache warm): {prof['wall_s']:.1f} s, profiled.", ""]
    lines += ["| cumulative | own | calls | where |", "|--:|--:|--:|---|"]
    for row in prof["top"][:25]:
        lines.append(f"| {row['cumtime']:.2f} s | {row['tottime']:.2f} s | {row['calls']} | `{row['where']}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
