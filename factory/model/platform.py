"""The model of the platform file (specs/_platform.yaml): per-runtime settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OnpremPlatform:
    docker_url: str = "unix://var/run/docker.sock"
    network_mode: str = "bridge"
    docker_conn_id: str | None = None
    aws_conn_id: str = "aws_default"
    # None: the default policy (factory/validate/policy.py); else exactly these.
    allowed_network_modes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MwaaPlatform:
    cluster: str = ""
    subnets: tuple[str, ...] | str = ()  # a list, or one template rendering to "a,b"
    execution_role_arn: str = ""
    log_group: str = ""
    security_groups: tuple[str, ...] | str = ()
    assign_public_ip: bool = False
    launch_type: str = "FARGATE"
    capacity_provider_strategy: tuple[tuple[tuple[str, str | int], ...], ...] = ()
    platform_version: str | None = None
    task_role_arn: str | None = None
    log_stream_prefix: str = "factory"
    region: str | None = None
    aws_conn_id: str = "aws_default"


@dataclass(frozen=True)
class Notifications:
    """How notify targets are reached; a kind not set up (False) may not be used."""

    email: bool = False
    smtp_conn_id: str = "smtp_default"
    email_from: str | None = None
    sns: bool = False
    sns_conn_id: str = "aws_default"
    slack: bool = False
    slack_conn_id: str = "slack_api_default"

    def enabled(self, target: str) -> bool:
        return bool(getattr(self, target))


@dataclass(frozen=True)
class Platform:
    onprem: OnpremPlatform = field(default_factory=OnpremPlatform)
    mwaa: MwaaPlatform | None = None  # None: the platform file has no mwaa block
    spec_link: str | None = None  # a URL with {path}: the UI's link to each spec file
    notifications: Notifications = field(default_factory=Notifications)
