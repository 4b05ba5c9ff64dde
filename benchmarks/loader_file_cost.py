"""What one DAG file costs Airflow's DAG processor, by how many DAGs it holds.

    python benchmarks/loader_file_cost.py --n 20000 --counts 16,32,64   # about 2 minutes
    python benchmarks/loader_file_cost.py --quick                      # N = 200: a smoke run

How many loader files to ship (factory/load/shards.py) trades a fixed cost per file on
every pass against the memory of a file processor, which holds all its file's DAGs at
once. This measures both sides in processes forked the way Airflow 3.3's manager forks
them: Airflow imported, `gc.freeze()`, the file's body-level `airflow.*` imports
pre-imported (`_pre_import_airflow_modules`), then `os.fork()`; the child runs what
`_parse_file` runs, a DagBag fill of the one file and `_serialize_dags`. Per file: its
DAGs, the child's CPU, its private memory at the end (smaps_rollup: the pages it no
longer shares with the parent) and the modules it imported after the fork.

For N specs (benchmarks/generate.py): loader file 1 of each count in --counts, each
alone in its own dags folder (so it holds about N/count DAGs), one holding about one DAG
(its count is N / 2), and hand-written file 1 of the same DAGs, 250 to a file, as
benchmarks/scale.py writes them. Medians of --runs forks. It is not the DAG processor:
benchmarks/scale.py is; this isolates the file processor's share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import generate
import parse

from factory.load.shards import LOADER_FILES

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import gc, importlib, json, logging, os, resource, sys
import airflow.dag_processing.manager, airflow.dag_processing.processor
from airflow.dag_processing.dagbag import DagBag
from airflow.dag_processing.processor import _serialize_dags
from airflow.utils.file import iter_airflow_imports

path, runs = sys.argv[1], int(sys.argv[2])
for module in iter_airflow_imports(path):
    importlib.import_module(module)
gc.freeze()
before = set(sys.modules)
for _ in range(runs):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        bag = DagBag(dag_folder=path, load_op_links=False)
        _serialize_dags(bag, logging.getLogger("bench"))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        mem = {}
        for line in open("/proc/self/smaps_rollup"):
            key = line.split(":")[0]
            if key in ("Private_Clean", "Private_Dirty"):
                mem[key] = int(line.split()[1])
        out = {"dags": len(bag.dags), "import_errors": len(bag.import_errors),
               "cpu_s": usage.ru_utime + usage.ru_stime, "private_kib": sum(mem.values()),
               "modules": len(set(sys.modules) - before)}
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as got:
        print(got.read(), flush=True)
"""


def measure_file(python: Path, path: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", _CHILD, str(path), str(runs)], env=env, capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise parse.BenchmarkError(f"{path.name}: {done.stderr[-2000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {
        "dags": rows[0]["dags"],
        "import_errors": rows[0]["import_errors"],
        "cpu_s": statistics.median(r["cpu_s"] for r in rows),
        "private_mib": statistics.median(r["private_kib"] for r in rows) / 1024,
        "modules": rows[0]["modules"],
        "runs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--counts", default="16,32,64", help="loader file counts to measure one file of")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="N=200, counts 16, one run: a smoke run")
    ap.add_argument("--python", default=str(parse.REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    n, counts, runs = (200, [16], 1) if args.quick else (args.n, [int(c) for c in args.counts.split(",")], args.runs)
    loader = (parse.REPO / "dags" / LOADER_FILES[0]).read_text()
    with tempfile.TemporaryDirectory(prefix="factory-file-cost-") as tmp:
        work = Path(tmp)
        items = generate.pipelines(n)
        generate.write_factory_project(work / "factory", items)
        hand = generate.write_handwritten(work / "hand", items, per_file=250)
        env = parse.base_env(work)
        env.update({"FACTORY_HOME": str(work / "factory"), "FACTORY_CACHE_DIR": str(work / "cache")})
        cases: list[tuple[str, Path]] = []
        for count in [*counts, n // 2]:
            folder = work / "factory" / f"dags-{count}"
            folder.mkdir()
            (folder / f"factory_dags_1_of_{count}.py").write_text(loader)
            cases.append((f"factory, 1 of {count} files", folder / f"factory_dags_1_of_{count}.py"))
        cases.append(("hand-written, 250 a file", sorted(hand.glob("*.py"))[0]))
        measure_file(Path(args.python), cases[0][1], env, 1)  # warm the spec cache and the OS's
        results = {label: measure_file(Path(args.python), path, env, runs) for label, path in cases}
    lines = [
        f"`python benchmarks/loader_file_cost.py {' '.join(argv if argv is not None else sys.argv[1:])}`, "
        f"N = {n}, medians of {runs}",
        "",
        "| file | DAGs | CPU | private memory at the end | modules imported after the fork |",
        "|---|--:|--:|--:|--:|",
    ]
    for label, r in results.items():
        lines.append(f"| {label} | {r['dags']} | {r['cpu_s']:.2f} s | {r['private_mib']:.0f} MiB | {r['modules']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out, stem = Path(args.results), "loader-file-cost" + ("-quick" if args.quick else "")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps({"n": n, "results": results}, indent=1) + "\n")
    (out / f"{stem}.md").write_text(text)
    # Every file must load without error, and each of --counts hold DAGs.
    bad = [label for label, r in results.items() if r["import_errors"]]
    bad += [label for label, _ in cases[: len(counts)] if not results[label]["dags"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
