"""Checks of `wait_for` (an S3 object to wait for) that the schema cannot express."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.spec import RESERVED_TASK_NAMES, wait_task_id
from factory.validate import templates
from factory.validate.durations import duration_problem, seconds_of

# The trigger asks S3 this often at most: faster only costs requests.
MIN_CHECK_EVERY_SECONDS = 5


def check(spec: Document, own: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    """Every problem of the spec's and its tasks' waits.

    `own` is the spec file's own data: a wait is never inherited from a defaults file.
    """
    problems = []
    for where, task, wait in locations(own, tasks):
        problems.extend(_wait_problems(spec, where, wait))
        problems.extend(_name_problems(spec, where, task, tasks))
    return problems


def locations(
    own: dict[str, Any], tasks: dict[str, dict[str, Any]]
) -> Iterator[tuple[tuple[Any, ...], str | None, dict[str, Any]]]:
    """(where, the task that waits or None for the pipeline, the wait) of each wait."""
    waits = [(("wait_for",), None, own.get("wait_for"))]
    waits += [(("tasks", name, "wait_for"), name, task.get("wait_for")) for name, task in tasks.items()]
    for where, task, wait in waits:
        if isinstance(wait, dict):
            yield where, task, wait


def _wait_problems(spec: Document, where: tuple[Any, ...], wait: dict[str, Any]) -> list[Diagnostic]:
    problems = []
    url = wait.get("s3")
    if isinstance(url, str):
        for message, hint in templates.template_problems(url):
            problems.append(spec.error((*where, "s3"), message, rule="template", hint=hint))
    seconds = {key: seconds_of(wait.get(key)) for key in ("timeout", "check_every")}
    for key in ("timeout", "check_every"):
        problem = duration_problem(key, wait.get(key), what="a wait may take")
        # A zero check_every is reported below, as shorter than the shortest.
        if problem and not (key == "check_every" and seconds[key] == 0):
            problems.append(spec.error((*where, key), problem, rule="duration"))
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
