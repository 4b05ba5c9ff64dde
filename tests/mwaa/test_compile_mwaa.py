"""compile/mwaa.py: what each spec task becomes on the MWAA runtime, checked without AWS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from factory.compile.airflow_compat import DAG
from factory.compile.mwaa import MwaaConfigError, add_tasks, family_name
from factory.model import Platform, Spec
from factory.model.platform import MwaaPlatform
from factory.model.spec import Task
from factory.operators.ecs import FactoryEcsRunTaskOperator

PLATFORM = MwaaPlatform(
    cluster="{{ var.value.ecs_cluster }}",
    subnets="{{ var.value.ecs_subnets }}",
    security_groups=("sg-1",),
    execution_role_arn="{{ var.value.ecs_execution_role_arn }}",
    task_role_arn="arn:aws:iam::123456789012:role/task",
    log_group="/factory/tasks",
    log_stream_prefix="factory",
    region="eu-west-1",
)
TASK = Task(
    name="extract",
    image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/sales-extract:1.4.2",
    command=("python", "extract.py", "--date", "{{ ds }}"),
    env=(("STAGE", "prod"), ("RUN_DAY", "{{ ds }}")),
    secrets=(("DB_PASSWORD", "/prod/sales/db-password"),),
    cpu=0.3,
    memory_mib=700,
    depends_on=(),
    retries=2,
    retry_delay=timedelta(minutes=10),
    timeout=timedelta(hours=1),
)


def compile_task(task: Task = TASK, platform: MwaaPlatform = PLATFORM) -> FactoryEcsRunTaskOperator:
    spec = Spec(
        dag_id="sales.daily_rollup",
        path="sales/daily_rollup.yaml",
        description="",
        owner="sales",
        schedule=None,
        start_date=date(2024, 1, 1),
        catchup=False,
        tags=(),
        max_active_runs=1,
        tasks=(task,),
    )
    dag = DAG(dag_id=spec.dag_id, schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC))
    return add_tasks(dag, spec, Platform(mwaa=platform))[task.name]


def test_managed_task_definition_from_the_spec() -> None:
    op = compile_task()
    assert op.task_definition == "factory-sales-daily_rollup-extract"
    definition: dict[str, Any] = op.managed_definition
    assert definition["family"] == "factory-sales-daily_rollup-extract"
    # 0.3 vCPU / 700 MiB rounded up to a Fargate size.
    assert (definition["cpu"], definition["memory"]) == ("512", "1024")
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    assert definition["executionRoleArn"] == "{{ var.value.ecs_execution_role_arn }}"
    assert definition["taskRoleArn"] == "arn:aws:iam::123456789012:role/task"
    container = definition["containerDefinitions"][0]
    assert container["name"] == "extract"
    assert container["image"] == TASK.image
    # Secret names only; the operator makes them ARNs at run time.
    assert container["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": "/prod/sales/db-password"}]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/factory/tasks",
            "awslogs-stream-prefix": "factory",
            "awslogs-region": "eu-west-1",
        },
    }


def test_values_that_change_every_run_stay_out_of_the_task_definition() -> None:
    op = compile_task()
    # A per-run value in the definition would register a new revision every run.
    assert op.managed_definition["containerDefinitions"][0]["environment"] == [{"name": "STAGE", "value": "prod"}]
    assert op.overrides == {
        "containerOverrides": [
            {
                "name": "extract",
                "command": ["python", "extract.py", "--date", "{{ ds }}"],
                "environment": [{"name": "RUN_DAY", "value": "{{ ds }}"}],
            }
        ]
    }


def test_logs_are_read_where_awslogs_writes_them() -> None:
    op = compile_task()
    # awslogs writes "{prefix}/{container}/{task id}"; the provider reads "{this}/{task id}"
    # (9.0.0), or the same when the prefix ends with the container name (later versions).
    assert op.awslogs_group == "/factory/tasks"
    assert op.awslogs_stream_prefix == "factory/extract"
    assert op.awslogs_region == "eu-west-1"


def test_run_time_settings_stay_templates_until_the_task_runs() -> None:
    op = compile_task()
    assert op.cluster == "{{ var.value.ecs_cluster }}"
    assert op.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": "{{ var.value.ecs_subnets }}",
            "securityGroups": ["sg-1"],
            "assignPublicIp": "DISABLED",
        }
    }
    assert {"cluster", "network_configuration", "overrides", "managed_definition"} <= set(op.template_fields)


def test_task_settings() -> None:
    op = compile_task()
    assert op.launch_type == "FARGATE"
    assert op.reattach is True
    assert op.deferrable is False
    assert op.number_logs_exception == 20
    assert op.retries == 2
    assert op.retry_delay == timedelta(minutes=10)
    assert op.execution_timeout == timedelta(hours=1)
    assert op.tags == {"factory:dag-id": "sales.daily_rollup", "factory:task-id": "extract"}
    assert op.region_name == "eu-west-1"
    assert op.aws_conn_id == "aws_default"
    # The container's last log line stays out of XCom (the metadata DB and the UI).
    assert op.do_xcom_push is False


def test_existing_task_definition_is_run_as_named() -> None:
    op = compile_task(replace(TASK, task_definition="finance-ledger-close:12"))
    assert op.task_definition == "finance-ledger-close:12"
    assert op.managed_definition is None
    # Its container's name, and where it logs, are read from it at run time; ECS can
    # only add environment variables to it, and cannot add secrets.
    assert op.overrides == {
        "containerOverrides": [
            {
                "command": ["python", "extract.py", "--date", "{{ ds }}"],
                "environment": [{"name": "STAGE", "value": "prod"}, {"name": "RUN_DAY", "value": "{{ ds }}"}],
            }
        ]
    }
    assert op.expected_secrets == ("DB_PASSWORD",)
    assert op.awslogs_group is None


def test_image_command_and_no_env_means_no_overrides() -> None:
    op = compile_task(replace(TASK, command=None, env=()))
    assert op.overrides == {"containerOverrides": []}


def test_capacity_provider_strategy_replaces_launch_type() -> None:
    platform = replace(
        PLATFORM,
        capacity_provider_strategy=((("capacity_provider", "FARGATE_SPOT"), ("weight", 1)),),
        platform_version="1.4.0",
    )
    op = compile_task(platform=platform)
    assert op.capacity_provider_strategy == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert op.platform_version == "1.4.0"
    assert op.managed_definition["requiresCompatibilities"] == ["FARGATE"]


def test_ec2_keeps_the_spec_size() -> None:
    op = compile_task(platform=replace(PLATFORM, launch_type="EC2"))
    assert (op.managed_definition["cpu"], op.managed_definition["memory"]) == ("307", "700")
    assert "requiresCompatibilities" not in op.managed_definition


def test_external_instances_use_bridge_networking() -> None:
    op = compile_task(platform=replace(PLATFORM, launch_type="EXTERNAL"))
    assert op.managed_definition["networkMode"] == "bridge"
    assert op.network_configuration is None


def test_platform_without_mwaa_block_is_an_error() -> None:
    spec_task = TASK
    with pytest.raises(MwaaConfigError, match="no 'mwaa:' block"):
        add_tasks(
            None, Spec("a.b", "a/b.yaml", "", "o", None, date(2024, 1, 1), False, (), 1, (spec_task,)), Platform()
        )


def test_family_names_are_valid_for_ecs() -> None:
    assert family_name("sales.daily_rollup", "extract") == "factory-sales-daily_rollup-extract"
    assert len(family_name("x" * 300, "t")) == 255
