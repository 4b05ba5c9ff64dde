"""One measurement in a fresh process: import Airflow, then fill a DagBag from one folder.

Run by benchmarks/parse.py with the interpreter of the environment under test; it
prints one JSON line (prefixed with RESULT_MARK so logs on stdout cannot be mistaken
for it). Kept free of the factory and of benchmark modules so that nothing but
Airflow and the DAG files under test is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

RESULT_MARK = "BENCHMARK-RESULT "


def _rss_kib() -> int:
    """Current resident set size; ru_maxrss only gives the peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fingerprint(bag: Any) -> dict[str, Any]:
    """What must be equal between the three renderings of one pipeline, per DAG."""
    result: dict[str, Any] = {}
    for dag in bag.dags.values():
        tasks = {}
        for task in dag.tasks:
            env = dict(getattr(task, "environment", None) or getattr(task, "env", None) or {})
            # The factory keeps secret names apart (resolved at run time); the others
            # template them into the environment. Compare the variable names only.
            env_names = sorted({*env, *(getattr(task, "secret_env", None) or {})})
            command = getattr(task, "command", None)
            bash = getattr(task, "bash_command", None)
            if command is None and bash:
                # The factory's cleanup finds the worker's interpreter when it runs; the
                # others name one. The rest of the command line must match.
                command = bash.split(" ", 1)[-1]
            tasks[task.task_id] = {
                # The factory's cleanup is a BashOperator subclass.
                "family": "docker" if hasattr(task, "image") else "bash" if bash else type(task).__name__,
                "image": getattr(task, "image", None),
                "command": command,
                "env": env_names,
                "mem_limit": getattr(task, "mem_limit", None),
                "retries": task.retries,
                "retry_delay": task.retry_delay.total_seconds() if task.retry_delay else None,
                "timeout": task.execution_timeout.total_seconds() if task.execution_timeout else None,
                "upstream": sorted(task.upstream_task_ids),
                "owner": task.owner,
            }
        # dag-factory passes start_date through default_args, the others to the DAG.
        start = dag.start_date or (dag.default_args or {}).get("start_date")
        result[dag.dag_id] = {
            "schedule": str(getattr(dag, "schedule", None)),
            "start_date": start.isoformat() if start else None,
            "tags": sorted(set(dag.tags) - {"dagfactory"}),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tasks": tasks,
        }
    return result


def _profile_report(profiler: Any, total_s: float, top: int = 30) -> str:
    """Flat tables (self time, inclusive time) over the whole stack, then pyinstrument's tree.

    The tree hides library frames (Airflow, copy, jsonschema); the flat tables do not,
    and they are what says where the time goes."""
    root = profiler.last_session.root_frame()
    self_time: dict[str, float] = {}
    inclusive: dict[str, float] = {}

    def name(frame: Any) -> str:
        where = f"{frame.file_path_short}:{frame.line_no}"
        func = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
        return f"{func}  {where}"

    # Iterative walk (deep stacks); a function on the stack twice counts once inclusive.
    stack = [(root, frozenset())]
    while stack:
        frame, above = stack.pop()
        key = name(frame)
        # pyinstrument adds synthetic "[self]" leaves; their time is the parent's own.
        children = [c for c in frame.children if not c.is_synthetic]
        self_time[key] = self_time.get(key, 0.0) + frame.time - sum(c.time for c in children)
        if key not in above:
            inclusive[key] = inclusive.get(key, 0.0) + frame.time
        stack.extend((c, above | {key}) for c in children)

    def table(title: str, data: dict[str, float]) -> list[str]:
        rows = sorted(data.items(), key=lambda kv: -kv[1])[:top]
        return [title, *(f"{t:8.3f} s {100 * t / total_s:5.1f}%  {k}" for k, t in rows), ""]

    lines = [f"DagBag fill under pyinstrument: {total_s:.3f} s (the profiler itself slows it down)", ""]
    lines += table(f"Top {top} by self time", self_time)
    lines += table(f"Top {top} by inclusive time", inclusive)
    lines.append(profiler.output_text(unicode=False, color=False, show_all=False))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", help="dags folder (or one DAG file) to fill the DagBag from")
    parser.add_argument("--fingerprint", action="store_true", help="also return a per-DAG summary")
    parser.add_argument("--profile", metavar="OUT", help="profile the DagBag fill with pyinstrument into OUT")
    parser.add_argument("--worker", action="store_true", help="parse as a worker does: safe_mode off")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import airflow  # noqa: F401  (timed: the fixed cost every contender pays)
    from airflow.dag_processing.dagbag import DagBag

    t1 = time.perf_counter()
    rss_after_import = _rss_kib()

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    t2, cpu2 = time.perf_counter(), time.process_time()
    # load_op_links=False as in the DAG processor (dag_processing/processor.py) and
    # the task runner; a worker also parses with safe_mode off.
    if args.worker:
        bag = DagBag(dag_folder=args.folder, load_op_links=False, safe_mode=False)
    else:
        bag = DagBag(dag_folder=args.folder, load_op_links=False)
    t3, cpu3 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(_profile_report(profiler, t3 - t2))

    result: dict[str, Any] = {
        "import_s": t1 - t0,
        "parse_s": t3 - t2,
        # CPU seconds of this process over the same span: what waiting for a busy CPU adds
        # to the wall time does not show here.
        "parse_cpu_s": cpu3 - cpu2,
        "dags": len(bag.dags),
        "dag_ids": sorted(bag.dags) if len(bag.dags) <= 5 else None,
        "import_errors": {str(k): str(v)[:2000] for k, v in bag.import_errors.items()},
        "rss_after_import_kib": rss_after_import,
        # Linux reports KiB. The peak of the whole process: import plus parse.
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "python": sys.executable,
        "pid": os.getpid(),
    }
    if args.fingerprint:
        result["fingerprint"] = _fingerprint(bag)
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
