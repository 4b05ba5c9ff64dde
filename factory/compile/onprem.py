"""On-prem runtime: each task is a container on the worker's Docker engine.

Every DAG ends with a cleanup teardown that removes the containers of its run and
the images they leave dangling; it finds them by the labels set here.
"""

from __future__ import annotations

import shlex
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from factory.compile import labels
from factory.compile.airflow_compat import BashOperator
from factory.model import Platform, Spec
from factory.operators.docker import FactoryDockerOperator

CLEANUP_TASK_ID = "cleanup"
# The folder holding the `factory` package, so the cleanup subprocess can import it
# whether factory is pip-installed or copied under the dags folder.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def add_tasks(dag: Any, spec: Spec, platform: Platform) -> dict[str, Any]:
    onprem = platform.onprem
    operators: dict[str, Any] = {}
    for task in spec.tasks:
        operators[task.name] = FactoryDockerOperator(
            task_id=task.name,
            dag=dag,
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
            retries=task.retries,
            retry_delay=task.retry_delay,
            execution_timeout=task.timeout,
        )
    cleanup = BashOperator(
        task_id=CLEANUP_TASK_ID,
        dag=dag,
        bash_command=" ".join(
            shlex.quote(part)
            for part in (
                sys.executable,
                "-m",
                "factory.cleanup",
                "--docker-url",
                onprem.docker_url,
                "--dag-id",
                spec.dag_id,
            )
        )
        + ' --run-id "$FACTORY_RUN_ID"',
        # The run id goes through the environment, never through the shell's parser.
        env={"FACTORY_RUN_ID": "{{ run_id }}", "PYTHONPATH": _PACKAGE_PARENT},
        append_env=True,
        # One quick retry for a passing engine hiccup; a bound so a hung engine cannot
        # hold the run open. Neither affects the run's state (see below).
        retries=1,
        retry_delay=timedelta(seconds=30),
        execution_timeout=timedelta(minutes=10),
    )
    list(operators.values()) >> cleanup
    # A teardown runs whatever happened upstream, and its own result does not decide
    # the run's state: a failed prune must not fail a night whose work succeeded,
    # and a failed task must not look successful because the cleanup after it was.
    cleanup.as_teardown()
    return operators
