"""Checks of run parameters that the schema cannot express: defaults of the declared
type, and every `params.NAME` a template reads declared."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from datetime import date
from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.validate import templates, waits

_PYTHON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "date": (str,),
    "list": (list,),
}


def check(spec: Document, own: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    declared = own.get("params") if isinstance(own.get("params"), dict) else {}
    for name, param in declared.items():
        if isinstance(param, dict):
            problems.extend(_declaration_problems(spec, name, param))
    for where, text in _reads(own, tasks):
        for name in templates.param_references(text):
            if name not in declared:
                close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "declare it under params: at the top of the spec"
                problems.append(
                    spec.error(where, f"'params.{name}' is not a parameter of this spec", rule="params", hint=hint)
                )
    return problems


def _declaration_problems(spec: Document, name: str, param: dict[str, Any]) -> list[Diagnostic]:
    kind, default, values = param.get("type"), param.get("default"), param.get("values")
    where = ("params", name)
    if "default" not in param:
        return []  # the schema reports it
    if kind == "enum":
        if values is None:
            return [spec.error(where, f"parameter '{name}' is an enum without values", key=True, rule="params")]
        if isinstance(values, list) and default not in values:
            return [spec.error((*where, "default"), f"default {default!r} is not one of the values", rule="params")]
        return []
    if values is not None:
        return [spec.error((*where, "values"), "values only apply to type: enum", key=True, rule="params")]
    wanted = _PYTHON_TYPES.get(kind) if isinstance(kind, str) else None
    # bool is an int in Python; an integer parameter's default of `true` is still wrong.
    if wanted and (not isinstance(default, wanted) or (isinstance(default, bool) and kind != "boolean")):
        return [
            spec.error(
                (*where, "default"),
                f"default {default!r} is not a{'n' if kind[0] in 'aeiou' else ''} {kind}",
                rule="params",
            )
        ]
    if kind != "list" and isinstance(default, list):
        return [spec.error((*where, "default"), f"default {default!r} is a list: declare type: list", rule="params")]
    if kind == "date":
        try:
            date.fromisoformat(default)
        except ValueError:
            return [spec.error((*where, "default"), f"default {default!r} is not a date (YYYY-MM-DD)", rule="params")]
    return []


def _reads(own: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> Iterator[tuple[tuple[Any, ...], str]]:
    yield from templates.templated_values(tasks)
    for where, _task, wait in waits.locations(own, tasks):
        if isinstance(wait.get("s3"), str):
            yield (*where, "s3"), wait["s3"]
