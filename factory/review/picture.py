"""A compiled DAG as plain data: what matters for review, no Airflow internals.

`factory render` prints it and `factory diff` compares it between two revisions, so a
reviewer sees the same fields in both.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Any

# What a reviewer wants to see besides the templated fields.
_EXTRA_FIELDS = (
    "cpu_limit",
    "mem_limit",
    "shm_size",
    "secret_env",
    "network_mode",
    "docker_conn_id",
    "retries",
    "retry_delay",
    "execution_timeout",
    "trigger_rule",
    "is_teardown",
    "outlets",
    # When and how a task runs (factory/compile/task_args.py).
    "depends_on_past",
    "pool",
    "priority_weight",
    "retry_exponential_backoff",
    "max_retry_delay",
    # A wait's sensor (factory/operators/s3wait.py).
    "wildcard_match",
    "wait_timeout",
    "poke_interval",
    "on_timeout",
    "deferrable",
    # Who is told of what (factory/compile/notify.py).
    "on_failure_callback",
    "on_retry_callback",
    "on_success_callback",
)

# Shown only when a spec changed them.
_AIRFLOW_DEFAULTS = {"pool": "default_pool", "priority_weight": 1}


def describe(dag: Any) -> dict[str, Any]:
    """A plain-data picture of a compiled DAG: what matters for review, no Airflow internals."""
    return {
        "dag_id": dag.dag_id,
        # None: manual runs only (a NullTimetable has no summary to show).
        "schedule": _plain(getattr(dag, "schedule", None)),
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "end_date": dag.end_date.isoformat() if getattr(dag, "end_date", None) else None,
        "timezone": str(dag.timezone.name if hasattr(dag.timezone, "name") else dag.timezone),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "tags": sorted(dag.tags),
        "docs": dag.doc_md,
        "tasks": {task.task_id: _task(task) for task in dag.tasks},
    }


def _task(task: Any) -> dict[str, Any]:
    mapped = getattr(task, "partial_kwargs", None)  # a MappedOperator: a for_each's copies
    if mapped is not None:
        cls = task.operator_class
        operator = cls.__name__ if isinstance(cls, type) else dict(cls).get("task_type", "?")
        fields = {**mapped, "outlets": getattr(task, "outlets", None)}
        items = task.expand_input.value.get("fan_out_item")
        # A list of items, or the output of the task that reads a list parameter.
        each = _plain(items) if isinstance(items, (list, tuple)) else f"the output of {items.operator.task_id}"
        extra = {"for_each": each, "max_active_tis_per_dagrun": mapped.get("max_active_tis_per_dagrun")}
    else:
        operator, fields, extra = type(task).__name__, None, {}
    names = (*task.template_fields, *_EXTRA_FIELDS)
    found = {name: (fields.get(name) if fields is not None else getattr(task, name, None)) for name in names}
    return {
        "operator": operator,
        "upstream": sorted(task.upstream_task_ids),
        **{k: _plain(v) for k, v in extra.items() if v is not None},
        **{
            name: _plain(value)
            for name, value in found.items()
            if value not in (None, "", [], {}, (), False) and value != _AIRFLOW_DEFAULTS.get(name)
        },
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(getattr(value, "uri", None), str):  # an Asset (3.x) or Dataset (2.x)
        return value.uri
    schedule = _timetable(value)
    return schedule if schedule is not None else str(value)


def _timetable(value: Any) -> str | None:
    """A timetable in words that stay the same from one parse to the next (its repr
    holds an address): "any of [x-factory://a] or 0 9 * * *"."""
    parts = []
    condition = getattr(value, "asset_condition", None) or getattr(value, "dataset_condition", None)
    if condition is not None:
        parts.append(_condition(condition))
    inner = getattr(value, "timetable", None)
    if inner is not None:
        parts.append(_plain(inner))
    expression = getattr(value, "_expression", None)  # a cron timetable
    if isinstance(expression, str):
        parts.append(expression)
    return " or ".join(parts) if parts else None


def _condition(condition: Any) -> str:
    objects = getattr(condition, "objects", None)
    if objects is None:
        return str(_plain(condition))
    kind = "all" if type(condition).__name__.endswith("All") else "any"
    return f"{kind} of [{', '.join(_condition(o) for o in objects)}]"
