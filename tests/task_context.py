"""The template context Airflow 3's task runner gives a task, built by Airflow's own code
(`RuntimeTaskInstance.get_template_context`), for a run with or without a logical date."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


def runtime_context(
    task: Any,
    *,
    run_after: datetime,
    logical_date: datetime | None = None,
    data_interval: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """What `task` would render with in a run that was asked for at `run_after`."""
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, DagRunType, TaskInstanceState, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    run_id = f"manual__{run_after.isoformat()}"
    dag_run = DagRun(
        dag_id=task.dag_id,
        run_id=run_id,
        logical_date=logical_date,
        data_interval_start=data_interval[0] if data_interval else None,
        data_interval_end=data_interval[1] if data_interval else None,
        run_after=run_after,
        start_date=run_after,
        end_date=None,
        run_type=DagRunType.MANUAL,
        state=DagRunState.RUNNING,
        consumed_asset_events=[],
        partition_key=None,
    )
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task.task_id,
        dag_id=task.dag_id,
        run_id=run_id,
        try_number=1,
        map_index=-1,
        task=task,
        _ti_context_from_server=TIRunContext(dag_run=dag_run, max_tries=0),
        max_tries=0,
        start_date=run_after,
        state=TaskInstanceState.RUNNING,
        dag_version_id=uuid.uuid4(),
    )
    return ti.get_template_context()
