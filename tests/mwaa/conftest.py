"""Fixtures of the MWAA tests: moto in server mode, the platform's AWS set-up, and the
simulated ECS of aws_harness.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import boto3
import pytest
from aws_harness import AWS_ENV, LOG_GROUP, REGION, AwsWorld, EcsSimulator, register_finance_definition


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto over HTTP on a free loopback port, for this test module only (another module
    using moto's in-memory mocks would reset its state)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        from moto.core.base_backend import BackendDict

        BackendDict.reset()  # leave no AWS state to the next module that uses moto


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> Iterator[AwsWorld]:
    """The platform team's set-up: VPC, cluster, log group, roles, and the Variables and
    secret in SSM Parameter Store."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        session = boto3.session.Session(region_name=REGION)
        ec2 = session.client("ec2", endpoint_url=moto_endpoint)
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        # ECS run_task in moto needs DNS hostnames, as awsvpc tasks do on AWS.
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnets = tuple(
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
                "SubnetId"
            ]
            for i, zone in ((1, "a"), (2, "b"))
        )
        group = ec2.create_security_group(GroupName="factory-tasks", Description="factory ECS tasks", VpcId=vpc)[
            "GroupId"
        ]
        iam = session.client("iam", endpoint_url=moto_endpoint)
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        execution_role = iam.create_role(RoleName="factory-ecs-execution", AssumeRolePolicyDocument=trust)["Role"][
            "Arn"
        ]
        task_role = iam.create_role(RoleName="factory-ecs-task", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        ecs = session.client("ecs", endpoint_url=moto_endpoint)
        cluster, other_cluster = "analytics-e2e", "analytics-e2e-blue"
        ecs.create_cluster(clusterName=cluster)
        ecs.create_cluster(clusterName=other_cluster)
        logs = session.client("logs", endpoint_url=moto_endpoint)
        logs.create_log_group(logGroupName=LOG_GROUP)
        register_finance_definition(ecs, logs, execution_role)
        ssm = session.client("ssm", endpoint_url=moto_endpoint)
        variables = {
            "ecs_cluster": cluster,
            # One comma-separated value, as an SSM StringList holds it.
            "ecs_subnets": ",".join(subnets),
            "ecs_security_groups": group,
            "ecs_execution_role_arn": execution_role,
            "ecs_task_role_arn": task_role,
        }
        for key, value in variables.items():
            ssm.put_parameter(Name=f"/airflow/variables/{key}", Value=value, Type="String")
        secret_value = "pa55-from-ssm-9f1c"
        ssm.put_parameter(Name="/prod/sales/db-password", Value=secret_value, Type="SecureString")
        ssm.put_parameter(
            Name="/prod/finance/ledger-db-url", Value="postgres://ledger:pw@db/ledger", Type="SecureString"
        )
        yield AwsWorld(
            endpoint=moto_endpoint,
            cluster=cluster,
            other_cluster=other_cluster,
            subnets=subnets,  # type: ignore[arg-type]
            security_group=group,
            execution_role_arn=execution_role,
            task_role_arn=task_role,
            secret_value=secret_value,
            variables=variables,
        )


@pytest.fixture(scope="module")
def ecs(aws: AwsWorld) -> Iterator[EcsSimulator]:
    sim = EcsSimulator()
    with pytest.MonkeyPatch.context() as patch:
        sim.install(patch)
        try:
            yield sim
        finally:
            sim.uninstall()
