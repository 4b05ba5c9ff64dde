"""The part of a DAG every runtime shares: schedule, defaults, tags, dependencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from factory import __version__
from factory.compile.airflow_compat import DAG
from factory.model import Platform, Spec


def build_dag(spec: Spec, platform: Platform, runtime: str) -> Any:
    """One Airflow DAG for one spec, with tasks from the runtime's compiler."""
    start = spec.start_date
    dag = DAG(
        dag_id=spec.dag_id,
        description=spec.description,
        schedule=spec.schedule,
        start_date=datetime(start.year, start.month, start.day, tzinfo=UTC),
        catchup=spec.catchup,
        max_active_runs=spec.max_active_runs,
        tags=[*spec.tags, f"runtime:{runtime}"],
        default_args={"owner": spec.owner},
        doc_md=f"Built by factory {__version__} from `{spec.path}` for the {runtime} runtime.",
    )
    if runtime == "mwaa":
        from factory.compile.mwaa import add_tasks
    else:
        from factory.compile.onprem import add_tasks
    operators = add_tasks(dag, spec, platform)
    for task in spec.tasks:
        for upstream in task.depends_on:
            operators[upstream] >> operators[task.name]
    return dag
