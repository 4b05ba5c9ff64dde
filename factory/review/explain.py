"""`factory explain`: every effective value of a spec, where it came from, and what it
becomes on each runtime.

A value comes from the spec's own line, from the nearest _defaults.yaml that sets it
(the chain is merged key by key, innermost last, as factory/read.py merges it), from the
spec's top level for the keys a task inherits (factory/model/build.py), or from the
built-in defaults below. Read only after the spec lints clean, so every value here is
one the loader accepts. No Airflow import: what a value becomes on a runtime is worked
out by the same functions the compilers call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from factory.compile.fargate import fargate_size, on_fargate, rounding_note
from factory.compile.task_args import TRIGGER_RULES
from factory.load.yaml import Document
from factory.model.build import TASK_DEFAULTS
from factory.model.platform import Platform
from factory.model.spec import DEFAULT_CPU, DEFAULT_MEMORY_MIB, DEFAULT_RETRY_DELAY, Spec, Task, secret_variable_key
from factory.model.units import format_duration, format_memory

# What a key is when nothing sets it, spelt as a spec would write it (None: unset, with
# the meaning in _UNSET). tests/test_explain.py holds these to what build_spec does.
PIPELINE_BUILTINS: dict[str, Any] = {
    "schedule": None,
    "timezone": "UTC",
    "catchup": False,
    "tags": [],
    "max_active_runs": 1,
    "max_active_tasks": None,
}
TASK_BUILTINS: dict[str, Any] = {
    "command": None,
    "cpu": DEFAULT_CPU,
    "memory": f"{DEFAULT_MEMORY_MIB}MiB",
    "depends_on": [],
    "run_if": "all_succeeded",
    "retries": 0,
    "retry_delay": format_duration(DEFAULT_RETRY_DELAY),
    "retry_backoff": "fixed",
    "timeout": None,
    "depends_on_past": False,
    "pool": None,
    "priority": 1,
}
_UNSET = {
    "schedule": "none: runs only when triggered",
    "max_active_tasks": "Airflow's max_active_tasks_per_dag",
    "command": "the image's own",
    "timeout": "none",
    "pool": "Airflow's default_pool",
}
BUILT_IN = "built-in default"


@dataclass(frozen=True)
class Origin:
    path: str | None = None  # None: the built-in default
    line: int = 0
    inherited: bool = False  # a task key set at the spec's (or its defaults') top level

    def __str__(self) -> str:
        if self.path is None:
            return BUILT_IN
        return f"{self.path}:{self.line}" + (" (the pipeline's, for every task)" if self.inherited else "")

    def as_json(self) -> dict[str, Any]:
        if self.path is None:
            return {"built_in": True}
        return {"file": self.path, "line": self.line, "inherited": self.inherited}


@dataclass(frozen=True)
class Setting:
    key: str
    value: Any  # as a spec spells it; None: unset (see `shown`)
    origin: Origin
    on: dict[str, str] = field(default_factory=dict)  # runtime -> what it becomes there

    @property
    def shown(self) -> str:
        if self.value is None:
            return f"({_UNSET.get(self.key, 'none')})"
        return _inline(self.value)


@dataclass(frozen=True)
class Explanation:
    dag_id: str
    path: str
    pipeline: list[Setting]
    tasks: dict[str, list[Setting]]


class Sources:
    """Where each merged key of one spec was set: the spec's file and its defaults chain."""

    def __init__(self, spec_doc: Document, chain: list[Document]) -> None:
        self.spec = spec_doc
        self.chain = chain

    def top(self, key: str) -> tuple[Any, Origin] | None:
        for doc in (self.spec, *reversed(self.chain)):
            if isinstance(doc.data, dict) and key in doc.data:
                return doc.data[key], Origin(doc.path, doc.mark((key,), key=True)[0])
        return None

    def task(self, name: str, key: str) -> tuple[Any, Origin] | None:
        tasks = self.spec.data.get("tasks", {})
        own = tasks.get(name, {})
        if key in own:
            return own[key], Origin(self.spec.path, self.spec.mark(("tasks", name, key), key=True)[0])
        if key in TASK_DEFAULTS:
            found = self.top(key)
            if found is not None:
                return found[0], Origin(found[1].path, found[1].line, inherited=True)
        return None


def explain(spec: Spec, sources: Sources, platform: Platform, schema: dict[str, Any]) -> Explanation:
    """`schema`: the spec schema, whose order of keys the explanation follows."""
    pipeline = []
    for key in schema["properties"]:
        if key == "tasks":
            continue
        found = sources.top(key)
        if found is None and key not in PIPELINE_BUILTINS:
            continue
        value, origin = found if found is not None else (PIPELINE_BUILTINS[key], Origin())
        pipeline.append(Setting(key, value, origin, _pipeline_runtimes(spec, key)))
    task_keys = list(schema["$defs"]["task"]["properties"])
    tasks = {}
    for task in spec.tasks:
        settings = []
        for key in task_keys:
            found = sources.task(task.name, key)
            if found is None and key not in TASK_BUILTINS:
                continue
            value, origin = found if found is not None else (TASK_BUILTINS[key], Origin())
            settings.append(Setting(key, value, origin, _task_runtimes(task, key, platform)))
        tasks[task.name] = settings
    return Explanation(spec.dag_id, spec.path, pipeline, tasks)


def _pipeline_runtimes(spec: Spec, key: str) -> dict[str, str]:
    if key in ("after", "after_any") and spec.waits_for:
        when = f"runs when {'every one' if spec.after else 'any one'} of [{', '.join(spec.waits_for)}] is updated"
        both = f"{when}, or on {spec.schedule!r}, whichever comes first" if spec.schedule else when
        return {"both": both}
    return {}


def _task_runtimes(task: Task, key: str, platform: Platform) -> dict[str, str]:
    """What a task's key becomes on each runtime, where that says more than the value."""
    if key == "cpu":
        return {"onprem": f"Docker cpu limit {task.cpu:g} CPUs", "mwaa": _mwaa_size(task, platform)}
    if key == "memory":
        return {"onprem": f"Docker memory limit {task.memory_mib}m", "mwaa": _mwaa_size(task, platform)}
    if key == "run_if":
        return {"both": f"Airflow trigger_rule {TRIGGER_RULES[task.run_if]}"}
    if key == "timeout" and task.timeout is not None:
        return {"both": f"Airflow execution_timeout {format_duration(task.timeout)}; the container is stopped"}
    if key == "secrets" and task.secrets:
        return {
            "onprem": "; ".join(f"{env} from Airflow Variable {secret_variable_key(n)}" for env, n in task.secrets),
            "mwaa": "; ".join(
                f"{env} from SSM parameter {n}, read by ECS at container start" for env, n in task.secrets
            ),
        }
    if key == "onprem":
        return {"mwaa": "not used on MWAA"}
    if key == "mwaa":
        return {"onprem": "not used on-prem"}
    return {}


def _mwaa_size(task: Task, platform: Platform) -> str:
    mwaa = platform.mwaa
    if task.task_definition:
        return f"the size of task definition {task.task_definition}"
    if mwaa is None:
        return "no mwaa block in _platform.yaml: not deployable to MWAA"
    if not on_fargate(mwaa.launch_type, mwaa.capacity_provider_strategy):
        return f"ECS on EC2: {round(task.cpu * 1024)} CPU units, {task.memory_mib} MiB"
    units, memory = fargate_size(task.cpu, task.memory_mib)
    size = f"Fargate size {units / 1024:g} vCPU, {format_memory(memory)}"
    return size + (" (rounded up)" if rounding_note(task.cpu, task.memory_mib) else "")


def as_text(explanation: Explanation) -> str:
    lines = [f"{explanation.dag_id}  ({explanation.path})", ""]
    sections = [("pipeline", explanation.pipeline)]
    sections += [(f"task {name}", settings) for name, settings in explanation.tasks.items()]
    for title, settings in sections:
        lines.append(title)
        width = max(len(s.key) for s in settings)
        values = min(max(len(s.shown) for s in settings), 48)
        for setting in settings:
            lines.append(f"  {setting.key:<{width}}  {setting.shown:<{values}}  {setting.origin}")
            for runtime, becomes in setting.on.items():
                label = "on both runtimes" if runtime == "both" else f"on {runtime}"
                lines.append(f"  {'':<{width}}    {label}: {becomes}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def as_json(explanation: Explanation) -> str:
    def rows(settings: list[Setting]) -> list[dict[str, Any]]:
        return [
            {"key": s.key, "value": s.value, "origin": s.origin.as_json(), **({"on": s.on} if s.on else {})}
            for s in settings
        ]

    return (
        json.dumps(
            {
                "dag_id": explanation.dag_id,
                "path": explanation.path,
                "pipeline": rows(explanation.pipeline),
                "tasks": {name: rows(settings) for name, settings in explanation.tasks.items()},
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
