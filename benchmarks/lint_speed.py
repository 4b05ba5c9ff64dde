"""`factory lint` on a large project, as CI and pre-commit run it: fresh processes, wall time.

    python benchmarks/lint_speed.py            # N = 10,000 specs, 3 runs of each case
    python benchmarks/lint_speed.py --quick    # N = 200, 1 run: the smoke run the suite runs

Cases (issue 14, target 2), each a fresh `python -m factory lint` in the project's folder:

- cold: no spec cache and no lint index (a new CI machine);
- unchanged: nothing changed since the last lint (the next push that touches no spec);
- pre-commit: five spec files changed since the last lint, and lint given just those
  five, as the pre-commit hook's entry is (`factory lint FILE...`); the checks across
  specs still read the whole project. The pre-commit framework's own start-up is not
  the factory's and is not counted.

Results go to benchmarks/results/lint-speed.{json,md}.
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
import time
from pathlib import Path
from typing import Any

import generate
import parse

HERE = Path(__file__).resolve().parent
LIMITS = {"cold": 4.0, "unchanged": 1.0, "pre-commit": 0.3}


def lint(python: Path, project: Path, env: dict[str, str], paths: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(
        [str(python), "-m", "factory", "lint", *paths], cwd=project, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise parse.BenchmarkError(f"factory lint {' '.join(paths)} exit {done.returncode}:\n{done.stdout[-2000:]}")
    return wall, done.stdout.strip().splitlines()[-1]


def measure(n: int, runs: int, work: Path, python: Path) -> dict[str, Any]:
    project = work / "project"
    generate.write_factory_project(project, generate.pipelines(n))
    cache = work / "cache"
    env = {**parse.base_env(work), "FACTORY_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(work / "xdg")}
    specs = sorted(p for p in (project / "specs").rglob("*.yaml") if not p.name.startswith("_"))
    changed = [specs[i * len(specs) // 5] for i in range(5)]
    found: dict[str, list[float]] = {"cold": [], "unchanged": [], "pre-commit": []}
    said: dict[str, str] = {}
    for r in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        wall, said["cold"] = lint(python, project, env, [])
        found["cold"].append(wall)
        wall, said["unchanged"] = lint(python, project, env, [])
        found["unchanged"].append(wall)
        for path in changed:  # a real edit: new content, so new cache keys
            path.write_text(path.read_text() + f"# edited, run {r + 1}\n")
        names = [str(p.relative_to(project)) for p in changed]
        wall, said["pre-commit"] = lint(python, project, env, names)
        found["pre-commit"].append(wall)
        print(", ".join(f"{case} {times[-1]:.2f} s" for case, times in found.items()), flush=True)
    t = time.perf_counter()
    subprocess.run([str(python), "-c", "pass"], env=env, check=True)
    bare = time.perf_counter() - t
    return {"n": n, "runs": found, "said": said, "python_start_s": bare}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="N=200, 1 run: a smoke run")
    ap.add_argument("--python", default=str(parse.REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    n, runs = (200, 1) if args.quick else (args.n, args.runs)
    work = Path(tempfile.mkdtemp(prefix="factory-lint-speed-"))
    try:
        res = measure(n, runs, work, Path(args.python))
    except parse.BenchmarkError as exc:
        print(f"\nLINT BENCHMARK ABORTED: {exc}", file=sys.stderr)
        return 3
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for case, times in res["runs"].items():
        median = statistics.median(times)
        ok = median <= LIMITS[case] if not args.quick else None
        rows.append({"case": case, "median_s": median, "all_s": times, "limit_s": LIMITS[case], "pass": ok})
    command = "python benchmarks/lint_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    machine = parse.machine(parse.Pythons(project=Path(args.python), bench=None))
    lines = [
        f"`{command}`: N = {n:,} specs, medians of {runs} fresh processes, on {machine.get('cpu', '?')} "
        f"({os.cpu_count()} cores). A bare `python -c pass` takes {res['python_start_s']:.2f} s here.",
        "",
        "| case | median | runs | limit | result | lint said |",
        "|---|--:|---|--:|---|---|",
    ]
    for row in rows:
        result = "n/a" if row["pass"] is None else ("PASS" if row["pass"] else "**FAIL**")
        runs_text = ", ".join(f"{t:.2f}" for t in row["all_s"])
        lines.append(
            f"| {row['case']} | {row['median_s']:.2f} s | {runs_text} | {row['limit_s']:g} s | {result} "
            f"| {res['said'][row['case']]} |"
        )
    text = "\n".join(lines) + "\n"
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    stem = "lint-speed-quick" if args.quick else "lint-speed"
    (out / f"{stem}.json").write_text(json.dumps({"command": command, "machine": machine, **res, "rows": rows}) + "\n")
    (out / f"{stem}.md").write_text(text)
    print("\n" + text)
    return 1 if any(r["pass"] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
