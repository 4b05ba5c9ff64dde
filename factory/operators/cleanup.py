"""The cleanup task of an on-prem run: `python -m factory.cleanup` on the worker.

A BashOperator whose interpreter and import path are those of the process running
the task, found when it runs. The command Airflow stores, renders and shows names
neither, so it holds no path of whichever process parsed the DAG (the dag-processor,
another image, another host), and a Celery worker with its own interpreter runs it
with that one.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from factory.compile.airflow_compat import BashOperator

# The command reads these from its environment; the operator sets them on the worker.
PYTHON_VAR = "FACTORY_PYTHON"
RUN_ID_VAR = "FACTORY_RUN_ID"


def cleanup_command(docker_url: str, dag_id: str) -> str:
    """The shell command of the cleanup task: paths and the run id come from its environment."""
    fixed = " ".join(
        shlex.quote(part) for part in ("-m", "factory.cleanup", "--docker-url", docker_url, "--dag-id", dag_id)
    )
    # The run id goes through the environment, never through the shell's parser.
    return f'"${PYTHON_VAR}" {fixed} --run-id "${RUN_ID_VAR}"'


def worker_environment() -> dict[str, str]:
    """The interpreter running this task, and a PYTHONPATH that finds this `factory`
    package whether it is pip-installed or copied under the dags folder."""
    package_parent = str(Path(__file__).resolve().parents[2])
    python_path = [package_parent, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        # sys.executable is empty only in embedded interpreters; python3 on PATH is the best guess there.
        PYTHON_VAR: sys.executable or "python3",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
    }


class FactoryCleanupOperator(BashOperator):
    """Removes the stopped containers of this DAG run and the dangling images they leave."""

    def __init__(self, *, docker_url: str, cleaned_dag_id: str, **kwargs: Any) -> None:
        # What it prints is for the task log; nothing reads an XCom of it.
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(
            bash_command=cleanup_command(docker_url, cleaned_dag_id),
            env={RUN_ID_VAR: "{{ run_id }}"},
            append_env=True,
            # Every non-zero exit is a failure; Bash's default 99 = "skip" means nothing here.
            skip_on_exit_code=None,
            **kwargs,
        )

    def get_env(self, context: Any) -> dict[str, str]:
        # Called as the task runs, after rendering: the paths are the worker's own and
        # are neither stored as rendered fields nor shown in the UI.
        return {**super().get_env(context), **worker_environment()}
