"""Checks the schema cannot express: references between tasks, cycles, dates, cron."""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.command import split_command
from factory.model.spec import RESERVED_TASK_NAMES
from factory.validate import fan_out, params, runs, templates, timezones, waits
from factory.validate.cron import cron_problem
from factory.validate.durations import duration_problem

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # other shapes are the schema's to report


def check(merged: dict[str, Any], origin: dict[str, Document], spec: Document) -> list[Diagnostic]:
    """Every semantic problem of a spec whose files each passed the schema.

    `merged` is the spec with its defaults applied; `origin` names the file each
    top-level key came from, so a bad value inherited from a defaults file is
    reported where it was written.
    """
    problems: list[Diagnostic] = []
    for key, what in (("owner", "an owner"), ("start_date", "a start_date")):
        if key not in merged:
            problems.append(
                spec.error((), f"the spec has no {key}: set {what} here or in a _defaults.yaml above it", rule=key)
            )
    if isinstance(merged.get("start_date"), str) and _ISO_DATE.match(merged["start_date"]):
        try:
            date.fromisoformat(merged["start_date"])
        except ValueError:
            doc = origin["start_date"]
            problems.append(doc.error(("start_date",), f"'{merged['start_date']}' is not a real date", rule="date"))
    schedule = merged.get("schedule")
    if isinstance(schedule, str) and not schedule.startswith("@") and len(schedule.split()) == 5:
        problem = cron_problem(schedule)
        if problem:
            problems.append(origin["schedule"].error(("schedule",), f"invalid cron schedule: {problem}", rule="cron"))
    own = spec.data if isinstance(spec.data, dict) else {}
    if "after" in own and "after_any" in own:
        problems.append(
            spec.error(
                ("after_any",),
                "after and after_any are both set: a pipeline runs after all of some names, or any of them",
                key=True,
                rule="after",
                hint="keep one: after for all of them, after_any for the first of them",
            )
        )
    if merged.get("schedule") == "@once" and ("after" in merged or "after_any" in merged):
        problems.append(
            origin["schedule"].error(
                ("schedule",), "@once cannot be combined with after: the clock would never come again", rule="after"
            )
        )
    for key in ("timeout", "retry_delay"):
        problem = duration_problem(key, merged.get(key))
        if problem:
            problems.append(origin[key].error((key,), problem, rule="duration"))
    # The schema may have failed too: look only at what has the right shape, so every
    # problem of the file is reported in one run without tripping over the others.
    raw_tasks = merged.get("tasks")
    tasks = {k: v for k, v in raw_tasks.items() if isinstance(v, dict)} if isinstance(raw_tasks, dict) else {}
    for name, task in tasks.items():
        problems.extend(_task_problems(spec, name, task, tasks))
    problems.extend(_cycle_problems(spec, tasks))
    problems.extend(templates.check(spec, tasks))
    problems.extend(waits.check(spec, own, tasks))
    problems.extend(runs.check(merged, origin, spec, tasks))
    problems.extend(timezones.check(merged, origin))
    problems.extend(params.check(spec, own, tasks))
    problems.extend(fan_out.check(spec, own, tasks))
    return problems


def _depends_on(task: dict[str, Any]) -> list[str]:
    value = task.get("depends_on")
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _task_problems(spec: Document, name: str, task: dict[str, Any], tasks: dict[str, Any]) -> list[Diagnostic]:
    problems = []
    if name in RESERVED_TASK_NAMES:
        problems.append(
            spec.error(
                ("tasks", name),
                f"task name '{name}' is taken by a task the factory adds to on-prem DAGs",
                key=True,
                rule="task_name",
                hint=f"reserved names: {', '.join(RESERVED_TASK_NAMES)}",
            )
        )
    for i, target in enumerate(_depends_on(task)):
        where = ("tasks", name, "depends_on", i)
        if target == name:
            problems.append(spec.error(where, f"task '{name}' depends on itself", rule="depends_on"))
        elif target not in tasks:
            close = difflib.get_close_matches(target, list(tasks), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"tasks in this spec: {', '.join(tasks)}"
            problems.append(
                spec.error(
                    where,
                    f"task '{name}' depends on '{target}', which is not a task of this spec",
                    rule="depends_on",
                    hint=hint,
                )
            )
    env, secrets = task.get("env"), task.get("secrets")
    if isinstance(env, dict) and isinstance(secrets, dict):
        for variable in secrets:
            if variable in env:
                problems.append(
                    spec.error(
                        ("tasks", name, "secrets", variable),
                        f"'{variable}' is in both env and secrets of task '{name}': the container gets one value",
                        key=True,
                        rule="secrets",
                        hint=f"keep '{variable}' in one of them",
                    )
                )
    command = task.get("command")
    if isinstance(command, str):
        try:
            split_command(command)
        except ValueError as exc:
            problems.append(spec.error(("tasks", name, "command"), f"cannot split the command: {exc}", rule="command"))
    for key in ("timeout", "retry_delay"):
        problem = duration_problem(key, task.get(key))
        if problem:
            problems.append(spec.error(("tasks", name, key), problem, rule="duration"))
    return problems


def _cycle_problems(spec: Document, tasks: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    """Report each dependency cycle once, at the task where it was entered."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(tasks, WHITE)
    problems = []
    for start in tasks:
        if colour[start] != WHITE:
            continue
        # Iterative DFS: a spec may hold up to 200 tasks; recursion is not worth the risk.
        stack: list[tuple[str, list[str]]] = [(start, _depends_on(tasks[start]))]
        trail = [start]
        colour[start] = GREY
        while stack:
            node, pending = stack[-1]
            if not pending:
                colour[node] = BLACK
                stack.pop()
                trail.pop()
                continue
            nxt = pending.pop(0)
            if nxt not in tasks or nxt == node:
                continue  # reported above
            if colour[nxt] == GREY:
                loop = [*trail[trail.index(nxt) :], nxt]
                index = _depends_on(tasks[node]).index(nxt)
                problems.append(
                    spec.error(
                        ("tasks", node, "depends_on", index),
                        "dependency cycle: "
                        + " -> ".join(reversed(loop))
                        + " (each must finish before the next starts)",
                        rule="depends_on",
                    )
                )
            elif colour[nxt] == WHITE:
                colour[nxt] = GREY
                trail.append(nxt)
                stack.append((nxt, _depends_on(tasks[nxt])))
    return problems
