"""FactoryEcsRunTaskOperator's run-time steps, each on its own, with botocore's Stubber
standing in for ECS (test_e2e.py runs them together against moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_harness import REPO
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from factory.operators.ecs import (
    HASH_TAG,
    MANAGED_TAG,
    FactoryEcsRunTaskOperator,
    TaskDefinitionError,
    content_hash,
    split_ids,
    ssm_parameter_arn,
)

ROLE = "arn:aws:iam::210987654321:role/factory-ecs-execution"
DEFINITION: dict[str, Any] = {
    "family": "factory-sales-daily_rollup-extract",
    "containerDefinitions": [
        {
            "name": "extract",
            "image": "example/extract:1",
            "essential": True,
            "environment": [],
            "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "/prod/sales/db-password"},
                {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:api-AbCdEf"},
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/factory/tasks", "awslogs-stream-prefix": "factory"},
            },
        }
    ],
    "cpu": "256",
    "memory": "512",
    "networkMode": "awsvpc",
    "executionRoleArn": ROLE,
    "requiresCompatibilities": ["FARGATE"],
}


def operator(**kwargs: Any) -> FactoryEcsRunTaskOperator:
    arguments: dict[str, Any] = {
        "task_id": "extract",
        "cluster": "analytics",
        "task_definition": "factory-sales-daily_rollup-extract",
        "managed_definition": DEFINITION,
        "overrides": {"containerOverrides": [{"name": "extract", "command": ["run"]}]},
        "region_name": "eu-west-1",
        **kwargs,
    }
    return FactoryEcsRunTaskOperator(**arguments)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the operator reaches for an AWS client or session."""

    def refuse(self: Any) -> Any:
        pytest.fail("the operator called AWS")

    monkeypatch.setattr(FactoryEcsRunTaskOperator, "hook", property(refuse))


@pytest.fixture
def ecs_stub() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ecs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )  # never sends: the Stubber answers
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def with_client(op: FactoryEcsRunTaskOperator, client: Any) -> FactoryEcsRunTaskOperator:
    op.__dict__["client"] = client  # the provider's cached_property
    return op


# -- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("subnet-a,subnet-b", ["subnet-a", "subnet-b"]),  # an SSM StringList
        (" subnet-a , subnet-b ,", ["subnet-a", "subnet-b"]),
        (["subnet-a", "subnet-b,subnet-c"], ["subnet-a", "subnet-b", "subnet-c"]),
        ('["subnet-a", "subnet-b"]', ["subnet-a", "subnet-b"]),  # JSON list
        ("['subnet-a', 'subnet-b']", ["subnet-a", "subnet-b"]),  # a rendered Python list
        ("sg-1", ["sg-1"]),
        ("", []),
        (None, []),
    ],
)
def test_split_ids(value: Any, ids: list[str]) -> None:
    assert split_ids(value) == ids


def test_ssm_parameter_arn() -> None:
    parts = {"partition": "aws", "region": "eu-west-1", "account": "210987654321"}
    assert (
        ssm_parameter_arn("/prod/sales/db-password", **parts)
        == "arn:aws:ssm:eu-west-1:210987654321:parameter/prod/sales/db-password"
    )
    assert ssm_parameter_arn("db-password", **parts) == "arn:aws:ssm:eu-west-1:210987654321:parameter/db-password"
    arn = "arn:aws:ssm:us-east-1:111111111111:parameter/shared/key"
    assert ssm_parameter_arn(arn, **parts) == arn
    assert ssm_parameter_arn("/x", partition="aws-cn", region="cn-north-1", account="1").startswith("arn:aws-cn:ssm:")


def test_content_hash_ignores_key_order_but_not_content() -> None:
    reordered = dict(reversed(list(DEFINITION.items())))
    assert content_hash(reordered) == content_hash(DEFINITION)
    assert content_hash({**DEFINITION, "memory": "1024"}) != content_hash(DEFINITION)
    assert len(content_hash(DEFINITION)) == 64  # fits an ECS tag value (256)


# -- run-time resolution ------------------------------------------------------------------


def test_secret_names_become_ssm_arns_without_calling_aws(no_aws: None) -> None:
    resolved = operator().resolve_definition(DEFINITION)
    secrets = resolved["containerDefinitions"][0]["secrets"]
    # Account and partition from the execution role, region from the operator.
    assert secrets == [
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:eu-west-1:210987654321:parameter/prod/sales/db-password"},
        {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:api-AbCdEf"},
    ]
    # The awslogs driver needs the region on Fargate; the platform file did not say.
    assert resolved["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    assert DEFINITION["containerDefinitions"][0]["secrets"][0]["valueFrom"] == "/prod/sales/db-password"


def test_rendered_subnet_and_group_lists_are_split() -> None:
    network = {
        "awsvpcConfiguration": {"subnets": "subnet-a,subnet-b", "securityGroups": "", "assignPublicIp": "DISABLED"}
    }
    split = FactoryEcsRunTaskOperator._split_network_ids(network)
    # No security group: ECS uses the VPC's default one, as with no key at all.
    assert split == {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "assignPublicIp": "DISABLED"}}
    with pytest.raises(TaskDefinitionError, match="subnets rendered to an empty list"):
        FactoryEcsRunTaskOperator._split_network_ids({"awsvpcConfiguration": {"subnets": " "}})
    assert FactoryEcsRunTaskOperator._split_network_ids(None) is None


# -- registering only when the content changed ----------------------------------------------


def described(revision: int, digest: str | None) -> dict[str, Any]:
    arn = f"arn:aws:ecs:eu-west-1:210987654321:task-definition/{DEFINITION['family']}:{revision}"
    response: dict[str, Any] = {"taskDefinition": {"taskDefinitionArn": arn, "family": DEFINITION["family"]}}
    if digest is not None:
        response["tags"] = [{"key": HASH_TAG, "value": digest}]
    return response


def test_unchanged_definition_reuses_the_latest_revision(ecs_stub: tuple[Any, Stubber]) -> None:
    client, stub = ecs_stub
    stub.add_response(
        "describe_task_definition",
        described(7, content_hash(DEFINITION)),
        {"taskDefinition": DEFINITION["family"], "include": ["TAGS"]},
    )
    arn = with_client(operator(), client).ensure_registered(DEFINITION)
    assert arn.endswith(":7")


def test_changed_definition_registers_a_tagged_revision(ecs_stub: tuple[Any, Stubber]) -> None:
    client, stub = ecs_stub
    digest = content_hash(DEFINITION)
    stub.add_response("describe_task_definition", described(7, "0" * 64))
    stub.add_response(
        "register_task_definition",
        described(8, None),
        {**DEFINITION, "tags": [{"key": HASH_TAG, "value": digest}, {"key": MANAGED_TAG, "value": "true"}]},
    )
    assert with_client(operator(), client).ensure_registered(DEFINITION).endswith(":8")


def test_new_family_registers_its_first_revision(ecs_stub: tuple[Any, Stubber]) -> None:
    client, stub = ecs_stub
    stub.add_client_error(
        "describe_task_definition",
        service_error_code="ClientException",
        service_message="Unable to describe task definition.",
    )
    stub.add_response("register_task_definition", described(1, None))
    assert with_client(operator(), client).ensure_registered(DEFINITION).endswith(":1")


def test_other_errors_are_not_taken_for_a_missing_family(ecs_stub: tuple[Any, Stubber]) -> None:
    client, stub = ecs_stub
    stub.add_client_error("describe_task_definition", service_error_code="AccessDeniedException")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        with_client(operator(), client).ensure_registered(DEFINITION)


# -- task definitions registered by hand ----------------------------------------------------


def existing(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "taskDefinition": {
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:210987654321:task-definition/team-job:12",
            "family": "team-job",
            "containerDefinitions": [container, {"name": "sidecar", "image": "x"}],
        }
    }


def test_existing_definition_pins_revision_and_names_first_container(
    ecs_stub: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stub = ecs_stub
    container = {
        "name": "job",
        "image": "team/job:3",
        "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:eu-west-1:210987654321:parameter/t"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/team/jobs",
                "awslogs-region": "eu-central-1",
                "awslogs-stream-prefix": "team",
            },
        },
    }
    stub.add_response("describe_task_definition", existing(container), {"taskDefinition": "team-job"})
    op = with_client(
        operator(
            task_definition="team-job",
            managed_definition=None,
            overrides={"containerOverrides": [{"command": ["run"]}]},
            expected_secrets=["TOKEN", "DB_PASSWORD"],
        ),
        client,
    )
    assert op.adopt_existing_definition()["name"] == "job"
    assert op.task_definition.endswith("team-job:12")
    assert op.overrides == {"containerOverrides": [{"command": ["run"], "name": "job"}]}
    # Read where that definition's awslogs driver writes.
    assert (op.awslogs_group, op.awslogs_region, op.awslogs_stream_prefix) == ("/team/jobs", "eu-central-1", "team/job")
    # ECS cannot add a secret at run time: the one the definition lacks is reported.
    assert "The spec lists secret(s) DB_PASSWORD, but container 'job'" in capsys.readouterr().out


def test_existing_definition_without_awslogs_turns_log_reading_off(ecs_stub: tuple[Any, Stubber]) -> None:
    client, stub = ecs_stub
    stub.add_response("describe_task_definition", existing({"name": "job", "image": "team/job:3"}))
    op = with_client(
        operator(task_definition="team-job", managed_definition=None, awslogs_group="/factory/tasks"), client
    )
    op.adopt_existing_definition()
    assert op.awslogs_group is None and op.awslogs_stream_prefix is None


# -- date templates in a run without a logical date ---------------------------------------------


def _dated_operator() -> FactoryEcsRunTaskOperator:
    from factory.compile.airflow_compat import DAG

    with DAG("sales.dates", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
        return operator(
            overrides={
                "containerOverrides": [
                    {
                        "name": "extract",
                        "command": ["run", "--date", "{{ ds }}", "--at", "{{ ts_nodash }}"],
                        "environment": [{"name": "FROM", "value": "{{ data_interval_start }}"}],
                    }
                ]
            }
        )


def test_a_run_without_a_logical_date_renders_its_dates_from_run_after() -> None:
    from task_context import runtime_context

    op = _dated_operator()
    run_after = datetime(2026, 5, 10, 12, 30, 15, tzinfo=UTC)
    context = runtime_context(op, run_after=run_after)
    assert "ds" not in context and "logical_date" not in context  # what Airflow 3.3 gives such a run

    op.render_template_fields(context)

    (override,) = op.overrides["containerOverrides"]
    assert override["command"] == ["run", "--date", "2026-05-10", "--at", "20260510T123015"]
    assert override["environment"] == [{"name": "FROM", "value": "2026-05-10 12:30:15+00:00"}]


def test_a_real_logical_date_is_kept() -> None:
    from task_context import runtime_context

    op = _dated_operator()
    logical = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)
    context = runtime_context(
        op,
        run_after=datetime(2026, 5, 10, 12, 30, tzinfo=UTC),
        logical_date=logical,
        data_interval=(datetime(2024, 1, 1, 3, 0, tzinfo=UTC), logical),
    )

    op.render_template_fields(context)

    (override,) = op.overrides["containerOverrides"]
    assert override["command"] == ["run", "--date", "2024-01-02", "--at", "20240102T030000"]
    assert override["environment"] == [{"name": "FROM", "value": "2024-01-01 03:00:00+00:00"}]


# -- parse time -----------------------------------------------------------------------------


def test_parsing_the_dags_calls_no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DAG processor must never wait on AWS: Variables and the account are run-time."""
    import botocore.client

    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("an AWS API was called while parsing")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
    monkeypatch.setenv("FACTORY_RUNTIME", "mwaa")
    monkeypatch.delenv("FACTORY_HOME", raising=False)
    from factory.load.shards import LOADER_FILES
    from factory.loader import load_dags

    namespace: dict[str, Any] = {}
    for name in LOADER_FILES:
        assert load_dags(namespace, str(REPO / "dags" / name)) == []
    # Every task is an ECS task, but each DAG's verdict (announcing the pipeline's success)
    # and a wait's S3 sensor (whose connection is looked up when it runs, not here).
    tasks = [t for dag in namespace.values() for t in dag.tasks if t.task_id != "verdict"]
    sensors = [t for t in tasks if type(t).__name__ == "FactoryS3WaitSensor"]
    assert [t.dag_id for t in sensors] == ["examples.orders_extract"]
    tasks = [t for t in tasks if t not in sensors]
    # A fan-out: its copies (a mapped ECS operator) and the task that reads its list.
    readers = [t for t in tasks if type(t).__name__ == "FactoryItemsOperator"]
    assert [(t.dag_id, t.task_id) for t in readers] == [("examples.region_reprocess", "reprocess_items")]
    mapped = [t for t in tasks if type(t).__name__ == "MappedOperator"]
    assert [(t.dag_id, t.operator_class) for t in mapped] == [("examples.region_reprocess", FactoryEcsRunTaskOperator)]
    tasks = [t for t in tasks if t not in readers and t not in mapped]
    assert tasks and all(isinstance(t, FactoryEcsRunTaskOperator) for t in tasks)
