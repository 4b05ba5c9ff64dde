"""Parse-time benchmark of the factory against hand-written DAGs and dag-factory (issue 6).

    python benchmarks/parse.py                 # everything at N=1000, 5 runs (~12 min)
    python benchmarks/parse.py --quick         # small-N smoke run (~35 s)
    python benchmarks/parse.py --only full,task --runs 3

Every measurement is a fresh process (benchmarks/child.py) that imports Airflow,
then fills a DagBag; the DagBag fill is timed apart from `import airflow`. The
contenders of a scenario are run in turn, run after run, in a rotating order, so
that load from elsewhere on the machine hits them alike; the table reports
medians and ratios of medians, and checks them against the targets of issue 6.
A run whose DagBag has import errors or the wrong DAGs aborts the benchmark: a
timing of a broken parse means nothing. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import generate

from factory.load.shards import loader_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHILD = HERE / "child.py"
RESULT_MARK = "BENCHMARK-RESULT "
SCENARIOS = ("full", "task", "lint", "scaling", "profile", "dagprocessor")
# The DAG processor scenario (benchmarks/dag_processor.py, ~8 min more) runs when asked for.
DEFAULT_SCENARIOS = ("full", "task", "lint", "scaling", "profile")
# The wall Airflow kills a DAG file at (`[core] dagbag_import_timeout`). Children
# run with a larger timeout so a slow parse is measured, and is flagged instead.
AIRFLOW_IMPORT_TIMEOUT_S = 30.0
# Above this 1-minute load average, other work competes for the CPUs and the report says so.
BUSY_LOAD = 1.0


class BenchmarkError(Exception):
    """The benchmark cannot produce a meaningful number (broken parse, missing tool)."""


# ---------------------------------------------------------------------------
# environments and measurements


@dataclass(frozen=True)
class Pythons:
    project: Path  # the repository's .venv: Airflow + providers + factory
    bench: Path | None  # .cache/bench-venv: the same lock plus dag-factory, check-jsonschema, pyinstrument


@dataclass
class Contender:
    """One thing being timed in a scenario."""

    key: str
    label: str
    python: Path
    target: Path  # dags folder or DAG file the DagBag is filled from
    expect_dags: int | None  # exact DAG count, or None to only require `expect_dag_id`
    expect_dag_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    worker: bool = False  # parse as the task runner does (safe_mode off)
    before_each: Callable[[], None] | None = None  # e.g. empty the cache for a cold run
    fills_cache: bool = False  # a warm-cache contender: its first, untimed run fills the cache
    samples: list[dict[str, Any]] = field(default_factory=list)


def base_env(work: Path) -> dict[str, str]:
    """The environment every child gets: ours, minus anything that changes what is parsed."""
    dropped = ("AIRFLOW__", "_AIRFLOW_PARSING_CONTEXT", "FACTORY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    for key in ("AIRFLOW_HOME", "PYTHONPATH", "AIRFLOW_ENV_NAME", "MWAA_AIRFLOW_COMPONENT", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    env.update(
        {
            # A private Airflow home: the first child writes airflow.cfg there (in the
            # untimed warm-up), and no developer's config or DB changes the numbers.
            "AIRFLOW_HOME": str(work / "airflow_home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "900",
            "FACTORY_RUNTIME": "onprem",
            # dag-factory sends usage telemetry over the network unless told not to.
            "DO_NOT_TRACK": "True",
            "SCARF_NO_ANALYTICS": "True",
            "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
        }
    )
    return env


def run_child(
    contender: Contender, env: dict[str, str], *, fingerprint: bool = False, profile: Path | None = None
) -> dict[str, Any]:
    """One fresh process filling a DagBag; returns its report after checking the parse was whole."""
    if contender.before_each is not None:
        contender.before_each()
    # -P: do not put benchmarks/ on sys.path, so the child imports only Airflow and the DAG files.
    cmd = [str(contender.python), "-P", str(CHILD), str(contender.target)]
    if fingerprint:
        cmd.append("--fingerprint")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    if contender.worker:
        cmd.append("--worker")
    proc = subprocess.run(cmd, env={**env, **contender.env}, capture_output=True, text=True, timeout=1800, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        # Airflow logs to stdout: show the end of both.
        output = f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        raise BenchmarkError(f"{contender.label}: child failed (exit {proc.returncode}):\n{output}")
    report: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    if report["import_errors"]:
        raise BenchmarkError(f"{contender.label}: import errors: {json.dumps(report['import_errors'], indent=1)}")
    if contender.expect_dags is not None and report["dags"] != contender.expect_dags:
        raise BenchmarkError(f"{contender.label}: {report['dags']} DAGs, expected {contender.expect_dags}")
    if contender.expect_dag_id is not None and contender.expect_dag_id not in (report["dag_ids"] or []):
        raise BenchmarkError(
            f"{contender.label}: expected DAG {contender.expect_dag_id}, got {report['dags']} DAG(s): "
            f"{report['dag_ids'] or 'more than 5'}"
        )
    return report


def alternate(
    contenders: Sequence[Contender], runs: int, env: dict[str, str], log: Callable[[str], None], *, fingerprint: bool
) -> dict[str, Any]:
    """Timed runs, each contender once per round, the order rotating round by round.

    With `fingerprint`, the first round also returns each contender's DAG fingerprints
    (computed after the timing and the peak-RSS reading, so they cost nothing measured)."""
    prints = {}
    for r in range(runs):
        k = r % len(contenders)
        for c in [*contenders[k:], *contenders[:k]]:
            report = run_child(c, env, fingerprint=fingerprint and r == 0)
            if "fingerprint" in report:
                prints[c.key] = report.pop("fingerprint")
            c.samples.append(report)
            rss_mib = report["maxrss_kib"] / 1024
            log(f"  run {r + 1}/{runs} {c.label}: parse {report['parse_s']:.3f} s, {rss_mib:.0f} MiB")
    return prints


def warm_up(
    contenders: Sequence[Contender], env: dict[str, str], log: Callable[[str], None], *, quick: bool
) -> dict[str, Any]:
    """One untimed run each: writes airflow.cfg and .pyc files, fills OS caches and warm
    factory caches, and returns each contender's DAG fingerprints for the equivalence check.

    In quick mode only the runs that fill a warm cache are made (the rest is not worth
    the 2-3 s of `import airflow` each), and no fingerprints are returned."""
    prints = {}
    for c in contenders:
        if quick and not c.fills_cache:
            continue
        t = time.perf_counter()
        report = run_child(c, env, fingerprint=not quick)
        if "fingerprint" in report:
            prints[c.key] = report["fingerprint"]
        log(f"  warm-up {c.label}: {time.perf_counter() - t:.1f} s")
    return prints


def summary(c: Contender) -> dict[str, Any]:
    parse = [s["parse_s"] for s in c.samples]
    rss = [s["maxrss_kib"] / 1024 for s in c.samples]
    delta = [(s["maxrss_kib"] - s["rss_after_import_kib"]) / 1024 for s in c.samples]
    imports = [s["import_s"] for s in c.samples]
    # CPU seconds of the parse: less sensitive than wall time to other load on the machine.
    cpu = [s["parse_cpu_s"] for s in c.samples if "parse_cpu_s" in s]
    return {
        "label": c.label,
        "python": str(c.python),
        "runs": len(c.samples),
        "parse_s": parse,
        "parse_median_s": statistics.median(parse),
        "parse_min_s": min(parse),
        "parse_max_s": max(parse),
        "parse_cpu_median_s": statistics.median(cpu) if cpu else None,
        "import_median_s": statistics.median(imports),
        "peak_rss_median_mib": statistics.median(rss),
        "parse_rss_growth_median_mib": statistics.median(delta),
        "dags": c.samples[-1]["dags"],
    }


# ---------------------------------------------------------------------------
# equivalence: the three renderings must build the same DAGs


def compare_fingerprints(reference: dict[str, Any], other: dict[str, Any], label: str) -> list[str]:
    """Differences between two sets of DAG fingerprints (the first few)."""
    problems = []
    if set(reference) != set(other):
        missing, extra = sorted(set(reference) - set(other)), sorted(set(other) - set(reference))
        return [f"{label}: DAG ids differ (missing {missing[:3]}, extra {extra[:3]})"]
    for dag_id in sorted(reference):
        a, b = reference[dag_id], other[dag_id]
        for key in a:
            if key == "tasks":
                continue
            if a[key] != b[key]:
                problems.append(f"{label}: {dag_id}.{key}: {a[key]!r} != {b[key]!r}")
        if set(a["tasks"]) != set(b["tasks"]):
            problems.append(f"{label}: {dag_id} tasks {sorted(a['tasks'])} != {sorted(b['tasks'])}")
            continue
        for task_id, ta in a["tasks"].items():
            tb = b["tasks"][task_id]
            for key in ta:
                if ta[key] != tb[key]:
                    problems.append(f"{label}: {dag_id}.{task_id}.{key}: {ta[key]!r} != {tb[key]!r}")
        if len(problems) > 10:
            break
    return problems


# ---------------------------------------------------------------------------
# scenarios


@dataclass
class Bench:
    args: argparse.Namespace
    pythons: Pythons
    work: Path
    env: dict[str, str]
    results: dict[str, Any]
    use_dagfactory: bool
    use_check_jsonschema: bool

    def log(self, text: str) -> None:
        print(text, flush=True)

    def cache_dir(self, name: str) -> Path:
        return self.work / "caches" / name

    def factory_contender(self, key: str, label: str, project: Path, n: int, *, cold: bool, **extra: Any) -> Contender:
        """The factory parsing `project`, with its cache emptied before every run when cold."""
        cache = self.cache_dir(key)
        # XDG_CACHE_HOME too: should the core pick a default cache location under
        # ~/.cache while FACTORY_CACHE_DIR is unset, a cold run must still be cold.
        env = {"FACTORY_HOME": str(project), "FACTORY_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(cache / "xdg")}
        env.update(extra.pop("env", {}))
        before: Callable[[], None] | None = None
        if cold:
            files_at_start = _tree(project)

            def empty_cache() -> None:
                shutil.rmtree(cache, ignore_errors=True)
                # Anything the factory wrote inside the project (a cache beside the
                # specs) would make the next "cold" run warm: remove it too.
                for stray in sorted(_tree(project) - files_at_start, reverse=True):
                    (shutil.rmtree if stray.is_dir() else Path.unlink)(stray)

            before = empty_cache

        return Contender(
            key=key,
            label=label,
            python=self.pythons.project,
            target=project / "dags",
            expect_dags=n,
            env=env,
            before_each=before,
            fills_cache=not cold,
            **extra,
        )

    # -- (a) full parse and (c) peak memory ---------------------------------

    def scenario_full(self) -> None:
        n, runs = self.args.n, self.args.runs
        self.log(f"\n== full parse, N={n}: factory cache cold/warm, hand-written, dag-factory ({runs} runs)")
        items = generate.pipelines(n)
        root = self.work / f"full-{n}"
        generate.write_factory_project(root / "factory-cold", items)
        shutil.copytree(root / "factory-cold", root / "factory-warm")
        hand = generate.write_handwritten(root / "handwritten", items)
        contenders = [
            self.factory_contender("full_factory_cold", "factory, cache cold", root / "factory-cold", n, cold=True),
            self.factory_contender("full_factory_warm", "factory, cache warm", root / "factory-warm", n, cold=False),
            Contender("full_handwritten", "hand-written Python", self.pythons.project, hand, n),
        ]
        if self.use_dagfactory:
            assert self.pythons.bench is not None
            df = generate.write_dagfactory(root / "dagfactory", items)
            contenders.append(Contender("full_dagfactory", "dag-factory 1.1.0", self.pythons.bench, df, n))
        quick = self.args.quick
        prints = warm_up(contenders, self.env, self.log, quick=quick)
        if not quick:  # a full run checks before spending minutes on timings
            self.check_equivalence(prints)
        prints.update(alternate(contenders, runs, self.env, self.log, fingerprint=quick))
        if quick:  # a smoke run fingerprints its one timed round instead of warm-ups
            self.check_equivalence(prints)
        self.results["scenarios"]["full"] = {"n": n, "contenders": {c.key: summary(c) for c in contenders}}

    def check_equivalence(self, prints: dict[str, Any]) -> None:
        """Abort unless every contender built the same DAGs as the hand-written file."""
        problems = compare_fingerprints(prints["full_handwritten"], prints["full_factory_cold"], "factory")
        problems += compare_fingerprints(prints["full_factory_cold"], prints["full_factory_warm"], "factory warm")
        if "full_dagfactory" in prints:
            problems += compare_fingerprints(prints["full_handwritten"], prints["full_dagfactory"], "dag-factory")
        if problems:
            raise BenchmarkError("the contenders do not build the same DAGs:\n" + "\n".join(problems[:20]))
        self.log("  equivalence: all contenders build the same DAGs")

    # -- (b) task start ------------------------------------------------------

    def scenario_task(self) -> None:
        n, runs = self.args.n, self.args.runs
        items = generate.pipelines(n)
        # The last spec in file order: a scan that stops at the first match cannot look O(1).
        target = max(items, key=lambda p: (p.team, p.name))
        self.log(f"\n== task start of {target.dag_id}: N={n} vs a folder holding that one spec ({runs} runs)")
        root = self.work / f"task-{n}"
        # One copy per contender: a cold contender may delete what the core wrote
        # inside its project, which must not make a warm contender cold.
        generate.write_factory_project(root / "n-warm", items)
        shutil.copytree(root / "n-warm", root / "n-cold")
        generate.write_single_spec_project(root / "1-warm", root / "n-warm", target.dag_id)
        shutil.copytree(root / "1-warm", root / "1-cold")
        hand = generate.write_handwritten(root / "handwritten", items) / "handwritten_dags.py"
        # What the task runner sets around its parse (sdk/execution_time/task_runner.py:
        # _airflow_parsing_context_manager), read back by get_parsing_context().
        context = {"_AIRFLOW_PARSING_CONTEXT_DAG_ID": target.dag_id, "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "load"}
        contenders = []
        # A smoke run only checks that the fast path is taken (warm cache).
        for temp in ("warm",) if self.args.quick else ("warm", "cold"):
            for size in (n, 1):
                project = root / f"{'n' if size == n else '1'}-{temp}"
                c = self.factory_contender(
                    f"task_{temp}_n{size}",
                    f"factory, cache {temp}, {size} spec(s)",
                    project,
                    n,
                    cold=temp == "cold",
                    env=dict(context),
                    worker=True,
                )
                # The worker parses the DAG's own file (the loader file holding it), not the folder.
                c.target = project / "dags" / loader_file(target.dag_id)
                c.expect_dags, c.expect_dag_id = None, target.dag_id
                contenders.append(c)
        if not self.args.quick:
            # For reference: a hand-written file has no fast path, a worker parses all of it.
            contenders.append(
                Contender(
                    "task_handwritten",
                    f"hand-written file, all {n} DAGs",
                    self.pythons.project,
                    hand,
                    n,
                    env=dict(context),
                    worker=True,
                )
            )
        warm_up(contenders, self.env, self.log, quick=self.args.quick)
        alternate(contenders, runs, self.env, self.log, fingerprint=False)
        self.results["scenarios"]["task"] = {
            "n": n,
            "dag_id": target.dag_id,
            "contenders": {c.key: summary(c) for c in contenders},
        }

    # -- (d) lint -------------------------------------------------------------

    def scenario_lint(self) -> None:
        n, runs = self.args.n, self.args.runs
        self.log(f"\n== lint {n} specs: factory lint vs check-jsonschema ({runs} runs, wall time incl. start-up)")
        project = self.work / f"lint-{n}"
        generate.write_factory_project(project, generate.pipelines(n))
        factory_bin = self.pythons.project.parent / "factory"
        cache = self.cache_dir("lint")
        lint_env = {**self.env, "FACTORY_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(cache / "xdg")}
        commands: dict[str, tuple[str, list[list[str]]]] = {
            # CI lints a fresh checkout: the cache is emptied before every run.
            "lint_factory": ("factory lint specs/", [[str(factory_bin), "lint", "specs"]]),
        }
        if self.use_check_jsonschema:
            assert self.pythons.bench is not None
            cjs = str(self.pythons.bench.parent / "check-jsonschema")
            schemas = project / "schemas"
            spec_files = [str(p.relative_to(project)) for p in sorted(project.glob("specs/*/[!_]*.yaml"))]
            defaults_files = [str(p.relative_to(project)) for p in sorted(project.glob("specs/*/_defaults.yaml"))]

            # The schemas' $id is https://factory.invalid/...; --base-uri makes their relative
            # $refs resolve to the local files instead of the network.
            def cjs_command(schema: str, files: list[str]) -> list[str]:
                path = schemas / schema
                return [cjs, "--schemafile", str(path), "--base-uri", path.as_uri(), *files]

            commands["lint_check_jsonschema"] = (
                "check-jsonschema (specs, then defaults)",
                [cjs_command("spec.schema.json", spec_files), cjs_command("defaults.schema.json", defaults_files)],
            )

        cpu: dict[str, list[float]] = {key: [] for key in commands}

        def once(key: str) -> float:
            shutil.rmtree(cache, ignore_errors=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            for cmd in commands[key][1]:
                proc = subprocess.run(cmd, cwd=project, env=lint_env, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise BenchmarkError(
                        f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
                    )
            wall = time.perf_counter() - start
            # CPU of the finished children (user + system), as for the parse runs.
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[key].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return wall

        for key in commands:  # warm-up: .pyc files and OS caches
            once(key)
            cpu[key].clear()
        samples: dict[str, list[float]] = {key: [] for key in commands}
        keys = list(commands)
        for r in range(runs):
            k = r % len(keys)
            for key in [*keys[k:], *keys[:k]]:
                samples[key].append(once(key))
                self.log(f"  run {r + 1}/{runs} {commands[key][0]}: {samples[key][-1]:.3f} s")
        # `python -X importtime` lists every module imported: lint must not import Airflow.
        proc = subprocess.run(
            [str(self.pythons.project), "-X", "importtime", "-m", "factory", "lint", "specs"],
            cwd=project,
            env=lint_env,
            capture_output=True,
            text=True,
            check=False,
        )
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
        airflow_modules = sorted(m for m in imported if m == "airflow" or m.startswith("airflow."))
        self.results["scenarios"]["lint"] = {
            "n": n,
            "contenders": {
                key: {
                    "label": commands[key][0],
                    "runs": runs,
                    "wall_s": samples[key],
                    "wall_median_s": statistics.median(samples[key]),
                    "wall_min_s": min(samples[key]),
                    "wall_max_s": max(samples[key]),
                    "cpu_median_s": statistics.median(cpu[key]),
                }
                for key in commands
            },
            "lint_imports_airflow": bool(airflow_modules),
            "airflow_modules_imported": airflow_modules[:10],
        }

    # -- (e) scaling -------------------------------------------------------------

    def scenario_scaling(self) -> None:
        ns, runs = self.args.scaling_ns, self.args.scaling_runs
        self.log(f"\n== scaling: factory per-spec cost at N={ns}, cache cold and warm ({runs} runs)")
        contenders = []
        for n in ns:
            items = generate.pipelines(n)
            root = self.work / f"scaling-{n}"
            generate.write_factory_project(root / "cold", items)
            shutil.copytree(root / "cold", root / "warm")
            contenders.append(
                self.factory_contender(f"scale_cold_{n}", f"factory, cold, N={n}", root / "cold", n, cold=True)
            )
            if not self.args.quick:  # a smoke run exercises the cold path only
                contenders.append(
                    self.factory_contender(f"scale_warm_{n}", f"factory, warm, N={n}", root / "warm", n, cold=False)
                )
        warm_up(contenders, self.env, self.log, quick=self.args.quick)
        alternate(contenders, runs, self.env, self.log, fingerprint=False)
        out: dict[str, Any] = {"ns": ns, "contenders": {}}
        for c in contenders:
            s = summary(c)
            s["n"] = c.expect_dags
            s["per_spec_ms"] = 1000 * s["parse_median_s"] / s["n"]
            out["contenders"][c.key] = s
        self.results["scenarios"]["scaling"] = out

    # -- profile ----------------------------------------------------------------

    def scenario_profile(self) -> None:
        if self.pythons.bench is None:
            self.log("\n== profile: skipped (no bench venv: run benchmarks/setup-venv)")
            return
        n = self.args.n
        self.log(f"\n== profile: pyinstrument over the factory's DagBag fill, N={n}, cache cold and warm")
        project = self.work / f"profile-{n}"
        generate.write_factory_project(project, generate.pipelines(n))
        out_dir = Path(self.args.results)
        out_dir.mkdir(parents=True, exist_ok=True)
        c = self.factory_contender("profile", "factory (profiled)", project, n, cold=True)
        c.python = self.pythons.bench  # pyinstrument lives in the bench venv, not in the project lock
        run_child(c, self.env)  # .pyc files
        cache_before = c.before_each
        reports = {}
        for temp in ("cold", "warm"):
            path = out_dir / f"profile-{temp}{'-quick' if self.args.quick else ''}.txt"
            c.before_each = cache_before if temp == "cold" else None
            report = run_child(c, self.env, profile=path)
            reports[temp] = {"file": str(path.relative_to(REPO)), "parse_s": report["parse_s"]}
            self.log(f"  {temp}: {report['parse_s']:.2f} s under the profiler -> {path.relative_to(REPO)}")
        self.results["scenarios"]["profile"] = {"n": n, "reports": reports}

    # -- the DAG processor ---------------------------------------------------------

    def scenario_dagprocessor(self) -> None:
        """Airflow's own `dag-processor -n 1` over both factory DAG files vs hand-written; its own result files."""
        import dag_processor  # it imports this module

        runs = 1 if self.args.quick else dag_processor.DEFAULT_RUNS
        try:
            res = dag_processor.measure(
                self.args.n,
                runs,
                self.work / "dag-processor",
                self.pythons.project,
                self.log,
                quick=self.args.quick,
                rev=None,
            )
        except dag_processor.parse.BenchmarkError as exc:  # that module's class, not __main__'s
            raise BenchmarkError(str(exc)) from None
        keys = ("started", "command", "quick")
        dp = {k: self.results[k] for k in keys} | {"machine": dict(self.results["machine"]), "dag_processor": res}
        dag_processor.finish(dp, Path(self.args.results))
        self.results["scenarios"]["dagprocessor"] = {"targets": dp["targets"], "n": res["n"], "runs": runs}


def _tree(root: Path) -> set[Path]:
    """Every file and folder under root, but .pyc folders (keeping those is not a warm cache)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.update(Path(folder) / name for name in (*dirs, *files))
    return found


# ---------------------------------------------------------------------------
# targets and report


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 6's targets, each with its measured value and PASS/FAIL (or n/a when not run).

    Time targets are judged on wall-time medians, as the issue states them; the ratio of
    CPU-time medians is reported beside them because it moves less when something else
    runs on the machine."""
    sc = results["scenarios"]
    rows: list[dict[str, Any]] = []

    def add(ident: str, what: str, value: float | None, op: str, limit: float, unit: str = "x", **extra: Any) -> None:
        ok = None if value is None else (value <= limit if op == "<=" else value >= limit)
        row = {"id": ident, "target": what, "value": value, "op": op, "limit": limit, "unit": unit, "pass": ok}
        rows.append(row | extra)

    def ratio(group: dict[str, Any], a: str, b: str, field_: str) -> float | None:
        return _ratio(group.get(a, {}).get(field_), group.get(b, {}).get(field_))

    def add_time_ratio(ident: str, what: str, group: dict[str, Any], a: str, b: str, op: str, limit: float) -> None:
        wall, cpu = ratio(group, a, b, "parse_median_s"), ratio(group, a, b, "parse_cpu_median_s")
        add(ident, what, wall, op, limit, cpu_value=cpu)

    full = sc.get("full", {}).get("contenders", {})
    add_time_ratio(
        "1a", "full parse, cache cold / hand-written", full, "full_factory_cold", "full_handwritten", "<=", 1.3
    )
    add_time_ratio(
        "1b", "full parse, cache warm / hand-written", full, "full_factory_warm", "full_handwritten", "<=", 1.1
    )
    add_time_ratio("1c", "dag-factory / factory cache cold", full, "full_dagfactory", "full_factory_cold", ">=", 3.0)
    add_time_ratio("1d", "dag-factory / factory cache warm", full, "full_dagfactory", "full_factory_warm", ">=", 3.0)
    task, task_n = sc.get("task", {}).get("contenders", {}), sc.get("task", {}).get("n")
    for temp, ident in (("warm", "2a"), ("cold", "2b")):
        what = f"task start, cache {temp}: N specs / 1 spec"
        add_time_ratio(ident, what, task, f"task_{temp}_n{task_n}", f"task_{temp}_n1", "<=", 1.1)
    for temp, ident in (("cold", "3a"), ("warm", "3b")):
        what = f"peak RSS, cache {temp} / hand-written"
        add(ident, what, ratio(full, f"full_factory_{temp}", "full_handwritten", "peak_rss_median_mib"), "<=", 1.2)
    lint = sc.get("lint", {})
    lc = lint.get("contenders", {})
    add("4a", "factory lint wall time (s)", lc.get("lint_factory", {}).get("wall_median_s"), "<=", 1.0, "s")
    add(
        "4b",
        "check-jsonschema / factory lint",
        ratio(lc, "lint_check_jsonschema", "lint_factory", "wall_median_s"),
        ">=",
        2.0,
        cpu_value=ratio(lc, "lint_check_jsonschema", "lint_factory", "cpu_median_s"),
    )
    if lint:
        airflow = lint["airflow_modules_imported"]
        text = ", ".join(airflow) if airflow else "no airflow module"
        add("4c", "factory lint imports no Airflow", None, "==", 0, "", text=text)
        rows[-1]["pass"] = not lint["lint_imports_airflow"]
    scaling = sc.get("scaling", {})
    for temp, ident in (("cold", "5a"), ("warm", "5b")):
        what = f"scaling, cache {temp}: marginal ms/spec, last step / first step"
        wall, cpu = (
            _marginal_ratio(scaling, temp, "parse_median_s"),
            _marginal_ratio(scaling, temp, "parse_cpu_median_s"),
        )
        add(ident, what, wall, "<=", 1.2, cpu_value=cpu)
    return rows


def _marginal_ratio(scaling: dict[str, Any], temp: str, field_: str) -> float | None:
    """How much the cost of one more spec grows between the first and the last step of N.

    Per-spec cost T(N)/N falls with N while fixed costs (provider imports) are spread
    out, so flatness is judged on the marginal cost: (T(N2)-T(N1))/(N2-N1). A quadratic
    step anywhere makes the last step's marginal cost grow with N."""
    ns = scaling.get("ns") or []
    if len(ns) < 3:
        return None
    if any(f"scale_{temp}_{n}" not in scaling["contenders"] for n in ns):
        return None
    t = {n: scaling["contenders"][f"scale_{temp}_{n}"][field_] for n in ns}
    if any(v is None for v in t.values()):
        return None
    first = (t[ns[1]] - t[ns[0]]) / (ns[1] - ns[0])
    last = (t[ns[-1]] - t[ns[-2]]) / (ns[-1] - ns[-2])
    return last / first if first > 0 else None


def _fmt_s(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _fmt_value(row: dict[str, Any]) -> str:
    if "text" in row:
        return row["text"]
    if row["value"] is None:
        return "n/a"
    return f"{row['value']:.2f}{' s' if row['unit'] == 's' else 'x'}"


def _fmt_result(row: dict[str, Any]) -> str:
    return "n/a" if row["pass"] is None else ("PASS" if row["pass"] else "FAIL")


def markdown(results: dict[str, Any]) -> str:
    sc = results["scenarios"]
    m = results["machine"]
    out = [
        f"Run {results['started']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
        f"Python {m['python']}, Airflow {m['airflow']}, factory at {m['factory_commit']}; "
        f"load average {m['loadavg_start']} at start, {m['loadavg_end']} at end. "
        f"`{results['command']}`" + (" (quick: small N, indicative only)" if results["quick"] else ""),
        "",
    ]
    busiest = max(float(m[k].split()[0]) for k in ("loadavg_start", "loadavg_end") if k in m)
    if busiest > BUSY_LOAD:
        out += [
            f"**The machine was busy** (1-minute load average up to {busiest:.1f} on {m['cores']} cores, from other "
            "work): wall times are stretched and noisy; the CPU-time columns are the steadier reading.",
            "",
        ]
    out += [
        "| scenario | contender | N | parse median (s) | min-max (s) | ms per DAG | peak RSS, MiB (+ during parse) "
        "| parse CPU (s) | import airflow (s) | runs |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def parse_rows(name: str, scenario: dict[str, Any], per_dag: bool) -> None:
        for c in scenario["contenders"].values():
            n = c.get("n", scenario.get("n"))
            ms = f"{1000 * c['parse_median_s'] / n:.2f}" if per_dag and n else ""
            slow = " (over 30 s: Airflow would kill it)" if c["parse_median_s"] > AIRFLOW_IMPORT_TIMEOUT_S else ""
            out.append(
                f"| {name} | {c['label']} | {n} | {c['parse_median_s']:.3f}{slow} | "
                f"{c['parse_min_s']:.3f}-{c['parse_max_s']:.3f} | {ms} | "
                f"{c['peak_rss_median_mib']:.0f} (+{c['parse_rss_growth_median_mib']:.0f}) | "
                f"{_fmt_s(c.get('parse_cpu_median_s'))} | {c['import_median_s']:.2f} | {c['runs']} |"
            )

    if "full" in sc:
        parse_rows("full parse", sc["full"], True)
    if "task" in sc:
        parse_rows(f"task start ({sc['task']['dag_id']})", sc["task"], False)
    if "scaling" in sc:
        parse_rows("scaling", sc["scaling"], True)
    if "lint" in sc:
        for c in sc["lint"]["contenders"].values():
            out.append(
                f"| lint (wall, incl. start-up) | {c['label']} | {sc['lint']['n']} | {c['wall_median_s']:.3f} | "
                f"{c['wall_min_s']:.3f}-{c['wall_max_s']:.3f} |  |  | "
                f"{_fmt_s(c.get('cpu_median_s'))} |  | {c['runs']} |"
            )
    out += [
        "",
        "| # | target (issue 6) | measured (wall) | limit | result | same ratio in CPU time |",
        "|---|---|--:|--:|---|--:|",
    ]
    for row in results["targets"]:
        limit = f"{row['op']} {row['limit']}{' s' if row['unit'] == 's' else ('x' if row['unit'] == 'x' else '')}"
        cpu = f"{row['cpu_value']:.2f}x" if row.get("cpu_value") is not None else ""
        out.append(f"| {row['id']} | {row['target']} | {_fmt_value(row)} | {limit} | {_fmt_result(row)} | {cpu} |")
    if "profile" in sc:
        files = ", ".join(f"{k}: `{v['file']}`" for k, v in sc["profile"]["reports"].items())
        out += ["", f"Profiles (pyinstrument, N={sc['profile']['n']}): {files}."]
    if "dagprocessor" in sc:
        dp = sc["dagprocessor"]
        fails = [r["id"] for r in dp["targets"] if r["pass"] is False]
        out += [
            "",
            f"In Airflow's own DAG processor (N={dp['n']}, {dp['runs']} runs): `benchmarks/results/dag-processor"
            f"{'-quick' if results['quick'] else ''}.md`" + (f"; failed: {', '.join(fails)}." if fails else "."),
        ]
    return "\n".join(out) + "\n"


def machine(pythons: Pythons) -> dict[str, Any]:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    version = subprocess.run(
        [str(pythons.project), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "factory", "dags", "schemas"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "airflow": version,
        "factory_commit": commit.stdout.strip() + (" with uncommitted core changes" if dirty else ""),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="specs for full parse, task start, lint (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per contender (default 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=20, 2 runs, small scaling steps, no profile")
    parser.add_argument(
        "--only", default=",".join(DEFAULT_SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--scaling-ns", default="100,1000,5000", help="N values of the scaling run (default 100,1000,5000)"
    )
    parser.add_argument("--scaling-runs", type=int, default=3, help="timed runs per N in the scaling run (default 3)")
    parser.add_argument(
        "--dagfactory",
        choices=("auto", "yes", "no"),
        default="auto",
        help="include dag-factory and check-jsonschema (need the bench venv); auto: when the venv exists",
    )
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"), help="the project's Python")
    parser.add_argument("--bench-python", default=str(REPO / ".cache" / "bench-venv" / "bin" / "python"))
    parser.add_argument("--results", default=str(HERE / "results"), help="where latest.json/.md go")
    parser.add_argument("--workdir", help="where to generate the workloads (default: a fresh temp dir, removed after)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    args.scaling_ns = [int(x) for x in args.scaling_ns.split(",")]
    if args.quick:
        # Smoke run: every code path once, each contender timed once (~15 fresh
        # processes of 2-3 s each); the numbers are indicative only.
        args.n, args.runs, args.scaling_runs = min(args.n, 20), 1, 1
        args.scaling_ns = [5, 10, 20]
        if "--only" not in (argv if argv is not None else sys.argv):
            args.only = "full,task,lint,scaling"
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS) - {"memory"}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if "memory" in args.only and "full" not in args.only:
        args.only.append("full")  # peak memory is measured by the full-parse runs
    return args


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # As for Ctrl-C: subprocess.run kills the running child and `finally` removes the
    # generated workloads.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    project_python = Path(args.python)
    if not project_python.exists():
        print(f"no project Python at {project_python}: run scripts/setup first", file=sys.stderr)
        return 2
    bench_python = Path(args.bench_python)
    have_bench = bench_python.exists()
    if args.dagfactory == "yes" and not have_bench:
        print(f"--dagfactory yes needs {bench_python}: run benchmarks/setup-venv first", file=sys.stderr)
        return 2
    use_bench = have_bench and args.dagfactory != "no"
    pythons = Pythons(project=project_python, bench=bench_python if have_bench else None)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="factory-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = base_env(work)
    command = "python benchmarks/parse.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command.strip(),
        "quick": args.quick,
        "args": {k: v for k, v in vars(args).items() if k not in ("python", "bench_python", "results", "workdir")},
        "machine": machine(pythons),
        "scenarios": {},
    }
    bench = Bench(args, pythons, work, env, results, use_dagfactory=use_bench, use_check_jsonschema=use_bench)
    if not use_bench:
        bench.log(f"dag-factory and check-jsonschema skipped ({'--dagfactory no' if have_bench else 'no bench venv'})")
    started = time.perf_counter()
    try:
        for name in SCENARIOS:
            if name in args.only:
                getattr(bench, f"scenario_{name}")()
    except BenchmarkError as exc:
        print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
        return 3
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    end_commit = machine(pythons)["factory_commit"]
    if end_commit != results["machine"]["factory_commit"]:
        # Others commit to the core while a long run goes on: say so rather than hide it.
        results["machine"]["factory_commit"] += f" (at the end: {end_commit})"
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    table = markdown(results)
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "latest"
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out_dir / f"{stem}.md").write_text(table)
    print("\n" + table)
    print(f"({results['elapsed_s']} s; written to {out_dir / stem}.json and .md)")
    failed = [r["id"] for r in results["targets"] if r["pass"] is False]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
