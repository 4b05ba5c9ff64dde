"""Checks of a task's `for_each` the schema cannot make.

- `{{ item }}` is each copy's item: it must be read by a fan-out task (else every copy
  runs the same container), and only there (elsewhere it renders empty). The image is
  no template at all (the schema), so every copy runs the same image;
- `for_each.param` names a run parameter of this spec of type list;
- the task that reads that parameter (`<task>_items`) must not take a spec task's name;
- a wait runs once, before the copies: its URL cannot read `{{ item }}`;
- `updates` would be announced by each copy as it succeeds, so the pipelines after the
  data would start on the first copy's part of it: a fan-out announces nothing itself.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from jinja2 import meta

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.spec import items_task_id
from factory.validate import templates, waits

ITEM = "item"
_ENV = jinja2.Environment()


@functools.lru_cache(maxsize=4096)
def reads_item(text: str) -> bool:
    if ITEM not in text or "{" not in text:
        return False
    try:
        return ITEM in meta.find_undeclared_variables(_ENV.parse(text))
    except jinja2.TemplateSyntaxError:
        return False  # reported by templates.py


def check(spec: Document, own: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    readers: dict[str, list[tuple[Any, ...]]] = {}
    for where, text in templates.templated_values(tasks):
        if reads_item(text):
            readers.setdefault(where[1], []).append(where)
    for where, _task, wait in waits.locations(own, tasks):
        url = wait.get("s3")
        if isinstance(url, str) and reads_item(url):
            problems.append(
                spec.error(
                    (*where, "s3"),
                    "a wait cannot read {{ item }}: it runs once, before every copy",
                    rule="for_each",
                    hint="wait for what all the copies need, e.g. a prefix",
                )
            )
    declared = own.get("params") if isinstance(own.get("params"), dict) else {}
    for name, task in tasks.items():
        fan_out = task.get("for_each")
        places = readers.get(name, [])
        if not isinstance(fan_out, dict):
            problems += [
                spec.error(where, "'item' is only set in a task with for_each", rule="for_each", hint=_HINT)
                for where in places
            ]
            continue
        if "updates" in task:
            problems.append(
                spec.error(
                    ("tasks", name, "updates"),
                    "a for_each task cannot announce data: each copy would, as it succeeds, before the others",
                    key=True,
                    rule="for_each",
                    hint="put updates on a task that depends on this one: it runs once, after every copy",
                )
            )
        if not places:
            problems.append(
                spec.error(
                    ("tasks", name, "for_each"),
                    "no copy can tell its item: read {{ item }} in command or env",
                    key=True,
                    rule="for_each",
                    hint='e.g. env: {REGION: "{{ item }}"}',
                )
            )
        problems += _param_problems(spec, name, fan_out, declared, tasks)
    return problems


_HINT = "give the task a for_each (values or a list parameter), or read the value another way"


def _param_problems(
    spec: Document, name: str, fan_out: dict[str, Any], declared: dict[str, Any], tasks: dict[str, Any]
) -> list[Diagnostic]:
    param = fan_out.get("param")
    if not isinstance(param, str):
        return []
    where = ("tasks", name, "for_each", "param")
    found = declared.get(param)
    if not isinstance(found, dict):
        return [spec.error(where, f"'{param}' is not a parameter of this spec", rule="for_each",
                           hint=f"declare it: params: {{{param}: {{type: list, default: [a, b]}}}}")]  # fmt: skip
    if found.get("type") != "list":
        return [spec.error(where, f"parameter '{param}' is of type {found.get('type')}, not list", rule="for_each")]
    reader = items_task_id(name)
    if reader in tasks:
        return [
            spec.error(
                ("tasks", reader),
                f"task name '{reader}' is taken by the task that reads {name}'s items",
                key=True,
                rule="for_each",
                hint="rename this task",
            )
        ]
    return []
