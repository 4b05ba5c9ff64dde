"""MWAA runtime: each task is an ECS task (Fargate unless the platform says otherwise).

The factory manages one task definition family per DAG task; the operator registers
a new revision only when the definition's content changes (checked at run time, so
parsing never calls AWS). Secrets stay names here: ECS injects their values.
"""

from __future__ import annotations

import re
from typing import Any

from factory.compile.fargate import fargate_size, on_fargate
from factory.model import Platform, Spec
from factory.model.spec import Task
from factory.operators.ecs import FactoryEcsRunTaskOperator

LOG_LINES_ON_FAILURE = 20


class MwaaConfigError(ValueError):
    pass


def family_name(dag_id: str, task_name: str) -> str:
    """ECS family names allow letters, digits, '-' and '_' (255 at most)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"factory-{dag_id}-{task_name}")[:255]


def add_tasks(dag: Any, spec: Spec, platform: Platform) -> dict[str, Any]:
    mwaa = platform.mwaa
    if mwaa is None:
        raise MwaaConfigError("specs/_platform.yaml has no 'mwaa:' block, which the MWAA runtime needs")
    fargate = on_fargate(mwaa.launch_type, mwaa.capacity_provider_strategy)
    network = {
        "awsvpcConfiguration": {
            "subnets": list(mwaa.subnets) if isinstance(mwaa.subnets, tuple) else mwaa.subnets,
            "securityGroups": list(mwaa.security_groups)
            if isinstance(mwaa.security_groups, tuple)
            else mwaa.security_groups,
            "assignPublicIp": "ENABLED" if mwaa.assign_public_ip else "DISABLED",
        }
    }
    placement: dict[str, Any] = {}
    if mwaa.capacity_provider_strategy:
        placement["capacity_provider_strategy"] = [
            {("capacityProvider" if k == "capacity_provider" else k): v for k, v in item}
            for item in mwaa.capacity_provider_strategy
        ]
    else:
        placement["launch_type"] = mwaa.launch_type
    if mwaa.platform_version and fargate:
        placement["platform_version"] = mwaa.platform_version
    operators: dict[str, Any] = {}
    for task in spec.tasks:
        operators[task.name] = FactoryEcsRunTaskOperator(
            task_id=task.name,
            dag=dag,
            cluster=mwaa.cluster,
            task_definition=task.task_definition or family_name(spec.dag_id, task.name),
            managed_definition=None if task.task_definition else _definition(spec, task, mwaa, fargate),
            overrides=_overrides(task),
            network_configuration=network,
            awslogs_group=mwaa.log_group,
            awslogs_region=mwaa.region,
            awslogs_stream_prefix=f"{mwaa.log_stream_prefix}/{task.name}",
            aws_conn_id=mwaa.aws_conn_id,
            region_name=mwaa.region,
            reattach=True,
            number_logs_exception=LOG_LINES_ON_FAILURE,
            retries=task.retries,
            retry_delay=task.retry_delay,
            execution_timeout=task.timeout,
            **placement,
        )
    return operators


def _overrides(task: Task) -> dict[str, Any]:
    if task.command is None:
        return {"containerOverrides": []}
    # The container name of a task definition we did not write is only known at run
    # time; the operator fills it in. Ours is always the task's name.
    return {"containerOverrides": [{"name": task.name, "command": list(task.command)}]}


def _definition(spec: Spec, task: Task, mwaa: Any, fargate: bool) -> dict[str, Any]:
    """The task definition the factory registers for one task (run-time templates included)."""
    if fargate:
        cpu, memory = fargate_size(task.cpu, task.memory_mib)
    else:
        cpu, memory = round(task.cpu * 1024), task.memory_mib
    container: dict[str, Any] = {
        "name": task.name,
        "image": task.image,
        "essential": True,
        "environment": [{"name": k, "value": v} for k, v in task.env],
        "secrets": [{"name": k, "valueFrom": v} for k, v in task.secrets],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": mwaa.log_group,
                "awslogs-stream-prefix": mwaa.log_stream_prefix,
                **({"awslogs-region": mwaa.region} if mwaa.region else {}),
            },
        },
    }
    definition: dict[str, Any] = {
        "family": family_name(spec.dag_id, task.name),
        "containerDefinitions": [container],
        "cpu": str(cpu),
        "memory": str(memory),
        "networkMode": "awsvpc",
        "executionRoleArn": mwaa.execution_role_arn,
    }
    if fargate:
        definition["requiresCompatibilities"] = ["FARGATE"]
    if mwaa.task_role_arn:
        definition["taskRoleArn"] = mwaa.task_role_arn
    return definition
