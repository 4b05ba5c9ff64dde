"""Merged, validated spec data -> the frozen model."""

from __future__ import annotations

from datetime import date
from typing import Any

from factory.model.command import split_command
from factory.model.platform import MwaaPlatform, Notifications, OnpremPlatform, Platform
from factory.model.spec import (
    DEFAULT_CHECK_EVERY,
    DEFAULT_CPU,
    DEFAULT_MEMORY_MIB,
    DEFAULT_RETRY_DELAY,
    NOTIFY_TARGETS,
    FanOut,
    Notify,
    RunParam,
    Spec,
    Task,
    Wait,
)
from factory.model.units import parse_duration, parse_memory_mib


def _text(value: Any) -> str:
    # YAML reads `true`/`7` as bool/int; a container sees text, spelt the YAML way.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Keys a spec's top level (or a _defaults.yaml) sets for every task; a task's own wins.
TASK_DEFAULTS = ("retries", "retry_delay", "timeout", "retry_backoff", "max_retry_delay", "depends_on_past", "pool")


def build_spec(dag_id: str, path: str, data: dict[str, Any]) -> Spec:
    inherited = {key: data[key] for key in TASK_DEFAULTS if key in data}
    tasks = tuple(_build_task(name, {**inherited, **task}) for name, task in data["tasks"].items())
    return Spec(
        dag_id=dag_id,
        path=path,
        description=data["description"],
        owner=data["owner"],
        schedule=data.get("schedule"),
        start_date=date.fromisoformat(data["start_date"]),
        catchup=data.get("catchup", False),
        tags=tuple(data.get("tags", ())),
        max_active_runs=data.get("max_active_runs", 1),
        tasks=tasks,
        after=tuple(data.get("after", ())),
        after_any=tuple(data.get("after_any", ())),
        wait_for=_build_wait(data.get("wait_for")),
        max_active_tasks=data.get("max_active_tasks"),
        timezone=data.get("timezone", "UTC"),
        params=tuple(
            RunParam(name, p["type"], _default(p["default"]), p.get("description"), tuple(p.get("values", ())))
            for name, p in data.get("params", {}).items()
        ),
        end_date=date.fromisoformat(data["end_date"]) if "end_date" in data else None,
        notify=tuple(_build_notify(item) for item in data.get("notify", ())),
        deadline=parse_duration(data["deadline"]["within"]) if "deadline" in data else None,
    )


def _default(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # a list parameter's, frozen


def _build_fan_out(data: dict[str, Any] | None) -> FanOut | None:
    if data is None:
        return None
    return FanOut(tuple(data.get("values", ())), data.get("param"), data.get("at_once"))


def _build_notify(item: dict[str, Any]) -> Notify:
    target = next(key for key in NOTIFY_TARGETS if key in item)
    return Notify(target, item[target], tuple(item.get("when", ("failure",))))


def _build_wait(data: dict[str, Any] | None) -> Wait | None:
    if data is None:
        return None
    return Wait(
        url=data["s3"],
        timeout=parse_duration(data["timeout"]),
        check_every=parse_duration(data["check_every"]) if "check_every" in data else DEFAULT_CHECK_EVERY,
        on_timeout=data.get("on_timeout", "fail"),
    )


def _build_task(name: str, task: dict[str, Any]) -> Task:
    command = task.get("command")
    if isinstance(command, str):
        command = split_command(command)
    onprem = task.get("onprem", {})
    mwaa = task.get("mwaa", {})
    return Task(
        name=name,
        image=task["image"],
        command=tuple(_text(c) for c in command) if command is not None else None,
        env=tuple((k, _text(v)) for k, v in task.get("env", {}).items()),
        secrets=tuple(task.get("secrets", {}).items()),
        cpu=float(task.get("cpu", DEFAULT_CPU)),
        memory_mib=parse_memory_mib(task["memory"]) if "memory" in task else DEFAULT_MEMORY_MIB,
        depends_on=tuple(task.get("depends_on", ())),
        retries=task.get("retries", 0),
        retry_delay=parse_duration(task["retry_delay"]) if "retry_delay" in task else DEFAULT_RETRY_DELAY,
        timeout=parse_duration(task["timeout"]) if "timeout" in task else None,
        docker_conn_id=onprem.get("docker_conn_id"),
        network_mode=onprem.get("network_mode"),
        shm_size_mib=parse_memory_mib(onprem["shm_size"]) if "shm_size" in onprem else None,
        updates=tuple(task.get("updates", ())),
        wait_for=_build_wait(task.get("wait_for")),
        run_if=task.get("run_if", "all_succeeded"),
        retry_exponential=task.get("retry_backoff") == "exponential",
        max_retry_delay=parse_duration(task["max_retry_delay"]) if "max_retry_delay" in task else None,
        depends_on_past=task.get("depends_on_past", False),
        pool=task.get("pool"),
        priority=task.get("priority", 1),
        for_each=_build_fan_out(task.get("for_each")),
        task_definition=mwaa.get("task_definition"),
    )


def build_platform(data: dict[str, Any]) -> Platform:
    onprem_fields = dict(data.get("onprem", {}))
    if "allowed_network_modes" in onprem_fields:
        onprem_fields["allowed_network_modes"] = tuple(onprem_fields["allowed_network_modes"])
    onprem = OnpremPlatform(**onprem_fields)
    mwaa_data = data.get("mwaa")
    mwaa = None
    if mwaa_data is not None:
        fields = dict(mwaa_data)
        for key in ("subnets", "security_groups"):
            if isinstance(fields.get(key), list):
                fields[key] = tuple(fields[key])
        if "capacity_provider_strategy" in fields:
            fields["capacity_provider_strategy"] = tuple(
                tuple(sorted(item.items())) for item in fields["capacity_provider_strategy"]
            )
        mwaa = MwaaPlatform(**fields)
    return Platform(onprem=onprem, mwaa=mwaa, spec_link=data.get("spec_link"), notifications=_build_notifications(data))


def _build_notifications(data: dict[str, Any]) -> Notifications:
    block = data.get("notifications", {})
    email, sns, slack = block.get("email"), block.get("sns"), block.get("slack")
    return Notifications(
        email=email is not None,
        smtp_conn_id=(email or {}).get("conn_id", "smtp_default"),
        email_from=(email or {}).get("from"),
        sns=sns is not None,
        sns_conn_id=(sns or {}).get("aws_conn_id", "aws_default"),
        slack=slack is not None,
        slack_conn_id=(slack or {}).get("conn_id", "slack_api_default"),
    )
