"""Checks of when and how tasks run (run_if, retry_backoff) that the schema cannot express."""

from __future__ import annotations

from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.validate.durations import duration_problem, seconds_of


def check(
    merged: dict[str, Any], origin: dict[str, Document], spec: Document, tasks: dict[str, dict[str, Any]]
) -> list[Diagnostic]:
    """Every problem of the tasks' run conditions and backoff, each where it was written:
    a value a task inherits from the spec's top level or a _defaults.yaml is reported
    there, once."""
    problems: list[Diagnostic] = []
    reported: set[tuple[str, ...]] = set()

    def where(task: str, key: str) -> tuple[Document, tuple[Any, ...]]:
        return (spec, ("tasks", task, key)) if key in tasks[task] else (origin[key], (key,))

    def report(task: str, key: str, message: str, rule: str, hint: str = "") -> None:
        doc, path = where(task, key)
        if (doc.path, *map(str, path)) not in reported:
            reported.add((doc.path, *map(str, path)))
            problems.append(doc.error(path, message, rule=rule, hint=hint))

    for name, task in tasks.items():
        run_if = task.get("run_if")
        depends_on = task.get("depends_on")
        if isinstance(run_if, str) and run_if != "all_succeeded" and not depends_on:
            problems.append(
                spec.error(
                    ("tasks", name, "run_if"),
                    f"run_if: {run_if} decides on the tasks this one depends on, and task '{name}' depends on none",
                    rule="run_if",
                    hint="add depends_on, or remove run_if",
                )
            )
        effective = {k: merged[k] for k in ("retry_backoff", "max_retry_delay", "retry_delay") if k in merged}
        effective.update({k: task[k] for k in ("retry_backoff", "max_retry_delay", "retry_delay") if k in task})
        ceiling = seconds_of(effective.get("max_retry_delay"))
        if ceiling is None:
            continue
        problem = duration_problem("max_retry_delay", effective["max_retry_delay"], what="a task may wait")
        if problem:
            report(name, "max_retry_delay", problem, "duration")
        elif effective.get("retry_backoff") != "exponential" and (
            "max_retry_delay" in task or _own_unused(spec, merged, tasks)
        ):
            report(
                name,
                "max_retry_delay",
                "max_retry_delay only applies with retry_backoff: exponential",
                "retry_backoff",
                hint="set retry_backoff: exponential beside it, or remove max_retry_delay",
            )
        elif ceiling < (seconds_of(effective.get("retry_delay")) or 300):
            report(
                name,
                "max_retry_delay",
                f"max_retry_delay '{effective['max_retry_delay']}' is shorter than the retry_delay it grows from",
                "retry_backoff",
            )
    return problems


def _own_unused(spec: Document, merged: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> bool:
    """The spec's own top-level max_retry_delay, with no task backing off exponentially.
    (A _defaults.yaml's serves many specs: one that backs off fixed does not make it wrong.)"""
    own = spec.data if isinstance(spec.data, dict) else {}
    if "max_retry_delay" not in own:
        return False
    return not any(task.get("retry_backoff", merged.get("retry_backoff")) == "exponential" for task in tasks.values())
