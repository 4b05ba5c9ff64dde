"""A spec's `wait_for`: sensors in front of the tasks, the same on every runtime.

- The pipeline's wait is the task `wait_for`, upstream of every task with no
  `depends_on` and of every task's own wait: nothing starts before it is satisfied.
- A task's wait is `wait_for_<task>`, upstream of that task only. It starts with the
  run, beside the tasks the task depends on, so the waiting overlaps their work.

A wait that times out with `on_timeout: skip` skips what follows it; the verdict
(factory/compile/dag.py) is then skipped too, so the run ends successful without
announcing its data: the pipelines after it do not start on a day with no data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from factory.compile import importable
from factory.model import Spec
from factory.model.spec import Wait, wait_task_id

# What a wait needs of the Airflow it runs on: the sensor, and the trigger's S3 client.
_NEEDED = {
    "airflow.providers.amazon.aws.sensors.s3": "apache-airflow-providers-amazon",
    "aiobotocore": "aiobotocore",
}


def missing_packages() -> tuple[str, ...]:
    """The packages this Airflow lacks for a wait (none on MWAA, which pins both)."""
    return tuple(package for module, package in _NEEDED.items() if not importable(module))


def add_sensors(dag: Any, spec: Spec, aws_conn_id: str) -> dict[str | None, Any]:
    """The spec's sensors, keyed by the task that waits (None: the whole pipeline).

    Made before the tasks, so the DAG lists them first, as they run.
    """
    sensors = {}
    if spec.wait_for:
        sensors[None] = _sensor(dag, spec.wait_for, None, aws_conn_id)
    for task in spec.tasks:
        if task.wait_for:
            sensors[task.name] = _sensor(dag, task.wait_for, task.name, aws_conn_id)
    return sensors


def link(spec: Spec, sensors: dict[str | None, Any], operators: dict[str, Any]) -> None:
    """Put each sensor in front of what waits for it."""
    pipeline = sensors.get(None)
    for task in spec.tasks:
        if task.name in sensors:
            sensors[task.name] >> operators[task.name]
            if pipeline is not None:
                pipeline >> sensors[task.name]
        if pipeline is not None and not task.depends_on:
            pipeline >> operators[task.name]


def _sensor(dag: Any, wait: Wait, task: str | None, aws_conn_id: str) -> Any:
    # Imported only by the specs that wait: the provider's S3 modules cost parse time.
    from factory.operators.s3wait import FactoryS3WaitSensor

    return FactoryS3WaitSensor(
        task_id=wait_task_id(task),
        dag=dag,
        # A prefix is any object under it: the provider's wildcard match of `prefix*`
        # (the schema allows no wildcard characters of the analyst's own).
        bucket_key=f"{wait.url}*" if wait.is_prefix else wait.url,
        wildcard_match=wait.is_prefix,
        aws_conn_id=aws_conn_id,
        poke_interval=wait.check_every.total_seconds(),
        timeout=wait.timeout.total_seconds(),
        on_timeout=wait.on_timeout,
        # For a passing S3 error. A timeout is never retried (AirflowSensorTimeout): the
        # object would not come sooner.
        retries=2,
        retry_delay=timedelta(minutes=1),
    )
