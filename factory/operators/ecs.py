"""EcsRunTaskOperator with a task definition the factory manages.

Imported only on the MWAA runtime: it needs the amazon provider.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator


class FactoryEcsRunTaskOperator(EcsRunTaskOperator):
    """Runs one spec task on ECS, registering its task definition only when it changed."""

    template_fields = (*EcsRunTaskOperator.template_fields, "managed_definition")

    def __init__(self, *, managed_definition: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.managed_definition = managed_definition
