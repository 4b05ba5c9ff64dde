"""Medians, targets and the Markdown table of benchmarks/dag_processor.py."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

REPORTER, HAND = "factory_spec_errors.py", "handwritten_dags.py"
LOADERS = "factory_dags"  # the loader files' names start so (factory/load/shards.py)
MIB = 1024


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary(v: Any) -> dict[str, Any]:
    """Medians over a variant's runs (`v`: dag_processor.Variant), per DAG file and for all its files."""

    def med(get: Callable[[dict[str, Any]], float | None]) -> float | None:
        return _median([get(run) for run in v.runs])

    files = {}
    for name in v.files:

        def f(run: dict[str, Any], key: str, name: str = name) -> Any:
            return run["files"][name][key]

        files[name] = {
            "airflow_s": med(lambda run: f(run, "run_duration_s")),
            "airflow_all_s": [f(run, "run_duration_s") for run in v.runs],
            "cpu_s": med(lambda run: f(run, "cpu_s")),
            "peak_rss_mib": med(lambda run: f(run, "maxrss_kib") / MIB),
            "growth_mib": med(lambda run: (f(run, "maxrss_kib") - f(run, "rss_start_kib")) / MIB),
            "private_mib": med(lambda run: f(run, "private_end_kib") / MIB),
            "persist_s": med(lambda run: f(run, "persist_s")),
            "probe_s": med(lambda run: f(run, "probe_s")),
            "steps_s": {s: med(lambda run, s=s: f(run, "steps")[s]) for s in v.runs[0]["files"][name]["steps"]},
        }

    def total(run: dict[str, Any], key: str, prefix: str = "") -> float:
        return sum(x[key] for name, x in run["files"].items() if name.startswith(prefix))

    return {
        "label": v.label,
        "runs": len(v.runs),
        "first_pass_s": v.first_pass_s,
        "wall_s": med(lambda run: run["wall_s"]),
        "wall_all_s": [run["wall_s"] for run in v.runs],
        "tree_cpu_s": med(lambda run: run["tree_cpu_s"]),
        "parse_phase_s": med(lambda run: run["parse_phase_s"]),
        "manager_peak_rss_mib": med(lambda run: run["manager_maxrss_kib"] / MIB),
        "files": files,
        "loaders": {
            "airflow_s": med(lambda run: total(run, "run_duration_s", LOADERS)),
            "cpu_s": med(lambda run: total(run, "cpu_s", LOADERS)),
        },
        "total": {
            "airflow_s": med(lambda run: total(run, "run_duration_s")),
            "cpu_s": med(lambda run: total(run, "cpu_s")),
            "stability_s": med(lambda run: total(run, "stability_s")),
            "peak_rss_mib": med(lambda run: max(x["maxrss_kib"] for x in run["files"].values()) / MIB),
            "private_mib": med(lambda run: total(run, "private_end_kib") / MIB),
        },
    }


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 6's parse targets, read in the processor: the factory's files against the hand-written one.

    Judged on wall-time medians of Airflow's own per-file durations, as the DagBag harness
    judges its own; the CPU ratio is given beside (it moves less when the machine is busy)."""
    vs = res["variants"]
    hand = vs["hand"]
    rows: list[dict[str, Any]] = []

    def add(ident: str, what: str, value: float | None, limit: float | None, cpu: float | None = None) -> None:
        ok = None if value is None or limit is None else value <= limit
        rows.append({"id": ident, "target": what, "value": value, "limit": limit, "pass": ok, "cpu_value": cpu})

    h = hand["total"]
    for temp, ident, limit in (("cold", "a", 1.3), ("warm", "b", 1.1)):
        f = vs.get(f"factory_{temp}")
        if f is None:
            continue
        loader, both = f["loaders"], f["total"]
        add(
            f"P1{ident}",
            f"parse, cache {temp}: loader + reporter / hand-written",
            _ratio(both["airflow_s"], h["airflow_s"]),
            limit,
            _ratio(both["cpu_s"], h["cpu_s"]),
        )
        add(
            f"P2{ident}",
            f"parse, cache {temp}: loader alone / hand-written",
            _ratio(loader["airflow_s"], h["airflow_s"]),
            limit,
            _ratio(loader["cpu_s"], h["cpu_s"]),
        )
        # Airflow's AST check of each DAG file's source costs the hand-written file (its DAGs
        # are Python source) and not the factory (two small files): the ratio without it.
        no_ast = _ratio(_minus(both["airflow_s"], both["stability_s"]), _minus(h["airflow_s"], h["stability_s"]))
        add(f"P3{ident}", f"as P1{ident}, without Airflow's source check (stability check) of either", no_ast, None)
        add(
            f"P4{ident}",
            f"peak RSS of a file processor, cache {temp} / hand-written",
            _ratio(both["peak_rss_mib"], h["peak_rss_mib"]),
            1.2,
        )
        add(
            f"P5{ident}",
            f"whole pass (wall), cache {temp} / hand-written",
            _ratio(f["wall_s"], hand["wall_s"]),
            None,
            _ratio(f["tree_cpu_s"], hand["tree_cpu_s"]),
        )
        b = vs.get(f"broken_{temp}")
        if b is not None:
            add(
                f"P6{ident}",
                f"loader with 1 broken spec / without, cache {temp}",
                _ratio(b["loaders"]["airflow_s"], loader["airflow_s"]),
                None,
                _ratio(b["loaders"]["cpu_s"], loader["cpu_s"]),
            )
    return rows


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _f(value: float | None, fmt: str = ".2f", unit: str = "") -> str:
    return "" if value is None else f"{value:{fmt}}{unit}"


def markdown(results: dict[str, Any]) -> str:
    res, m = results["dag_processor"], results["machine"]
    n = res["n"]
    out = [
        f"Run {results['started']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), Python {m['python']}, "
        f"Airflow {m['airflow']}, repository at {m['factory_commit']}; load average {m['loadavg_start']} at start, "
        f"{m['loadavg_end']} at end. `{results['command']}`: the factory from {res['factory']}; N={n}, "
        f"medians of {res['runs']} runs." + (" (quick: indicative only)" if results["quick"] else ""),
        "",
        "Per DAG file, as the DAG processor records it (`run_duration`: fork to result collected; the same number "
        "as `dag.last_parse_duration` and the `dag_processing.last_duration` metric), the file processor's own "
        "CPU time and peak RSS (+ its growth since the fork), its private memory (pages not shared with the "
        "manager) at exit, and the manager's DB write of the file's result:",
        "",
        "| variant | DAG file | parse, Airflow (s) | min-max (s) | CPU (s) | peak RSS, MiB (+ in the processor) "
        "| private, MiB | DB write (s) |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for v in res["variants"].values():
        for name, f in v["files"].items():
            spread = f"{min(f['airflow_all_s']):.2f}-{max(f['airflow_all_s']):.2f}"
            out.append(
                f"| {v['label']} | `{name}` | {f['airflow_s']:.2f} | {spread} | {f['cpu_s']:.2f} | "
                f"{f['peak_rss_mib']:.0f} (+{f['growth_mib']:.0f}) | {f['private_mib']:.0f} | {f['persist_s']:.2f} |"
            )
        if len(v["files"]) > 1:
            t = v["total"]
            out.append(
                f"| {v['label']} | **both files** | **{t['airflow_s']:.2f}** |  | **{t['cpu_s']:.2f}** | "
                f"{t['peak_rss_mib']:.0f} (larger) | {t['private_mib']:.0f} (sum) |  |"
            )
    out += [
        "",
        "Whole pass: wall time of `airflow dag-processor -n 1` (interpreter start to exit, the DB write of the "
        f"{n} DAGs included), CPU of the whole process tree, and the parse phase (first fork to last result).",
        "",
        "| variant | whole pass (s) | tree CPU (s) | parse phase (s) | manager peak RSS (MiB) "
        "| first pass, empty DB (s) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for v in res["variants"].values():
        out.append(
            f"| {v['label']} | {v['wall_s']:.1f} | {v['tree_cpu_s']:.1f} | {v['parse_phase_s']:.2f} | "
            f"{v['manager_peak_rss_mib']:.0f} | {_f(v['first_pass_s'], '.1f')} |"
        )
    steps = next(iter(next(iter(res["variants"].values()))["files"].values()))["steps_s"]
    out += ["", "Where each file processor's time goes (medians, s):", ""]
    out += ["| variant | DAG file | " + " | ".join(steps) + " |", "|---|---|" + "--:|" * len(steps)]
    for v in res["variants"].values():
        for name, f in v["files"].items():
            out.append(f"| {v['label']} | `{name}` | " + " | ".join(f"{x:.3f}" for x in f["steps_s"].values()) + " |")
    out += [
        "",
        "| # | target | measured (wall) | limit | result | same ratio in CPU time |",
        "|---|---|--:|--:|---|--:|",
    ]
    for r in results["targets"]:
        result = "n/a" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        limit = f"<= {r['limit']}x" if r["limit"] is not None else "(info)"
        out.append(
            f"| {r['id']} | {r['target']} | {_f(r['value'], '.2f', 'x')} | {limit} | {result} | "
            f"{_f(r['cpu_value'], '.2f', 'x')} |"
        )
    if results.get("profiles"):
        files = ", ".join(f"{k}: `{v}`" for k, v in results["profiles"].items())
        out += ["", f"cProfile of the reporter's DagBag fill, alone in a fresh process: {files}."]
    return "\n".join(out) + "\n"
