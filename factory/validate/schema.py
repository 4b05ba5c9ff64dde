"""JSON Schema validation with compiler-quality messages.

The schema files in `schemas/` are the single source of truth; this module only
turns jsonschema's errors into messages an analyst can act on, located on the
offending key or value.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.validate.fast import Compiler

SCHEMA_FILES = {"spec": "spec.schema.json", "defaults": "defaults.schema.json", "platform": "platform.schema.json"}


@cache
def _documents(schema_dir: str) -> dict[str, dict[str, Any]]:
    return {file: json.loads((Path(schema_dir) / file).read_text()) for file in SCHEMA_FILES.values()}


@cache
def fast_check(schema_dir: str, kind: str) -> Any:
    """The yes/no checker for one kind of file; compiled once per process."""
    return Compiler(_documents(schema_dir)).compile(SCHEMA_FILES[kind])


@cache
def validator(schema_dir: str, kind: str) -> Any:
    """The explaining validator for one kind of file; built only when a file is invalid."""
    # Imported here: valid files never pay for jsonschema.
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = _documents(schema_dir)
    # No $id in the schemas: a relative $ref ("spec.schema.json#/$defs/owner") resolves
    # against the file's own location, so any tool finds the sibling file offline. Here,
    # the base URI is empty, and each schema is known by its file name.
    registry: Registry = Registry().with_resources(
        (file, Resource.from_contents(schema)) for file, schema in schemas.items()
    )
    return Draft202012Validator(schemas[SCHEMA_FILES[kind]], registry=registry)


def check(doc: Document, schema_dir: str, kind: str) -> list[Diagnostic]:
    """Every schema error of the document, in file order."""
    if fast_check(schema_dir, kind)(doc.data):
        return []
    found = [_diagnose(doc, error) for error in _located(validator(schema_dir, kind).iter_errors(doc.data))]
    unique = {(d.line, d.column, d.message): d for d in found}
    return sorted(unique.values(), key=lambda d: (d.line, d.column))


def _located(errors: Any) -> Any:
    """The errors, with an alternative (oneOf/anyOf) that failed inside the value, such as
    one element of a command list, replaced by what failed there: its line, not the list's."""
    for error in errors:
        inner = [e for e in error.context or () if e.relative_path] if error.validator in ("oneOf", "anyOf") else []
        if inner:
            yield from _located(inner)
        else:
            yield error


def _name(path: tuple[Any, ...]) -> str:
    """How a user would call the place: `tasks.extract.memory`."""
    return ".".join(str(p) for p in path) or "the file"


def _what(path: tuple[Any, ...]) -> str:
    if len(path) >= 2 and path[0] == "tasks":
        if len(path) == 2:
            return f"task '{path[1]}'"
        return f"'{_name(path[2:])}' of task '{path[1]}'"
    return f"'{_name(path)}'" if path else "the file"


_TYPE_NAMES = {
    "object": "a mapping (key: value)",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the string '{value}'"


def _types(schema: Any) -> list[str]:
    """The JSON types a schema (or any of its alternatives) accepts."""
    if not isinstance(schema, dict):
        return []
    own = schema.get("type")
    if own is not None:
        return [own] if isinstance(own, str) else list(own)
    alternatives = schema.get("oneOf") or schema.get("anyOf") or []
    return [t for alt in alternatives for t in _types(alt)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {dict: "object", list: "array", str: "string", float: "number"}.get(type(value), "?")


def _fits_a_type(value: Any, schema: Any) -> bool:
    kind, types = _json_type(value), _types(schema)
    return kind in types or (kind == "integer" and "number" in types)


def _expected(schema: Any) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in _types(schema)]
    return " or ".join(dict.fromkeys(names)) or "something else"


def _described(schema: Any) -> str:
    """The schema's description, as the hint of a message that says what is wrong."""
    return schema.get("description", "") if isinstance(schema, dict) else ""


def _one_key_of(schema: Any) -> list[str]:
    """The keys of a oneOf whose every alternative is just {"required": [key]}, or []."""
    alternatives = schema.get("oneOf", []) if isinstance(schema, dict) else []
    keys = [alt["required"][0] for alt in alternatives if list(alt) == ["required"] and len(alt["required"]) == 1]
    return keys if alternatives and len(keys) == len(alternatives) else []


def _diagnose(doc: Document, error: Any) -> Diagnostic:
    path = tuple(error.absolute_path)
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    kind = error.validator
    value = error.instance

    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in value if k not in allowed]
        key = extras[0] if extras else "?"
        where = f" in {_what(path)}" if path else ""
        written = _written(doc, (*path, key), key=True)
        if written and written != key and written.lower() in _YAML_BOOLEANS:
            # YAML 1.1 reads a key such as on or yes as a boolean (the loader keeps its text).
            hint = f"YAML reads {written} as {key}; allowed keys: {', '.join(allowed)}"
            return doc.error((*path, key), f"unknown key '{written}'{where}", key=True, rule=rule, hint=hint)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return doc.error((*path, key), f"unknown key '{key}'{where}", key=True, rule=rule, hint=hint)
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return doc.error(path, f"{_what(path)} is missing the required key '{missing}'", rule=rule)
    choice = _one_key_of(error.schema) if kind == "oneOf" and isinstance(value, dict) else None
    if choice:
        # Alternatives that each require one key (a notify item's email, sns or slack).
        given = [key for key in choice if key in value]
        has = "has none" if not given else f"has {' and '.join(given)}"
        return doc.error(
            path,
            f"{_what(path)} needs exactly one of {', '.join(choice)}: it {has}",
            rule=rule,
            hint=_described(error.schema),
        )
    if kind in ("oneOf", "anyOf") and _fits_a_type(value, error.schema):
        # The value has a fitting type but fits no alternative: say what is expected.
        return doc.error(path, f"{_what(path)}: '{value}' is not valid", rule=rule, hint=_described(error.schema))
    if kind in ("type", "oneOf", "anyOf"):
        if not path:
            return doc.error(
                path,
                f"the file must be a mapping of keys such as description, schedule and tasks, not {_type_of(value)}",
                rule=rule,
            )
        if _types(error.schema) == ["string"] and (isinstance(value, (bool, int, float)) or value is None):
            # YAML 1.1 reads NO, yes, on, 1.50, 0x1F and 1_000 as other things than the text
            # written; the container must get the characters the analyst typed.
            written = _written(doc, path)
            example = f'"{written}"' if written else '("NO", "1.50")'
            return doc.error(
                path,
                f"{_what(path)} must be text, but YAML reads the value as {_type_of(value)}",
                rule=rule,
                hint=f"put it in quotes, {example}, so it is used exactly as written",
            )
        return doc.error(path, f"{_what(path)} must be {_expected(error.schema)}, not {_type_of(value)}", rule=rule)
    if "propertyNames" in error.absolute_schema_path:
        rule_text = _NAME_RULES.get(str(path[-1]) if path else "", "")
        return doc.error((*path, value), f"invalid name '{value}' in {_what(path)}: {rule_text}", key=True, rule=rule)
    if kind == "pattern":
        return doc.error(path, f"{_what(path)}: '{value}' is not valid", rule=rule, hint=_described(error.schema))
    if kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return doc.error(path, f"{_what(path)}: '{value}' is not one of {options}", rule=rule)
    if kind in ("minProperties", "minItems", "minLength") and not value:
        return doc.error(path, f"{_what(path)} must not be empty", rule=rule)
    if kind == "uniqueItems":
        return doc.error(path, f"{_what(path)} lists the same value twice", rule=rule)
    return doc.error(path, f"{_what(path)}: {error.message}", rule=rule)


_YAML_BOOLEANS = {"on", "off", "yes", "no", "y", "n", "true", "false"}
_ENV_NAME = "letters, digits and underscores, not starting with a digit"
_NAME_RULES = {
    "tasks": "task names are letters, digits and underscores, starting with a letter (at most 64)",
    "env": _ENV_NAME,
    "secrets": _ENV_NAME,
}


def _written(doc: Document, path: tuple[Any, ...], key: bool = False) -> str:
    """The plain scalar at `path` (or its key) as the file spells it ("NO", "1.50"), or "" if unclear."""
    line, column = doc.mark(path, key=key)
    lines = doc.text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    stop = r"[^\s,\]\}#'\":]+" if key else r"[^\s,\]\}#'\"]+"  # a key ends at its colon
    match = re.match(stop, lines[line - 1][column - 1 :])
    return match.group(0) if match else ""
