"""Checks of `wait_for` (an S3 object to wait for) that the schema cannot express."""

from __future__ import annotations

from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.spec import RESERVED_TASK_NAMES, wait_task_id
from factory.model.units import MAX_DURATION, MAX_DURATION_TEXT, duration_seconds
from factory.validate import templates

# The trigger asks S3 this often at most: faster only costs requests.
MIN_CHECK_EVERY_SECONDS = 5


def check(spec: Document, own: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    """Every problem of the spec's and its tasks' waits.

    `own` is the spec file's own data: a wait is never inherited from a defaults file.
    """
    problems = []
    waits: list[tuple[tuple[Any, ...], str | None, Any]] = [(("wait_for",), None, own.get("wait_for"))]
    waits += [(("tasks", name, "wait_for"), name, task.get("wait_for")) for name, task in tasks.items()]
    for where, task, wait in waits:
        if isinstance(wait, dict):
            problems.extend(_wait_problems(spec, where, wait))
            problems.extend(_name_problems(spec, where, task, tasks))
    return problems


def _wait_problems(spec: Document, where: tuple[Any, ...], wait: dict[str, Any]) -> list[Diagnostic]:
    problems = []
    url = wait.get("s3")
    if isinstance(url, str):
        for message, hint in templates.template_problems(url):
            problems.append(spec.error((*where, "s3"), message, rule="template", hint=hint))
    seconds = {}
    for key in ("timeout", "check_every"):
        value = wait.get(key)
        if not isinstance(value, str):
            continue
        try:
            seconds[key] = duration_seconds(value)
        except ValueError:
            continue  # the schema reports the shape
        if seconds[key] > MAX_DURATION.total_seconds():
            problems.append(
                spec.error(
                    (*where, key),
                    f"{key} '{value}' is longer than the {MAX_DURATION_TEXT} a wait may take",
                    rule="duration",
                )
            )
    if seconds.get("timeout") == 0:
        problems.append(spec.error((*where, "timeout"), "timeout must be longer than zero", rule="duration"))
    every = seconds.get("check_every")
    if every is not None and every < MIN_CHECK_EVERY_SECONDS:
        problems.append(
            spec.error(
                (*where, "check_every"),
                f"check_every '{wait['check_every']}' is shorter than {MIN_CHECK_EVERY_SECONDS}s",
                rule="wait_for",
                hint="each check is a request to S3: once a minute (the default) is plenty for most drops",
            )
        )
    elif every is not None and seconds.get("timeout") and every > seconds["timeout"]:
        problems.append(
            spec.error(
                (*where, "check_every"),
                f"check_every '{wait['check_every']}' is longer than the timeout '{wait['timeout']}': "
                "the wait would give up before it looked twice",
                rule="wait_for",
            )
        )
    return problems


def _name_problems(
    spec: Document, where: tuple[Any, ...], task: str | None, tasks: dict[str, dict[str, Any]]
) -> list[Diagnostic]:
    # The sensor is a task of the DAG beside the spec's own: its id must be free.
    sensor = wait_task_id(task)
    if sensor in tasks and sensor not in RESERVED_TASK_NAMES:
        return [
            spec.error(
                where,
                f"the wait compiles to a task named '{sensor}', and the spec has a task of that name",
                key=True,
                rule="task_name",
                hint=f"rename task '{sensor}'",
            )
        ]
    return []
