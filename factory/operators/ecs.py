"""EcsRunTaskOperator with a task definition the factory manages.

Imported only on the MWAA runtime: it needs the amazon provider. Everything here
happens in `execute`, when the task runs; parsing a DAG never calls AWS.

The provider's operator is used as it is in every amazon provider version MWAA pins
(9.0.0 on MWAA 2.10.3 up to 9.34.0 on 3.3.1), so this subclass only:
  - registers the task definition when its content changed, and reuses it otherwise,
    only when it starts a task (a retry that reattaches to its running task needs none);
  - turns secret names into the SSM parameter ARNs ECS expects;
  - splits subnet and security group lists that a template rendered as "a,b";
  - fills in what only AWS knows for a task definition the spec names (container name,
    log settings);
  - forwards the whole container log, including the lines written just before the
    container stopped (the provider versions MWAA pins, 9.34.0 and older, drop them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.providers.amazon.aws.utils import task_log_fetcher
from botocore.exceptions import ClientError

from factory.operators.fan_out import SpecTemplating
from factory.operators.notify import keeping_the_error

if TYPE_CHECKING:
    pass

# Tags on each revision the factory registers. The hash tag is what makes a second run
# with an unchanged spec reuse the revision instead of registering a new one.
HASH_TAG = "factory:content-sha256"
MANAGED_TAG = "factory:managed"
# How long a killed task waits for the last container log lines to be forwarded.
LOG_DRAIN_SECONDS = 30

_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>[^:]*):(?P<region>[^:]*):(?P<account>[0-9]*):(?P<resource>.+)$"
)


class TaskDefinitionError(ValueError):
    """A task definition cannot be used as the spec asks."""


def content_hash(definition: dict[str, Any]) -> str:
    """A stable digest of a task definition: key order and spacing do not matter."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def split_ids(value: str | Iterable[Any] | None) -> list[str]:
    """Subnet or security group ids from a list, or a string holding them comma-separated
    or as a JSON or Python list.

    Platform values such as `{{ var.value.ecs_subnets }}` render to one string (SSM
    StringList parameters are comma-separated), so the list is only known after rendering.
    """
    if value is None:
        return []
    items: Iterable[Any] = [value] if isinstance(value, str) else value
    ids: list[str] = []
    for item in items:
        text = str(item).strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                ids.extend(split_ids([str(x) for x in json.loads(text)]))
                continue
            except (ValueError, TypeError):
                # Not JSON: a rendered Python list, "['a', 'b']". Split what is inside.
                text = text[1:-1]
        ids.extend(part.strip().strip("'\"") for part in text.split(",") if part.strip().strip("'\""))
    return ids


def ssm_parameter_arn(name: str, *, partition: str, region: str, account: str) -> str:
    """The ARN ECS needs in `valueFrom` for an SSM parameter; ARNs are kept as they are.

    ECS accepts a bare name only for parameters in the task's own region; an ARN always
    works, and is what the execution role's IAM policy names.
    """
    if name.startswith("arn:"):
        return name
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def arn_parts(arn: str | None) -> dict[str, str] | None:
    match = _ARN.match(arn or "")
    return match.groupdict() if match else None


def _tag(tags: Sequence[dict[str, str]] | None, key: str) -> str | None:
    for tag in tags or ():
        if tag.get("key") == key:
            return tag.get("value")
    return None


class FactoryTaskLogFetcher(task_log_fetcher.AwsTaskLogFetcher):
    """The provider's CloudWatch log forwarder, made to forward every line.

    In the provider versions MWAA pins (9.0.0 to 9.34.0) the fetcher sleeps for the
    whole fetch interval and exits when stopped without reading again, so the last
    lines a container printed (often the error) never reach the Airflow task log, and
    stopping it waits out the sleep. This one wakes up when stopped and reads once more.
    """

    def run(self) -> None:
        token = AwsLogsHook.ContinuationToken()
        while not self._event.wait(self.fetch_interval.total_seconds()):
            self._forward(token)
        self._forward(token)

    def _forward(self, token: Any) -> None:
        # Newer providers log "ERROR: ..." lines at ERROR level; keep that where it exists.
        level_of = getattr(task_log_fetcher, "_parse_log_level", None)
        for event in self._get_log_events(token):
            level = level_of(event["message"]) if level_of else logging.INFO
            self.logger.log(level, self.event_to_str(event))

    def get_last_log_messages(self, number_messages: int) -> list[str]:
        """Like the provider's, but a stream that was never written (the container did not
        start) gives no lines instead of an exception that hides why the task failed."""
        try:
            return list(super().get_last_log_messages(number_messages))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            self.logger.warning(
                "No log stream %s in %s: the container wrote no log", self.log_stream_name, self.log_group
            )
            return []


class FactoryEcsRunTaskOperator(SpecTemplating, EcsRunTaskOperator):
    """Runs one spec task on ECS, registering its task definition only when it changed.

    :param managed_definition: the task definition the factory manages for this task, as
        `register_task_definition` takes it (templated). None when the spec names an
        existing task definition in `task_definition`.
    :param expected_secrets: for an existing task definition, the secret variables the spec
        lists; ECS cannot add secrets at run time, so a missing one is reported.
    """

    template_fields: Sequence[str] = (*EcsRunTaskOperator.template_fields, "managed_definition")
    template_fields_renderers = {**EcsRunTaskOperator.template_fields_renderers, "managed_definition": "json"}

    def __init__(
        self,
        *,
        managed_definition: dict[str, Any] | None = None,
        expected_secrets: Sequence[str] = (),
        fan_out_item: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Output goes to the task log. Nothing in a spec reads XComs, and the provider's
        # XCom (the container's last log line) may hold data that does not belong in the
        # metadata DB or the UI; reading it back would also cost a CloudWatch call.
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(**kwargs)
        self.fan_out_item = fan_out_item  # this copy's item of a for_each (factory/operators/fan_out.py)
        self.managed_definition = managed_definition
        self.expected_secrets = tuple(expected_secrets)
        self._definition: dict[str, Any] | None = None  # managed_definition as rendered and resolved

    def execute(self, context: Any) -> Any:
        self.network_configuration = self._split_network_ids(self.network_configuration)
        if self.managed_definition is not None:
            self._definition = self.resolve_definition(self.managed_definition)
            container = self._definition["containerDefinitions"][0]
        else:
            container = self.adopt_existing_definition()
        # Known now, so the provider need not find it out: 9.34+ would otherwise sleep
        # 10 s after run_task to read it back, and a reattached task would miss it.
        self.container_name = container["name"]
        with keeping_the_error(self):
            return super().execute(context)

    def _start_task(self) -> None:
        # The provider calls this only when no task of this try is running yet. Registering
        # here, not in execute, spares a retry that reattaches to its running task the
        # lookup, and never registers a revision that no task will run.
        if self._definition is not None:
            self.task_definition = self.ensure_registered(self._definition)
        super()._start_task()

    # -- managed task definitions ------------------------------------------------------

    def resolve_definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        """The rendered definition with what is only known in the account filled in:
        secret ARNs and the log region."""
        region = self.region_name or self.hook.conn_region_name
        role = arn_parts(definition.get("executionRoleArn"))
        # ECS only accepts an execution role of the account that runs the task (a role
        # cannot be passed across accounts), so its ARN gives the account and partition
        # without an STS call.
        partition = role["partition"] if role else self.hook.conn_partition
        account = role["account"] if role and role["account"] else None
        resolved = json.loads(json.dumps(definition))  # rendered templates: plain JSON data
        for container in resolved["containerDefinitions"]:
            for secret in container.get("secrets", ()):
                if not secret["valueFrom"].startswith("arn:"):
                    account = account or self.hook.account_id
                    secret["valueFrom"] = ssm_parameter_arn(
                        secret["valueFrom"], partition=partition, region=region, account=account
                    )
            options = container.get("logConfiguration", {}).get("options")
            if options is not None:
                # The awslogs driver needs the region on Fargate.
                options.setdefault("awslogs-region", self.awslogs_region or region)
        return resolved

    def ensure_registered(self, definition: dict[str, Any]) -> str:
        """The ARN of a revision with exactly this content: the family's latest when its
        hash tag matches, else a new revision."""
        digest = content_hash(definition)
        family = definition["family"]
        latest = self._latest_revision(family)
        if latest is not None and _tag(latest.get("tags"), HASH_TAG) == digest:
            arn = latest["taskDefinition"]["taskDefinitionArn"]
            self.log.info("Task definition %s is up to date (sha256 %s); reusing it", arn, digest[:12])
            return arn
        response = self.client.register_task_definition(
            **definition,
            tags=[{"key": HASH_TAG, "value": digest}, {"key": MANAGED_TAG, "value": "true"}],
        )
        arn = response["taskDefinition"]["taskDefinitionArn"]
        reason = "family is new" if latest is None else "content changed"
        self.log.info("Registered task definition %s (%s, sha256 %s)", arn, reason, digest[:12])
        return arn

    def _latest_revision(self, family: str) -> dict[str, Any] | None:
        try:
            return self.client.describe_task_definition(taskDefinition=family, include=["TAGS"])
        except ClientError as error:
            # ECS answers ClientException "Unable to describe task definition" for a family
            # with no ACTIVE revision. Anything else (throttling, no permission) is real.
            if error.response.get("Error", {}).get("Code") == "ClientException":
                return None
            raise

    # -- task definitions named by the spec --------------------------------------------

    def adopt_existing_definition(self) -> dict[str, Any]:
        """Pin the named task definition's current revision and take its first container
        (the one the spec's command runs in) and log settings."""
        described = self.client.describe_task_definition(taskDefinition=self.task_definition)["taskDefinition"]
        containers = described.get("containerDefinitions") or []
        if not containers:
            raise TaskDefinitionError(f"task definition {self.task_definition} has no container")
        container = containers[0]
        self.task_definition = described["taskDefinitionArn"]
        for override in (self.overrides or {}).get("containerOverrides", []):
            override.setdefault("name", container["name"])
        declared = {secret["name"] for secret in container.get("secrets", ())}
        missing = [name for name in self.expected_secrets if name not in declared]
        if missing:
            self.log.warning(
                "The spec lists secret(s) %s, but container %r of %s does not declare them; ECS cannot add "
                "secrets at run time, so the container will not get them",
                ", ".join(missing),
                container["name"],
                self.task_definition,
            )
        self._follow_container_logs(container)
        self.log.info(
            "Running task definition %s as registered; the command goes to its first container, %r",
            self.task_definition,
            container["name"],
        )
        return container

    def _follow_container_logs(self, container: dict[str, Any]) -> None:
        """Read the log where this task definition's awslogs driver writes it:
        `{awslogs-stream-prefix}/{container}/{task id}`."""
        log_config = container.get("logConfiguration") or {}
        options = log_config.get("options") or {}
        if log_config.get("logDriver") == "awslogs" and options.get("awslogs-stream-prefix"):
            self.awslogs_group = options.get("awslogs-group")
            self.awslogs_region = options.get("awslogs-region") or self.awslogs_region
            self.awslogs_stream_prefix = f"{options['awslogs-stream-prefix']}/{container['name']}"
        else:
            self.log.warning(
                "Container %r of %s does not log to CloudWatch with awslogs and a stream prefix; "
                "its output will not appear here",
                container["name"],
                self.task_definition,
            )
            self.awslogs_group = None
            self.awslogs_stream_prefix = None

    # -- stopping -----------------------------------------------------------------------

    def on_kill(self) -> None:
        """Stop the ECS task (the provider's on_kill: also on `execution_timeout`), then let
        the log forwarder read the stream once more before this task's log is closed."""
        super().on_kill()
        fetcher = self.task_log_fetcher
        if fetcher is not None and fetcher.is_alive():
            fetcher.join(timeout=LOG_DRAIN_SECONDS)

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _split_network_ids(network: dict[str, Any] | None) -> dict[str, Any] | None:
        if not network or "awsvpcConfiguration" not in network:
            return network
        vpc = dict(network["awsvpcConfiguration"])
        vpc["subnets"] = split_ids(vpc.get("subnets"))
        if not vpc["subnets"]:
            raise TaskDefinitionError("the platform's subnets rendered to an empty list")
        groups = split_ids(vpc.get("securityGroups"))
        if groups:
            vpc["securityGroups"] = groups
        else:
            vpc.pop("securityGroups", None)  # ECS then uses the VPC's default group
        return {**network, "awsvpcConfiguration": vpc}

    def _get_task_log_fetcher(self) -> FactoryTaskLogFetcher:
        if not self.awslogs_group:
            raise ValueError("must specify awslogs_group to fetch task logs")
        return FactoryTaskLogFetcher(
            aws_conn_id=self.aws_conn_id,
            region_name=self.awslogs_region or self.region_name,
            log_group=self.awslogs_group,
            log_stream_name=self._get_logs_stream_name(),
            fetch_interval=self.awslogs_fetch_interval,
            logger=self.log,
        )
