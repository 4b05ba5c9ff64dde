"""Run DAGs of the dags folder with `dag.test()`, as `airflow dags test` does, in whatever
Airflow (2.10 to 3.x) the Python running this file has. Used by tests/mwaa, which
runs it in a subprocess so the task logs are what Airflow prints, unfiltered.

    python run_dags.py '[{"dag_id": "sales.daily_rollup", "logical_date": "2024-05-01T00:00:00+00:00"}]'

For each run it prints FACTORY-RUN-BEGIN <i>, the run's logs, then FACTORY-RUN-END and
one JSON line: the run id and each task's state. Only the standard library and Airflow
are imported, so it runs in a virtualenv that holds just what MWAA installs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from typing import Any


def load_bag(folder: str) -> Any:
    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=folder)
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

        return DagBag(dag_folder=folder, include_examples=False)


def run_one(dag: Any, logical_date: datetime, conf: dict[str, Any] | None, mark_success: str | None = None) -> Any:
    """`mark_success`: a pattern of task ids marked successful without running (as if an
    earlier try had run them), so only the rest run."""
    import airflow

    extra = {"mark_success_pattern": mark_success} if mark_success else {}
    if int(airflow.__version__.split(".")[0]) >= 3:
        return dag.test(logical_date=logical_date, run_after=logical_date, run_conf=conf, **extra)
    return dag.test(execution_date=logical_date, run_conf=conf, **extra)


def dag_run_id(dag_id: str, logical_date: datetime) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id)
        return next(r.run_id for r in runs if r.logical_date == logical_date)


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in rows}


def main(argv: list[str]) -> int:
    runs = json.loads(argv[1])
    bag = load_bag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    print("FACTORY-IMPORT-ERRORS", json.dumps({str(k): str(v) for k, v in bag.import_errors.items()}), flush=True)
    for index, run in enumerate(runs):
        dag = bag.dags[run["dag_id"]]
        # The clock lets a caller that counts requests (benchmarks/task_cost.py) tell runs apart.
        print(f"FACTORY-RUN-BEGIN {index} {time.time()}", flush=True)
        logical_date = datetime.fromisoformat(run["logical_date"])
        try:
            run_id = run_one(dag, logical_date, run.get("conf"), run.get("mark_success")).run_id
        except BaseException as exc:
            # Airflow 2's AirflowTaskTimeout is a BaseException, which dag.test() does not
            # catch (a worker does): the task is already marked failed, so go on as a
            # worker would, and report the states.
            if type(exc).__name__ != "AirflowTaskTimeout":
                raise
            print(f"FACTORY-RUN-TIMEOUT {exc!r}", flush=True)
            run_id = dag_run_id(dag.dag_id, logical_date)
        result = {"run_id": run_id, "states": task_states(dag.dag_id, run_id), "ended": time.time()}
        print("FACTORY-RUN-END", flush=True)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
