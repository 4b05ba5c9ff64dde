"""Airflow's own DAG processor CLI, `airflow dag-processor -n 1`, with read-only probes.

Run by benchmarks/dag_processor.py as `python -P dag_processor_child.py dag-processor -n 1`:
it is the `airflow` console script (`airflow.__main__.main`) plus a few wrappers that
only record what Airflow already computes, one JSON line each to the file named by
FACTORY_BENCH_DP_PROBE:

- in the manager, `process_parse_results` (the function that emits the
  `dag_processing.last_duration` metric and whose duration ends up in
  `dag.last_parse_duration`): each file's `run_duration` as Airflow records it, its DAG
  and import-error counts; and `persist_parsing_result`: the time of the file's DB write;
- in each forked file processor, `_parse_file` and the two calls it makes
  (`check_dag_file_stability`, `_serialize_dags`): when each step starts, and, at the
  processor's exit (its own atexit, after it has sent its result), its CPU time and its
  peak RSS (`ru_maxrss`), its RSS when the parse began, and its private memory
  (smaps_rollup), which excludes the pages it still shares with the manager it was
  forked from.

Nothing here changes what is parsed or how; the probes cost microseconds, and the one
that runs inside the measured span (the processor's atexit) times itself.
Kept free of the factory and of the benchmark's other modules.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import sys
import time
from typing import Any

PROBE = os.environ["FACTORY_BENCH_DP_PROBE"]
_forked_at: list[float] = []


def _write(record: dict[str, Any]) -> None:
    # One short write per record, to a file opened in append mode: lines from
    # concurrent processes do not interleave.
    with open(PROBE, "a") as out:
        out.write(json.dumps(record) + "\n")


def _kib(path: str, *keys: str) -> dict[str, int]:
    found = {}
    try:
        with open(path) as status:
            for line in status:
                key = line.split(":", 1)[0]
                if key in keys:
                    found[key] = int(line.split()[1])
    except OSError:
        pass
    return found


def _install() -> None:
    from airflow.dag_processing import manager, processor

    parse_file, stability, serialize = (
        processor._parse_file,
        processor.check_dag_file_stability,
        processor._serialize_dags,
    )

    def probed_parse_file(msg: Any, log: Any) -> Any:
        rec: dict[str, Any] = {"kind": "processor", "file": os.path.basename(os.fspath(msg.file)), "pid": os.getpid()}
        rec["forked"] = _forked_at[-1] if _forked_at else None
        rec["parse_start"] = time.monotonic()
        rec["rss_start_kib"] = _kib("/proc/self/status", "VmRSS").get("VmRSS")

        def probed_stability(path: Any) -> Any:
            t = time.monotonic()
            try:
                return stability(path)
            finally:
                rec["stability_s"] = time.monotonic() - t
                rec["dagbag_start"] = time.monotonic()

        def probed_serialize(bag: Any, log_: Any) -> Any:
            rec["serialize_start"], rec["dags"] = time.monotonic(), len(bag.dags)
            rec["import_errors"] = len(bag.import_errors)
            return serialize(bag, log_)

        def at_exit() -> None:
            t = time.monotonic()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            mem = _kib("/proc/self/smaps_rollup", "Private_Clean", "Private_Dirty", "Pss")
            rec.update(
                exit=t,
                cpu_s=usage.ru_utime + usage.ru_stime,  # this process only: a forked child starts at 0
                maxrss_kib=usage.ru_maxrss,
                private_end_kib=mem.get("Private_Clean", 0) + mem.get("Private_Dirty", 0),
                pss_end_kib=mem.get("Pss"),
            )
            rec["probe_s"] = time.monotonic() - t
            _write(rec)

        # _fork_main clears the atexit handlers it inherits, then runs those registered
        # after the fork when the processor exits: this one runs after the result is sent.
        atexit.register(at_exit)
        processor.check_dag_file_stability, processor._serialize_dags = probed_stability, probed_serialize
        try:
            return parse_file(msg, log)
        finally:
            rec["parse_end"] = time.monotonic()

    def probed_results(*args: Any, **kwargs: Any) -> Any:
        stat = process_parse_results(*args, **kwargs)
        _write(
            {
                "kind": "manager_file",
                "file": os.path.basename(str(kwargs.get("relative_fileloc"))),
                "run_duration_s": kwargs.get("run_duration"),
                "collected": time.monotonic(),
                "dags": stat.num_dags,
                "import_errors": stat.import_errors,
            }
        )
        return stat

    def probed_persist(self: Any, **kwargs: Any) -> Any:
        t = time.monotonic()
        try:
            return persist(self, **kwargs)
        finally:
            file = os.path.basename(str(kwargs.get("relative_fileloc")))
            _write({"kind": "persist", "file": file, "persist_s": time.monotonic() - t})

    process_parse_results, persist = (
        manager.process_parse_results,
        manager.DagFileProcessorManager.persist_parsing_result,
    )
    processor._parse_file = probed_parse_file
    manager.process_parse_results = probed_results
    manager.DagFileProcessorManager.persist_parsing_result = probed_persist


def main() -> int:
    started = time.monotonic()
    os.register_at_fork(after_in_child=lambda: _forked_at.append(time.monotonic()))
    _install()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    code: Any = 0
    try:
        airflow_main()
    except SystemExit as exc:
        code = exc.code
    finally:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        _write(
            {
                "kind": "manager",
                "started": started,
                "ended": time.monotonic(),
                "cpu_s": own.ru_utime + own.ru_stime,
                "maxrss_kib": own.ru_maxrss,
                "children_cpu_s": children.ru_utime + children.ru_stime,
            }
        )
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
