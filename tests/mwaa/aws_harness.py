"""A small AWS for the MWAA tests: an ECS that runs "containers" on top of moto.

moto serves ECS, CloudWatch Logs, SSM, IAM and EC2 over real HTTP on 127.0.0.1 (see
conftest.py), so the operator, the provider's hooks and Airflow's SSM secrets backend
all talk to it exactly as they talk to AWS. The server runs in the test process so this
harness can act as the parts of ECS that moto does not model: the ECS agent that starts
the container, the container itself, and the awslogs driver that ships its output to
CloudWatch. Nothing here is known to the product code.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"  # the region of specs/_platform.yaml
LOG_GROUP = "/factory/tasks"  # the log group of specs/_platform.yaml


# -- what a container does ---------------------------------------------------------------


@dataclass
class Program:
    """The behaviour of one image in the simulated ECS.

    `output` gets the container's command and environment (secrets included, as ECS
    injects them) and returns the lines it prints, which the awslogs driver ships to
    CloudWatch. `running_polls` is how many describe_tasks calls see the task RUNNING
    before the container exits with `exit_code`; None runs until the task is stopped.
    `run`, when given, replaces both: it runs the container for real and returns its
    output and exit code (see `container_program`).
    """

    output: Callable[[list[str], dict[str, str]], list[str]] = lambda _command, _env: []
    exit_code: int = 0
    running_polls: int | None = 0
    run: Callable[[list[str], dict[str, str]], tuple[list[str], int]] | None = None

    def start(self, command: list[str], environment: dict[str, str]) -> tuple[list[str], int]:
        if self.run is not None:
            return self.run(command, environment)
        return self.output(command, environment), self.exit_code


def container_program(client: Any, image: str) -> Program:
    """The image run for real on this machine's Docker engine, as ECS's agent would run
    it: the task's command and environment (secrets included), its output and exit code."""

    def run(command: list[str], environment: dict[str, str]) -> tuple[list[str], int]:
        container = client.create_container(image, command=command, environment=environment)
        try:
            client.start(container)
            exit_code = client.wait(container, timeout=120)["StatusCode"]
            output = client.logs(container, stdout=True, stderr=True).decode(errors="replace")
        finally:
            client.remove_container(container, force=True)
        return output.splitlines(), exit_code

    return Program(run=run)


@dataclass
class SimulatedTask:
    program: Program | None  # None: stopped before ECS ever started it
    polls: int = 0
    finished: bool = False
    command: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    exit_code: int = 0


class EcsSimulator:
    """Plays ECS's agent, the containers and the awslogs driver on top of moto's ECS model.

    Why moto needs this: its tasks walk RUNNING -> ... -> STOPPED one step per
    describe_tasks whatever the container does, its containers stay PENDING forever
    (the operator then fails with "still pending"), nothing writes container logs, and
    desiredStatus stays RUNNING after a task stops (so a reattach would find dead tasks).
    Here a task's lifecycle follows the Program of its image instead, like ECS would:
    secrets are fetched from SSM when the container starts (an unknown parameter fails
    the start, as on ECS), the output goes to the stream the awslogs driver writes,
    `{awslogs-stream-prefix}/{container}/{task id}` read from the task definition, and
    stop_task kills the container.
    """

    def __init__(self) -> None:
        self.programs: dict[str, Program] = {}
        self.tasks: dict[str, SimulatedTask] = {}
        self.stop_calls: list[tuple[str, str]] = []
        self._served: list[tuple[float, str]] | None = None
        # moto serves requests in threads: several workers may poll one task at once.
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        """The AWS API calls moto serves meanwhile, as IAM names ("ecs:RunTask"); the
        test itself makes none then, so they are what Airflow needs permission for."""
        calls: set[str] = set()
        with self.counting() as served:
            try:
                yield calls
            finally:
                calls.update(name for _, name in served)

    @contextmanager
    def counting(self) -> Iterator[list[tuple[float, str]]]:
        """Every AWS API call moto serves meanwhile, in order, with when it arrived (the
        epoch time), by IAM name: what benchmarks/task_cost.py counts per task run."""
        self._served = served = []
        try:
            yield served
        finally:
            self._served = None

    def program(self, image: str, program: Program) -> None:
        self.programs[image] = program

    # moto backends, looked up per call: a reset of moto replaces them.
    @staticmethod
    def backend(service: str, region: str = REGION) -> Any:
        from moto.backends import get_backend

        return get_backend(service)[ACCOUNT][region]  # type: ignore[index]

    def install(self, patch: pytest.MonkeyPatch) -> None:
        from moto.core.responses import BaseResponse
        from moto.ecs.models import EC2ContainerServiceBackend
        from moto.moto_api import state_manager

        sim = self
        original_call_action = BaseResponse.call_action

        def call_action(response: Any) -> Any:
            if sim._served is not None:
                with sim._lock:
                    sim._served.append((time.time(), f"{response.service_name}:{response._get_action()}"))
            return original_call_action(response)

        original_describe = EC2ContainerServiceBackend.describe_tasks
        original_stop = EC2ContainerServiceBackend.stop_task
        original_resources = EC2ContainerServiceBackend.__dict__["_calculate_task_resource_requirements"].__func__

        def describe_tasks(backend: Any, cluster_str: str, tasks: list[str]) -> list[Any]:
            found = original_describe(backend, cluster_str, tasks)
            with sim._lock:
                for task in found:
                    sim._observe(backend, task)
            return found

        def stop_task(backend: Any, cluster_str: str, task_str: str, reason: str) -> Any:
            task = original_stop(backend, cluster_str, task_str, reason)
            sim.stop_calls.append((task.task_arn, reason))
            sim.tasks.setdefault(task.task_arn, SimulatedTask(program=None))
            sim._stop(task, exit_code=137, stop_code="UserInitiated", reason=reason)
            return task

        def resources(task_definition: Any) -> dict[str, Any]:
            # moto adds up container-level memory and crashes (500) when a container has
            # none, which Fargate allows: the task-level memory is the limit.
            patched = copy.copy(task_definition)
            patched.container_definitions = [
                {**c, "memory": c.get("memory") or c.get("memoryReservation") or 0}
                for c in task_definition.container_definitions
            ]
            return original_resources(patched)

        patch.setattr(BaseResponse, "call_action", call_action)
        patch.setattr(EC2ContainerServiceBackend, "describe_tasks", describe_tasks)
        patch.setattr(EC2ContainerServiceBackend, "stop_task", stop_task)
        patch.setattr(EC2ContainerServiceBackend, "_calculate_task_resource_requirements", staticmethod(resources))
        # The harness, not moto's one-step-per-describe clock, decides when a task stops.
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})

    @staticmethod
    def uninstall() -> None:
        from moto.moto_api import state_manager

        state_manager.unset_transition("ecs::task")

    # -- the lifecycle -------------------------------------------------------------------

    def _observe(self, backend: Any, task: Any) -> None:
        sim = self.tasks.get(task.task_arn)
        if sim is None:
            definition = backend.describe_task_definition(task.task_definition_arn)
            image = definition.container_definitions[0]["image"]
            program = self.programs.get(image)
            if program is None:
                raise AssertionError(f"the test gave no Program for image {image}")
            sim = self.tasks[task.task_arn] = SimulatedTask(program)
            if not self._start(backend, task, definition, sim):
                return
        if sim.finished or sim.program is None:
            return
        sim.polls += 1
        if sim.program.running_polls is not None and sim.polls > sim.program.running_polls:
            self._stop(task, exit_code=sim.exit_code, stop_code="EssentialContainerExited")
        else:
            task.status = "RUNNING"

    def _start(self, backend: Any, task: Any, definition: Any, sim: SimulatedTask) -> bool:
        container_def = definition.container_definitions[0]
        override = next(
            (o for o in task.overrides.get("containerOverrides", []) if o.get("name") == container_def["name"]),
            {},
        )
        environment = {e["name"]: e["value"] for e in container_def.get("environment", [])}
        environment.update({e["name"]: e["value"] for e in override.get("environment", [])})
        for secret in container_def.get("secrets", []):
            value = self._ssm_value(secret["valueFrom"])
            if value is None:
                self._stop(
                    task,
                    exit_code=None,
                    stop_code="TaskFailedToStart",
                    reason="ResourceInitializationError: unable to pull secrets or registry auth: "
                    f"invalid ssm parameters: {secret['valueFrom']}",
                )
                return False
            environment[secret["name"]] = value
        command = override.get("command") or container_def.get("command") or []
        sim.command, sim.environment = command, environment
        assert sim.program is not None
        options = container_def.get("logConfiguration", {}).get("options", {})
        if container_def.get("logConfiguration", {}).get("logDriver") == "awslogs":
            logs = self.backend("logs", options.get("awslogs-region", REGION))
            if options["awslogs-group"] not in logs.groups:
                self._stop(
                    task,
                    exit_code=None,
                    stop_code="TaskFailedToStart",
                    reason="ResourceInitializationError: failed to validate logger args: "
                    "The specified log group does not exist.",
                )
                return False
            stream = f"{options['awslogs-stream-prefix']}/{container_def['name']}/{task.id}"
            logs.create_log_stream(options["awslogs-group"], stream)
        lines, sim.exit_code = sim.program.start(command, environment)
        if container_def.get("logConfiguration", {}).get("logDriver") == "awslogs":
            now = int(time.time() * 1000)
            events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
            if events:
                logs.put_log_events(options["awslogs-group"], stream, events)
        task.status = "RUNNING"
        for container in task.containers:
            container.last_status = "RUNNING"
        return True

    def _stop(self, task: Any, *, exit_code: int | None, stop_code: str, reason: str | None = None) -> None:
        sim = self.tasks.get(task.task_arn)
        if sim is not None:
            if sim.finished:
                return
            sim.finished = True
        task.status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = stop_code
        task.stopped_reason = reason or "Essential container in task exited"
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = exit_code  # None: it never started, so it has no exit code

    def _ssm_value(self, value_from: str) -> str | None:
        """What ECS's agent does with `valueFrom`: an SSM parameter ARN (or a bare name in
        the task's region) resolved with the execution role."""
        if value_from.startswith("arn:"):
            _, _, service, region, account, resource = value_from.split(":", 5)
            if service != "ssm" or account != ACCOUNT or not resource.startswith("parameter/"):
                return None
            name = "/" + resource.removeprefix("parameter/")
        else:
            region, name = REGION, value_from
        ssm = self.backend("ssm", region)
        for candidate in (name, name.lstrip("/")):
            parameter = ssm.get_parameter(candidate)
            if parameter is not None:
                return parameter.decrypt(parameter.value)  # ECS asks with WithDecryption
        return None

    def ecs_task(self, arn: str) -> Any:
        """moto's record of an ECS task, whatever its cluster."""
        for tasks in self.backend("ecs").tasks.values():
            if arn in tasks:
                return tasks[arn]
        raise KeyError(arn)

    def tasks_started_by(self, cluster: str, started_by: str) -> list[Any]:
        return [t for t in self.backend("ecs").tasks.get(cluster, {}).values() if t.started_by == started_by]


# -- the AWS account the tests run in ----------------------------------------------------


@dataclass(frozen=True)
class AwsWorld:
    endpoint: str
    cluster: str
    other_cluster: str
    subnets: tuple[str, str]
    security_group: str
    execution_role_arn: str
    task_role_arn: str
    secret_value: str
    variables: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def set_variable(self, key: str, value: str) -> None:
        """Change an Airflow Variable where MWAA reads it: SSM Parameter Store."""
        self.client("ssm").put_parameter(Name=f"/airflow/variables/{key}", Value=value, Type="String", Overwrite=True)


FINANCE_FAMILY = "finance-ledger-close"
FINANCE_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance/ledger:5.1.0"
FINANCE_LOG_GROUP = "/finance/ledger"


def register_finance_definition(ecs: Any, logs: Any, execution_role: str) -> None:
    """The task definition specs/finance/monthly_close.yaml names (finance-ledger-close:12),
    registered by hand by its team: its own container name, log group and stream prefix,
    and a sidecar after the main container."""
    logs.create_log_group(logGroupName=FINANCE_LOG_GROUP)
    for revision in range(1, 13):
        ecs.register_task_definition(
            family=FINANCE_FAMILY,
            containerDefinitions=[
                {
                    "name": "ledger",
                    "image": FINANCE_IMAGE if revision == 12 else f"{FINANCE_IMAGE}-old{revision}",
                    "essential": True,
                    "secrets": [
                        {
                            "name": "LEDGER_DB_URL",
                            "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/finance/ledger-db-url",
                        }
                    ],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": FINANCE_LOG_GROUP,
                            "awslogs-region": REGION,
                            "awslogs-stream-prefix": "finance",
                        },
                    },
                },
                {"name": "audit-sidecar", "image": "public.ecr.aws/finance/audit:1", "essential": False},
            ],
            cpu="1024",
            memory="3072",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            executionRoleArn=execution_role,
        )


def create_account(moto_endpoint: str) -> AwsWorld:
    """The platform team's set-up in moto: VPC, cluster, log group, roles, and the
    Variables and secret in SSM Parameter Store."""
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
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
    group = ec2.create_security_group(GroupName="factory-tasks", Description="factory ECS tasks", VpcId=vpc)["GroupId"]
    iam = session.client("iam", endpoint_url=moto_endpoint)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    execution_role = iam.create_role(RoleName="factory-ecs-execution", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
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
    ssm.put_parameter(Name="/prod/finance/ledger-db-url", Value="postgres://ledger:pw@db/ledger", Type="SecureString")
    return AwsWorld(
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


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # Never read a developer's real profile or an instance role.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def mwaa_project(tmp: Path) -> Path:
    """A copy of the repository's specs and schemas, plus the specs only these tests use."""
    shutil.copytree(REPO / "specs", tmp / "specs")
    shutil.copytree(REPO / "schemas", tmp / "schemas")
    shutil.copytree(Path(__file__).parent / "specs", tmp / "specs", dirs_exist_ok=True)
    return tmp


def airflow_environment(aws: AwsWorld, project: Path) -> dict[str, str]:
    """What an MWAA environment configured as README.md's MWAA section says looks like to Airflow,
    with moto as AWS."""
    return {
        **AWS_ENV,
        "FACTORY_RUNTIME": "mwaa",
        "FACTORY_HOME": str(project),
        # MWAA configuration options secrets.backend / secrets.backend_kwargs. The backend
        # takes client settings such as endpoint_url like an AWS connection's extras.
        "AIRFLOW__SECRETS__BACKEND": "airflow.providers.amazon.aws.secrets.systems_manager."
        "SystemsManagerParameterStoreBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {
                "connections_prefix": "/airflow/connections",
                "variables_prefix": "/airflow/variables",
                "region_name": REGION,
                "endpoint_url": aws.endpoint,
            }
        ),
        # MWAA's aws_default uses the execution role; here it points at moto.
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"region_name": REGION, "endpoint_url": aws.endpoint}}
        ),
    }


# -- running DAGs in an Airflow --------------------------------------------------------


@dataclass
class DagRunResult:
    run_id: str
    states: dict[str, str]
    log: str  # everything Airflow printed while the run went: the task logs
    began: float = 0.0  # epoch seconds, as the run's process saw them
    ended: float = 0.0


@dataclass
class Batch:
    import_errors: dict[str, str]
    runs: list[DagRunResult]
    output: str  # the whole output, for the secret checks


def run_dags(python: Path, env: dict[str, str], runs: list[dict[str, Any]], timeout: float = 300) -> Batch:
    """Run DAGs with dag.test() in a subprocess of `python` (see run_dags.py)."""
    import subprocess

    completed = subprocess.run(
        [str(python), str(Path(__file__).with_name("run_dags.py")), json.dumps(runs)],
        env=env,
        cwd=env.get("AIRFLOW_HOME", "/"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order things happened
        text=True,
        timeout=timeout,
        check=False,
    )
    # Some Airflow versions colour exception text even into a pipe.
    output = re.sub(r"\x1b\[[0-9;]*m", "", completed.stdout)
    if completed.returncode != 0:
        raise AssertionError(f"run_dags.py exited {completed.returncode}:\n{output[-6000:]}")
    lines = output.splitlines()
    import_errors: dict[str, str] = {}
    results: list[DagRunResult] = []
    current: list[str] | None = None
    began = 0.0
    for i, line in enumerate(lines):
        if line.startswith("FACTORY-IMPORT-ERRORS "):
            import_errors = json.loads(line.split(" ", 1)[1])
        elif line.startswith("FACTORY-RUN-BEGIN "):
            current = []
            began = float(line.split()[2])
        elif line == "FACTORY-RUN-END":
            result = json.loads(lines[i + 1])
            log = "\n".join(current or [])
            results.append(DagRunResult(result["run_id"], result["states"], log, began, result["ended"]))
            current = None
        elif current is not None:
            current.append(line)
    if len(results) != len(runs):
        raise AssertionError(f"expected {len(runs)} runs, got {len(results)}:\n{output[-6000:]}")
    return Batch(import_errors, results, output)
