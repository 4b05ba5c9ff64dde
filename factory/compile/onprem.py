"""On-prem runtime: each task is a container on the worker's Docker engine.

After the spec's tasks every DAG has three of its own:

- `cleanup` removes the containers of its run and the images they leave dangling (it
  finds them by the labels set here); it runs whatever happened to the tasks;
- `cleanup_done` follows it and always succeeds, so the cleanup is never a leaf and
  its result never decides the run's state;
- `verdict` (added for every runtime by factory/compile/dag.py) succeeds when every
  spec task did and fails (upstream_failed) when one failed: with `cleanup_done`, the
  only leaves Airflow takes the run's state from.

None is an Airflow teardown. A teardown that has not run yet keeps a run a person
marks failed running (airflow/api/common/mark_tasks.py, `_set_dag_run_terminal_state`),
and once it has run the scheduler computes the state again from the other tasks, which
marking turned to skipped: such a run ends successful. Without a teardown, marking a
run failed ends it failed at once. See docs/onprem.md, "Why not a teardown".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from factory.compile import fan_out, labels
from factory.compile.airflow_compat import EmptyOperator
from factory.compile.notify import NO_CALLBACKS
from factory.compile.task_args import operator_args
from factory.model import Platform, Spec
from factory.model.spec import CLEANUP_DONE_TASK, CLEANUP_TASK
from factory.operators.cleanup import FactoryCleanupOperator
from factory.operators.docker import FactoryDockerOperator


def aws_conn_id(platform: Platform) -> str:
    """The connection the DAG's AWS calls use: ECR logins and a wait's S3 sensor."""
    return platform.onprem.aws_conn_id


def add_tasks(dag: Any, spec: Spec, platform: Platform) -> dict[str, Any]:
    onprem = platform.onprem
    operators: dict[str, Any] = {}
    for task in spec.tasks:
        operators[task.name] = fan_out.operator(
            FactoryDockerOperator,
            task,
            dag,
            image=task.image,
            command=list(task.command) if task.command is not None else None,
            environment=dict(task.env),
            secret_env=dict(task.secrets),
            cpu_limit=task.cpu,
            mem_limit=f"{task.memory_mib}m",
            shm_size=task.shm_size_mib * 1024 * 1024 if task.shm_size_mib else None,
            docker_url=onprem.docker_url,
            network_mode=task.network_mode or onprem.network_mode,
            docker_conn_id=task.docker_conn_id or onprem.docker_conn_id,
            aws_conn_id=onprem.aws_conn_id,
            factory_labels={labels.MANAGED: "true", labels.DAG_ID: spec.dag_id, labels.TASK_ID: task.name},
            **operator_args(task),
        )
    work = list(operators.values())
    # Every task, not only the last ones: a task fails its downstream at once, while
    # other branches may still have containers running.
    cleanup = FactoryCleanupOperator(
        task_id=CLEANUP_TASK,
        dag=dag,
        docker_url=onprem.docker_url,
        cleaned_dag_id=spec.dag_id,
        trigger_rule="all_done",
        # One quick retry for a passing engine hiccup; a bound so a hung engine cannot
        # hold the run open.
        retries=1,
        retry_delay=timedelta(seconds=30),
        execution_timeout=timedelta(minutes=10),
        **NO_CALLBACKS,  # housekeeping: the spec's notify is about its own work
    )
    work >> cleanup
    # Airflow takes a run's state from its leaves. The cleanup's failure must not fail
    # a night whose work succeeded, so it is not a leaf: this task, which the scheduler
    # completes without a worker, is.
    cleanup >> EmptyOperator(task_id=CLEANUP_DONE_TASK, dag=dag, trigger_rule="all_done", **NO_CALLBACKS)
    # And the work's failure must fail the run although the cleanup after it succeeded:
    # the verdict after the work, which every runtime has (factory/compile/dag.py).
    return operators
