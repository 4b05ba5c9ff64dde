"""MWAA runtime: each task is an ECS task (Fargate unless the platform says otherwise).

The factory manages one task definition family per DAG task; the operator registers
a new revision only when the definition's content changes (checked at run time, so
parsing never calls AWS). Secrets stay names here: ECS injects their values.

Only arguments that every amazon provider version MWAA pins accepts (9.0.0 on MWAA
2.10.3 up to 9.34.0 on 3.3.1) may be passed to the operator: an unknown keyword is a
TypeError at parse time, which takes every DAG of the file down. `container_name`,
`skip_on_exit_code` and `stop_task_on_failure`, for example, are newer than 9.0.0.
"""

from __future__ import annotations

import re
from typing import Any

from factory.compile import fan_out
from factory.compile.fargate import fargate_size, on_fargate
from factory.compile.task_args import operator_args
from factory.model import Platform, Spec
from factory.model.platform import MwaaPlatform
from factory.model.spec import Task
from factory.operators.ecs import FactoryEcsRunTaskOperator

LOG_LINES_ON_FAILURE = 20
_TEMPLATE = re.compile(r"{{|{%")


class MwaaConfigError(ValueError):
    pass


def family_name(dag_id: str, task_name: str) -> str:
    """ECS family names allow letters, digits, '-' and '_' (255 at most)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"factory-{dag_id}-{task_name}")[:255]


def aws_conn_id(platform: Platform) -> str:
    """The connection the DAG's AWS calls other than ECS's use (a wait's S3 sensor)."""
    return platform.mwaa.aws_conn_id if platform.mwaa else MwaaPlatform().aws_conn_id


def add_tasks(dag: Any, spec: Spec, platform: Platform) -> dict[str, Any]:
    mwaa = platform.mwaa
    if mwaa is None:
        raise MwaaConfigError("specs/_platform.yaml has no 'mwaa:' block, which the MWAA runtime needs")
    fargate = on_fargate(mwaa.launch_type, mwaa.capacity_provider_strategy)
    # ECS Anywhere (EXTERNAL) has no awsvpc networking: bridge mode, no network configuration.
    external = not mwaa.capacity_provider_strategy and mwaa.launch_type == "EXTERNAL"
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
        managed = task.task_definition is None
        if managed:
            # The container is named after the task, and the awslogs driver writes to
            # "{awslogs-stream-prefix}/{container}/{ECS task id}". Putting the container in
            # the prefix the operator reads makes every provider version read that stream:
            # 9.0.0 reads "{prefix}/{task id}", later ones add "/{container}" unless the
            # prefix already ends with it.
            logs = {
                "awslogs_group": mwaa.log_group,
                "awslogs_region": mwaa.region,
                "awslogs_stream_prefix": f"{mwaa.log_stream_prefix}/{task.name}",
            }
        else:
            # Where a hand-registered definition logs is read from it at run time.
            logs = {}
        operators[task.name] = fan_out.operator(
            FactoryEcsRunTaskOperator,
            task,
            dag,
            cluster=mwaa.cluster,
            task_definition=family_name(spec.dag_id, task.name) if managed else task.task_definition,
            managed_definition=_definition(spec, task, mwaa, fargate, external) if managed else None,
            expected_secrets=() if managed else [name for name, _ in task.secrets],
            overrides=_overrides(task, managed),
            network_configuration=None if external else _network(mwaa),
            tags={"factory:dag-id": spec.dag_id, "factory:task-id": task.name},
            aws_conn_id=mwaa.aws_conn_id,
            region_name=mwaa.region,
            reattach=True,
            number_logs_exception=LOG_LINES_ON_FAILURE,
            # Waiting in the worker, whatever [operators] default_deferrable says: only then
            # does the container's log stream into the task log and its tail reach the
            # error, and a hand-registered definition's log settings apply.
            deferrable=False,
            **operator_args(task),
            **logs,
            **placement,
        )
    return operators


def _network(mwaa: MwaaPlatform) -> dict[str, Any]:
    # A single template (e.g. "{{ var.value.ecs_subnets }}") stays a string here; the
    # operator splits what it renders to at run time.
    return {
        "awsvpcConfiguration": {
            "subnets": list(mwaa.subnets) if isinstance(mwaa.subnets, tuple) else mwaa.subnets,
            "securityGroups": list(mwaa.security_groups)
            if isinstance(mwaa.security_groups, tuple)
            else mwaa.security_groups,
            "assignPublicIp": "ENABLED" if mwaa.assign_public_ip else "DISABLED",
        }
    }


def _is_template(value: str) -> bool:
    return bool(_TEMPLATE.search(value))


def _overrides(task: Task, managed: bool) -> dict[str, Any]:
    override: dict[str, Any] = {}
    if managed:
        # The container of a task definition we did not write is only known at run
        # time; the operator fills its name in. Ours is always the task's name.
        override["name"] = task.name
    if task.command is not None:
        override["command"] = list(task.command)
    # Values that render per run (e.g. "{{ ds }}") go in the run's overrides: in the task
    # definition they would change its content, and so register a revision, every run.
    # A named task definition can only get its environment this way.
    environment = [{"name": k, "value": v} for k, v in task.env if not managed or _is_template(v)]
    if environment:
        override["environment"] = environment
    has_changes = len(override) > (1 if managed else 0)
    return {"containerOverrides": [override] if has_changes else []}


def _definition(spec: Spec, task: Task, mwaa: MwaaPlatform, fargate: bool, external: bool) -> dict[str, Any]:
    """The task definition the factory registers for one task (run-time templates included)."""
    if fargate:
        cpu, memory = fargate_size(task.cpu, task.memory_mib)
    else:
        cpu, memory = round(task.cpu * 1024), task.memory_mib
    container: dict[str, Any] = {
        "name": task.name,
        "image": task.image,
        "essential": True,
        "environment": [{"name": k, "value": v} for k, v in task.env if not _is_template(v)],
        # Names only: the operator turns them into SSM parameter ARNs, and ECS reads the
        # values with the execution role when the container starts.
        "secrets": [{"name": k, "valueFrom": v} for k, v in task.secrets],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": mwaa.log_group,
                "awslogs-stream-prefix": mwaa.log_stream_prefix,
                # Without a platform region the operator fills in the connection's.
                **({"awslogs-region": mwaa.region} if mwaa.region else {}),
            },
        },
    }
    definition: dict[str, Any] = {
        "family": family_name(spec.dag_id, task.name),
        "containerDefinitions": [container],
        "cpu": str(cpu),
        "memory": str(memory),
        "networkMode": "bridge" if external else "awsvpc",
        "executionRoleArn": mwaa.execution_role_arn,
    }
    if fargate:
        definition["requiresCompatibilities"] = ["FARGATE"]
    if mwaa.task_role_arn:
        definition["taskRoleArn"] = mwaa.task_role_arn
    return definition
