"""A pipeline's model as flat, spec-worded values: what `factory diff` compares first.

Keys are spelt as a spec writes them (`schedule`, `tasks.extract.memory`,
`tasks.extract.env.STAGE`), values as a spec writes them too (durations `10m`, memory
`1 GiB`). Every field of the model appears, so a new spec key is compared without a
change here; the few whose model name differs from the spec's are renamed below.
Values a runtime derives (the Fargate size) sit under `on_mwaa.`.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

from factory.compile.fargate import FargateSizeError, fargate_size, on_fargate
from factory.model.platform import Platform
from factory.model.spec import Spec, Task
from factory.model.units import format_duration, format_memory

# Model field -> the spec's key, where they differ.
_TASK_KEYS = {
    "memory_mib": "memory",
    "retry_exponential": "retry_backoff",
    "shm_size_mib": "onprem.shm_size",
    "network_mode": "onprem.network_mode",
    "docker_conn_id": "onprem.docker_conn_id",
    "task_definition": "mwaa.task_definition",
}
_SPEC_SKIP = ("dag_id", "path", "tasks")  # the pipeline's identity, and its tasks (below)
_MAPPINGS = ("env", "secrets")  # compared per variable: a reviewer sees which one changed


def spec_view(spec: Spec, platform: Platform | None) -> dict[str, Any]:
    """`platform`: for what the MWAA runtime derives; None when it cannot be read."""
    view: dict[str, Any] = {}
    for item in dataclasses.fields(spec):
        if item.name not in _SPEC_SKIP:
            view[item.name] = plain(getattr(spec, item.name))
    for task in spec.tasks:
        view.update(task_view(task, platform))
    return {key: value for key, value in view.items() if value not in (None, [], {})}


def task_view(task: Task, platform: Platform | None) -> dict[str, Any]:
    prefix = f"tasks.{task.name}."
    view: dict[str, Any] = {}
    for item in dataclasses.fields(task):
        if item.name == "name":
            continue
        value = getattr(task, item.name)
        key = prefix + _TASK_KEYS.get(item.name, item.name)
        if item.name in _MAPPINGS:
            view.update({f"{key}.{name}": text for name, text in value})
        elif item.name in ("memory_mib", "shm_size_mib"):
            view[key] = format_memory(value) if value else None
        elif item.name == "retry_exponential":
            view[key] = "exponential" if value else "fixed"
        else:
            view[key] = plain(value)
    view[prefix + "on_mwaa.size"] = _mwaa_size(task, platform)
    return view


def _mwaa_size(task: Task, platform: Platform | None) -> str | None:
    mwaa = platform.mwaa if platform is not None else None
    if mwaa is None or task.task_definition:
        return None
    if not on_fargate(mwaa.launch_type, mwaa.capacity_provider_strategy):
        return f"{round(task.cpu * 1024)} CPU units, {task.memory_mib} MiB (EC2)"
    try:
        units, memory = fargate_size(task.cpu, task.memory_mib)
    except FargateSizeError:
        return "no Fargate size"
    return f"{units / 1024:g} vCPU, {format_memory(memory)} (Fargate)"


def plain(value: Any) -> Any:
    """A model value as JSON-ready data, spelt as a spec writes it."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {k: v for k, v in fields.items() if v not in (None, [], ())}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
