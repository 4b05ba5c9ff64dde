"""DockerOperator with what the on-prem runtime needs at run time.

Imported only on the on-prem runtime: it needs the docker provider.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.docker.operators.docker import DockerOperator

from factory.compile import labels


class FactoryDockerOperator(DockerOperator):
    """Runs one spec task as a container, labelled so the cleanup task can find it."""

    # Commands are argument lists, never template files: a command like
    # `run.sh` must run as written instead of being looked up as a Jinja file.
    template_ext = ()

    def __init__(
        self,
        *,
        secret_env: dict[str, str] | None = None,
        cpu_limit: float | None = None,
        aws_conn_id: str | None = None,
        factory_labels: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_remove", "never")  # the cleanup task removes containers
        kwargs.setdefault("mount_tmp_dir", False)
        super().__init__(labels={**(factory_labels or {}), labels.RUN_ID: ""}, **kwargs)
        self.secret_env = secret_env or {}
        self.cpu_limit = cpu_limit
        self.aws_conn_id = aws_conn_id
