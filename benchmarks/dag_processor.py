"""The parse cost in Airflow's own DAG processor: the factory's two DAG files vs hand-written.

    python benchmarks/dag_processor.py               # N=1000, 3 runs per variant (~8 min here)
    python benchmarks/dag_processor.py --quick       # N=20, 1 run: a smoke run
    python benchmarks/parse.py --only dagprocessor   # the same, from the main harness

benchmarks/parse.py times a DagBag fill of the loader. Airflow's DAG processor does more,
and does it per file, in a process forked from its manager: the factory has two files
(dags/factory_dags.py, the loader, and dags/factory_spec_errors.py, the reporter, which
checks every spec again), so this measures what the processor really spends on them.

Every variant has its own temp AIRFLOW_HOME and SQLite DB (`airflow db migrate` once),
FACTORY_HOME, FACTORY_RUNTIME=onprem and FACTORY_CACHE_DIR; a run is one fresh
`airflow dag-processor -n 1` (benchmarks/dag_processor_child.py: the CLI plus read-only
probes). An untimed first pass per variant writes the DAGs into its empty DB, so the
timed passes re-parse into a DB that holds them, as every pass after a deploy does.
Cold runs empty the cache folder first; warm runs keep what the previous pass left.
Variants alternate, the order rotating run by run; medians are reported. A run whose
DB does not hold exactly the expected DAGs and import errors aborts the benchmark.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import generate
import parse
from dag_processor_report import HAND, MIB, REPORTER, markdown, summary, targets

from factory.load.shards import Shard

HERE = Path(__file__).resolve().parent
CHILD = HERE / "dag_processor_child.py"
DEFAULT_RUNS = 3
BROKEN_SPEC = ("sales", "orders_rollup_broken")  # team, name: one extra spec with a typo in a key


@dataclass
class Variant:
    key: str
    label: str
    project: Path  # what AIRFLOW__CORE__DAGS_FOLDER/.. and FACTORY_HOME point at
    files: dict[str, tuple[int, int]]  # DAG file -> (DAGs, import errors) the DB must show
    cold: bool = False
    home: Path = Path()
    env: dict[str, str] = field(default_factory=dict)
    first_pass_s: float | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)


def export_revision(rev: str, dest: Path) -> str:
    """`git archive` of the factory package, dags/ and schemas/ at `rev` (read-only for the repository)."""
    archive = subprocess.run(
        ["git", "-C", str(parse.REPO), "archive", rev, "factory", "dags", "schemas"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise parse.BenchmarkError(f"git archive {rev}: {archive.stderr.decode()[-500:]}")
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return subprocess.run(
        ["git", "-C", str(parse.REPO), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()


def write_workloads(root: Path, n: int, src: Path) -> dict[str, Path]:
    """The projects (from generate.py): factory (both DAG files), factory plus one broken spec, hand-written.

    `src` holds the factory's dags/ and schemas/ to use (the repository, or an exported revision)."""
    items = generate.pipelines(n)
    dags = generate.write_factory_project(root / "factory", items)
    shutil.rmtree(root / "factory" / "schemas")
    shutil.copytree(src / "schemas", root / "factory" / "schemas")
    for old in dags.glob("factory_dags*.py"):  # generate.py copies this tree's loader files
        old.unlink()
    for path in [
        *sorted((src / "dags").glob("factory_dags*.py")),
        src / "dags" / REPORTER,
        src / "dags" / ".airflowignore",
    ]:
        if path.is_file():
            shutil.copy2(path, dags / path.name)
    broken = root / "factory-broken"
    shutil.copytree(root / "factory", broken)
    team, name = BROKEN_SPEC
    spec = generate.factory_spec(items[0]).replace("    memory: ", "    memroy: ")
    (broken / "specs" / team / f"{name}.yaml").write_text(spec)
    generate.write_handwritten(root / "hand", items)
    return {"factory": root / "factory", "broken": broken, "hand": root / "hand"}


def loader_counts(project: Path, dag_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Each loader file in the project's dags/ with the DAGs it must hold (and no import
    error): the loader files of factory/load/shards.py, or an older revision's one file."""
    found = {}
    for path in sorted((project / "dags").glob("factory_dags*.py")):
        shard = Shard.of_file(path.name)
        found[path.name] = (sum(1 for d in dag_ids if shard is None or shard.holds(d)), 0)
    return found


def variants(root: Path, n: int, quick: bool, src: Path) -> list[Variant]:
    p = write_workloads(root / "projects", n, src)
    loaders = loader_counts(p["factory"], [item.dag_id for item in generate.pipelines(n)])
    good, bad = {**loaders, REPORTER: (0, 0)}, {**loaders, REPORTER: (0, 1)}
    out = [
        Variant("hand", "hand-written Python", p["hand"], {HAND: (n, 0)}),
        Variant("factory_cold", "factory, cache cold", p["factory"], good, cold=True),
        Variant("factory_warm", "factory, cache warm", p["factory"], good),
        Variant("broken_cold", "factory + 1 broken spec, cache cold", p["broken"], bad, cold=True),
        Variant("broken_warm", "factory + 1 broken spec, cache warm", p["broken"], bad),
    ]
    return [v for v in out if not quick or v.key in ("hand", "factory_cold", "broken_warm")]


def prepare(v: Variant, root: Path, python: Path, base: dict[str, str]) -> None:
    """A private AIRFLOW_HOME with a freshly migrated SQLite DB, and the variant's environment."""
    v.home = root / v.key
    (v.home / "airflow").mkdir(parents=True)
    db = v.home / "airflow" / "airflow.db"
    cache = v.home / "cache"
    v.env = {
        **base,
        "AIRFLOW_HOME": str(v.home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(v.project / "dags"),
        "FACTORY_HOME": str(v.project),
        "FACTORY_CACHE_DIR": str(cache),
        "XDG_CACHE_HOME": str(cache / "xdg"),
        "FACTORY_BENCH_DP_PROBE": str(v.home / "probe.jsonl"),
    }
    proc = subprocess.run(
        [str(python), "-m", "airflow", "db", "migrate"],
        env=v.env,
        cwd=v.home,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise parse.BenchmarkError(f"{v.label}: airflow db migrate failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")


def run_pass(v: Variant, python: Path, tag: str) -> dict[str, Any]:
    """One `airflow dag-processor -n 1`; its probes, its DB, checked against what the variant must hold."""
    if v.cold:
        shutil.rmtree(Path(v.env["FACTORY_CACHE_DIR"]), ignore_errors=True)
    probe = Path(v.env["FACTORY_BENCH_DP_PROBE"])
    probe.unlink(missing_ok=True)
    log_path = v.home / f"{tag}.log"
    cmd = [str(python), "-P", str(CHILD), "dag-processor", "-n", "1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "w") as log:
        t = time.perf_counter()
        proc = subprocess.run(
            cmd, env=v.env, cwd=v.home, stdout=log, stderr=subprocess.STDOUT, timeout=900, check=False
        )
        wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise parse.BenchmarkError(f"{v.label}: dag-processor exit {proc.returncode}:\n{log_path.read_text()[-3000:]}")
    records = [json.loads(line) for line in probe.read_text().splitlines()]
    files: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["kind"] != "manager":
            files.setdefault(r["file"], {}).update({k: val for k, val in r.items() if k not in ("kind", "file")})
    manager = next(r for r in records if r["kind"] == "manager")
    check_db(v, files)
    for f in files.values():
        f["steps"] = {
            "start-up": f["parse_start"] - f["forked"],
            "stability check": f["stability_s"],
            "DagBag fill": f["serialize_start"] - f["dagbag_start"],
            "serialise": f["parse_end"] - f["serialize_start"],
            "send, exit": f["exit"] - f["parse_end"],
            "until collected": f["collected"] - f["exit"],
        }
    return {
        "wall_s": wall,
        "tree_cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "parse_phase_s": max(f["collected"] for f in files.values()) - min(f["forked"] for f in files.values()),
        "manager_maxrss_kib": manager["maxrss_kib"],
        "manager_cpu_s": manager["cpu_s"],
        "files": files,
    }


def check_db(v: Variant, files: dict[str, dict[str, Any]]) -> None:
    """Abort unless Airflow's DB and the probes show exactly the DAGs and errors expected."""
    db = sqlite3.connect(v.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    try:
        dags = db.execute(
            "SELECT relative_fileloc, count(*), min(last_parse_duration), max(last_parse_duration) "
            "FROM dag WHERE NOT is_stale GROUP BY relative_fileloc"
        ).fetchall()
        errors = db.execute("SELECT filename, stacktrace FROM import_error").fetchall()
    finally:
        db.close()
    got_dags = {row[0]: row[1] for row in dags}
    got_errors = {name: sum(1 for e in errors if e[0] == name) for name in v.files}
    want_dags = {name: want[0] for name, want in v.files.items() if want[0]}
    problems = []
    if got_dags != want_dags:
        problems.append(f"DAGs per file {got_dags}, expected {want_dags}")
    if got_errors != {name: want[1] for name, want in v.files.items()} or len(errors) != sum(got_errors.values()):
        problems.append(f"import errors {[(e[0], e[1][:300]) for e in errors]}")
    if set(files) != set(v.files) or any("run_duration_s" not in f or "exit" not in f for f in files.values()):
        problems.append(f"probes saw {sorted(files)}, expected {sorted(v.files)} each parsed once")
    for name, (want_n, want_err) in v.files.items():
        f = files.get(name, {})
        if (f.get("dags"), f.get("import_errors")) != (want_n, want_err):
            problems.append(f"{name}: the processor reported {f.get('dags')} DAGs, {f.get('import_errors')} errors")
    for fileloc, _, lo, hi in dags:
        # dag.last_parse_duration is the very run_duration the manager's stats hold.
        run = files.get(fileloc, {}).get("run_duration_s")
        if run is None or abs(lo - run) > 1e-6 or abs(hi - run) > 1e-6:
            problems.append(f"{fileloc}: dag.last_parse_duration {lo}..{hi} != run_duration {run}")
    for e in errors:
        if e[0] == REPORTER and f"{BROKEN_SPEC[1]}.yaml" not in e[1]:
            problems.append(f"the reporter's import error does not name the broken spec: {e[1][:300]}")
    if problems:
        raise parse.BenchmarkError(f"{v.label}: " + "; ".join(problems))


def measure(
    n: int,
    runs: int,
    work: Path,
    python: Path,
    log: Callable[[str], None],
    *,
    quick: bool,
    rev: str | None,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Every variant: migrate, one untimed pass, then `runs` timed passes, alternating.

    With `rev`, the factory package, dags/ and schemas/ come from that git revision
    (exported, put first on the processor's PYTHONPATH) instead of the working tree."""
    base = parse.base_env(work)
    base.pop("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT")  # the processor's own defaults: a slow parse is killed
    src, measured = parse.REPO, "the working tree"
    if rev is not None:
        src = work / "factory-src"
        measured = f"revision {rev} ({export_revision(rev, src)}, exported with git archive)"
        base["PYTHONPATH"] = str(src)
    vs = variants(work, n, quick, src)
    log(f"\n== DAG processor: `airflow dag-processor -n 1`, N={n}, {len(vs)} variants, {runs} run(s) each")
    log(f"  factory from {measured}")
    for v in vs:
        t = time.perf_counter()
        prepare(v, work / "homes", python, base)
        first = run_pass(v, python, "first-pass")
        v.first_pass_s = first["wall_s"]
        log(f"  migrate + first pass {v.label}: {time.perf_counter() - t:.1f} s (pass {first['wall_s']:.1f} s)")
    check_equivalence(vs)
    for r in range(runs):
        k = r % len(vs)
        for v in [*vs[k:], *vs[:k]]:
            res = run_pass(v, python, f"run-{r + 1}")
            v.runs.append(res)
            per_file = ", ".join(
                f"{name} {f['run_duration_s']:.2f} s ({f['cpu_s']:.2f} CPU, {f['maxrss_kib'] / MIB:.0f} MiB)"
                for name, f in sorted(res["files"].items())
            )
            log(f"  run {r + 1}/{runs} {v.label}: pass {res['wall_s']:.1f} s; {per_file}")
    out = {"n": n, "runs": runs, "factory": measured, "variants": {v.key: summary(v) for v in vs}}
    if profile_dir is not None:
        out["profiles"] = profile_reporter(vs, python, profile_dir, log)
    return out


_PROFILE = """
import cProfile, io, pstats, sys, time
import airflow
from airflow.dag_processing import manager  # what the processor's manager has imported before it forks
from airflow.dag_processing.dagbag import DagBag

prof = cProfile.Profile()
t = time.perf_counter()
prof.enable()
bag = DagBag(dag_folder=sys.argv[1], load_op_links=False)
prof.disable()
wall = time.perf_counter() - t
assert not bag.import_errors and not bag.dags, (bag.import_errors, bag.dags)
out = io.StringIO()
out.write(f"DagBag fill of {sys.argv[1]} under cProfile (which slows it down): {wall:.3f} s\\n")
for key in ("cumulative", "tottime"):
    pstats.Stats(prof, stream=out).sort_stats(key).print_stats(30)
open(sys.argv[2], "w").write(out.getvalue())
"""


def profile_reporter(vs: list[Variant], python: Path, out_dir: Path, log: Callable[[str], None]) -> dict[str, str]:
    """cProfile of the reporter's DagBag fill alone, in a fresh process, with the cache cold and warm."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for v in vs:
        if v.key not in ("factory_cold", "factory_warm"):
            continue
        temp = "cold" if v.cold else "warm"
        if v.cold:
            shutil.rmtree(Path(v.env["FACTORY_CACHE_DIR"]), ignore_errors=True)
        path = out_dir / f"profile-reporter-{temp}.txt"
        cmd = [str(python), "-P", "-c", _PROFILE, str(v.project / "dags" / REPORTER), str(path)]
        proc = subprocess.run(cmd, env=v.env, cwd=v.home, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise parse.BenchmarkError(f"profile of the reporter failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        written[temp] = str(path.relative_to(parse.REPO) if path.is_relative_to(parse.REPO) else path)
        log(f"  reporter profile, cache {temp}: {path.read_text().splitlines()[0]} -> {written[temp]}")
    return written


def dag_shapes(v: Variant) -> dict[str, dict[str, list[str]]]:
    """Per DAG in the variant's DB: each task and the tasks downstream of it, from the serialised DAG."""
    db = sqlite3.connect(v.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    try:
        rows = db.execute("SELECT dag_id, data, data_compressed FROM serialized_dag").fetchall()
    finally:
        db.close()
    shapes = {}
    for dag_id, data, compressed in rows:
        tasks = json.loads(data if data is not None else zlib.decompress(compressed))["dag"]["tasks"]
        shapes[dag_id] = {t["__var"]["task_id"]: sorted(t["__var"].get("downstream_task_ids", [])) for t in tasks}
    return shapes


def check_equivalence(vs: list[Variant]) -> None:
    """Abort unless every factory variant serialised the same DAGs, tasks and edges as the hand-written file
    (the DagBag harness compares more fields; this catches a compiler that no longer matches generate.py)."""
    hand = dag_shapes(vs[0])
    for v in vs[1:]:
        shapes = dag_shapes(v)
        diff = [d for d in sorted(set(hand) | set(shapes)) if hand.get(d) != shapes.get(d)]
        if diff:
            raise parse.BenchmarkError(
                f"{v.label}: {len(diff)} DAGs differ from the hand-written ones, e.g. {diff[0]}: "
                f"{shapes.get(diff[0])} vs {hand.get(diff[0])}. The factory's compiler changed: update "
                "benchmarks/generate.py, or measure a committed revision with --factory-rev."
            )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="generated specs (default 1000)")
    ap.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"timed passes per variant ({DEFAULT_RUNS})")
    ap.add_argument("--quick", action="store_true", help="smoke run: N=20, 1 run, 3 variants")
    ap.add_argument("--python", default=str(parse.REPO / ".venv" / "bin" / "python"), help="the project's Python")
    ap.add_argument("--results", default=str(HERE / "results"), help="where dag-processor.json/.md go")
    ap.add_argument("--workdir", help="keep the projects, DBs and logs there (default: a temp dir, removed)")
    ap.add_argument("--factory-rev", help="measure the factory, dags/ and schemas/ of this git revision (git archive)")
    ap.add_argument("--profile-reporter", action="store_true", help="also cProfile the reporter's parse (cold, warm)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.runs = min(args.n, 20), 1
    python = Path(args.python)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="factory-dp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/dag_processor.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command.strip(),
        "quick": args.quick,
        "machine": parse.machine(parse.Pythons(project=python, bench=None)),
    }
    started = time.perf_counter()
    try:
        profile_dir = Path(args.results) if args.profile_reporter else None
        results["dag_processor"] = measure(
            args.n, args.runs, work, python, print, quick=args.quick, rev=args.factory_rev, profile_dir=profile_dir
        )
    except parse.BenchmarkError as exc:
        print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
        return 3
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    finish(results, Path(args.results))
    return 0


def finish(results: dict[str, Any], out_dir: Path) -> str:
    """Targets, then dag-processor.json and .md (dag-processor-quick.* for a smoke run); returns the table."""
    results["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["targets"] = targets(results["dag_processor"])
    results["profiles"] = results["dag_processor"].pop("profiles", None)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "dag-processor-quick" if results["quick"] else "dag-processor"
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    (out_dir / f"{stem}.md").write_text(table)
    print("\n" + table)
    print(f"({results.get('elapsed_s', '?')} s; written to {out_dir / stem}.json and .md)")
    return table


if __name__ == "__main__":
    sys.exit(main())
