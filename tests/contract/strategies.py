"""Specs for the lint-contract property test: generated from schemas/spec.schema.json,
then mutated the ways people get specs wrong.

`from_schema` walks the schema itself (types, required keys, patterns, enums, bounds,
`examples`), so a key added to the schema is generated without touching this file. The
values lean on each key's `examples`, which are what analysts really write, and on a
few values chosen because they have broken things before (YAML 1.1 scalars, templates,
reserved task names, long names). Mutations then break a valid spec at one place: a
misspelt or unknown key, a dropped required key, a value of the wrong type, a bad
template, a dependency on a missing task or a cycle, or a few bytes of the YAML text.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "spec.schema.json").read_text())

# Values that broke a promise before, or could: each is a plain YAML scalar as a person
# would type it.
TRICKY_TEXT = [
    "NO",
    "yes",
    "on",
    "off",
    "~",
    "null",
    "1.50",
    "0x1F",
    "1_000",
    "5432",
    "2024-01-01",
    "12:30",
    "{{ ds }}",
    "{{ ds }",
    "{{ dss }}",
    "{{ var.value.token }}",
    "{{ conn.db.password }}",
    "{{ macros.ds_add(ds, -7) }}",
    "{{ dag_run.conf.get('x', 'y') }}",
    "{% if ds %}x{% endif %}",
    "${#NAME}",
    "run.sh",
    "a b",
    "'quoted'",
    "#not-a-comment",
    "",
    " ",
    "é",
    "\t",
]
TRICKY_NAMES = ["cleanup", "cleanup_done", "verdict", "a" * 64, "T", "_x", "x" * 65]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"].removeprefix("#/")
        target: Any = SCHEMA
        for part in ref.split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _text(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    pattern = node.get("pattern")
    low, high = node.get("minLength", 0), min(node.get("maxLength", 40), 40)
    if pattern:
        base = st.from_regex(pattern, fullmatch=True)
        # The schema's length bounds as well as its pattern.
        return base.filter(lambda s: node.get("minLength", 0) <= len(s) <= node.get("maxLength", 10**9))
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=max(low, 0), max_size=high)


def from_schema(node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values valid against `node` (a schema), mostly; patterns are honoured, semantic
    rules (a dependency must name a task) are not: that is what lint is for."""
    node = _resolve(node)
    choices: list[st.SearchStrategy[Any]] = []
    if node.get("examples"):
        # Copies: the cases mutate what they draw, and the schema must stay as it is.
        choices.append(st.sampled_from(node["examples"]).map(copy.deepcopy))
    for key in ("anyOf", "oneOf"):
        if key in node:
            choices.append(st.one_of([from_schema(sub, depth + 1) for sub in node[key]]))
    kind = node.get("type")
    if kind == "object":
        choices.append(_object(node, depth))
    elif kind == "array":
        items = from_schema(node.get("items", {}), depth + 1)
        high = min(node.get("maxItems", 4), 4)
        choices.append(st.lists(items, min_size=node.get("minItems", 0), max_size=max(high, node.get("minItems", 0))))
    elif kind == "string":
        choices.append(_text(node))
    elif kind == "integer":
        choices.append(st.integers(node.get("minimum", -5), node.get("maximum", 100)))
    elif kind == "number":
        low = node.get("exclusiveMinimum", node.get("minimum", 0))
        choices.append(
            st.floats(low, node.get("maximum", 100), exclude_min="exclusiveMinimum" in node, allow_nan=False).map(
                lambda f: round(f, 2) or 0.25
            )
        )
    elif kind == "boolean":
        choices.append(st.booleans())
    elif kind == "null":
        choices.append(st.none())
    return st.one_of(choices) if choices else st.none()


def _object(node: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties = node.get("properties", {})
    required = [k for k in node.get("required", []) if k in properties]
    optional = [k for k in properties if k not in required]
    if properties:

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            chosen = (
                required + draw(st.lists(st.sampled_from(optional), unique=True, max_size=4)) if optional else required
            )
            return {key: draw(from_schema(properties[key], depth + 1)) for key in chosen}

        return build()
    values = node.get("additionalProperties")
    if isinstance(values, dict):
        names = _text(node.get("propertyNames", {"type": "string"}))
        low = node.get("minProperties", 0)
        return st.dictionaries(
            st.one_of(names, st.sampled_from(TRICKY_NAMES)) if depth <= 1 else names,
            from_schema(values, depth + 1),
            min_size=low,
            max_size=max(low, 3),
        )
    return st.just({})


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec that the schema accepts, with dependencies that mostly make sense."""
    spec = draw(from_schema(SCHEMA))
    names = list(spec["tasks"])
    for index, (name, task) in enumerate(spec["tasks"].items()):
        if "depends_on" in task:
            # Earlier tasks only, so no cycle unless a mutation makes one.
            task["depends_on"] = draw(st.lists(st.sampled_from(names[:index]), unique=True)) if index else []
        for key in ("env", "command"):
            if key in task and draw(st.booleans()):
                tricky = draw(st.sampled_from(TRICKY_TEXT))
                if isinstance(task[key], dict):
                    task[key][draw(st.sampled_from(["MODE", "RUN_DATE", "X"]))] = tricky
                elif isinstance(task[key], list):
                    task[key].append(tricky)
        assert name
    return spec


MUTATIONS = ("typo", "unknown", "drop_required", "wrong_type", "tricky_value", "cycle", "missing_dependency", "text")


def _typo(key: str, draw: st.DrawFn) -> str:
    i = draw(st.integers(0, len(key) - 1))
    return key[:i] + key[i + 1 :] if len(key) > 2 else key + "x"


@st.composite
def mutated(draw: st.DrawFn, spec: dict[str, Any]) -> tuple[str, str]:
    """(how it was mutated, the YAML text)."""
    how = draw(st.sampled_from(("none", *MUTATIONS)))
    tasks = spec["tasks"]
    task_name = draw(st.sampled_from(sorted(tasks)))
    task = tasks[task_name]
    if how == "typo":
        target = draw(st.sampled_from(["spec", "task"]))
        holder = spec if target == "spec" else task
        key = draw(st.sampled_from(sorted(holder)))
        holder[_typo(key, draw)] = holder.pop(key)
    elif how == "unknown":
        holder = draw(st.sampled_from([spec, task]))
        holder[draw(st.sampled_from(["python_callable", "on_failure", "schedule_interval", "dag_id"]))] = "x"
    elif how == "drop_required":
        holder, key = draw(st.sampled_from([(spec, "description"), (spec, "tasks"), (task, "image")]))
        holder.pop(key, None)
    elif how == "wrong_type":
        holder = draw(st.sampled_from([spec, task]))
        key = draw(st.sampled_from(sorted(holder)))
        holder[key] = draw(st.sampled_from([[1, 2], {"a": 1}, 3.5, True, None, "text"]))
    elif how == "tricky_value":
        field = draw(st.sampled_from(["image", "memory", "cpu", "timeout", "retry_delay", "schedule", "start_date"]))
        holder = spec if field in ("schedule", "start_date") else task
        holder[field] = draw(st.sampled_from([*TRICKY_TEXT, "0s", "0", "-1", "999GiB", "17", "0 25 * * *"]))
    elif how == "cycle" and len(tasks) >= 1:
        first, last = sorted(tasks)[0], sorted(tasks)[-1]
        tasks[first]["depends_on"] = [last]
        tasks[last]["depends_on"] = sorted({*tasks[last].get("depends_on", []), first})
    elif how == "missing_dependency":
        task["depends_on"] = [*task.get("depends_on", []), task_name + "_missing"]
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=1000)
    if how == "text":
        edit = draw(st.sampled_from(["delete", "tab", "truncate", "quote", "colon", "unquote"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        text = {
            "delete": text[:at] + text[at + 1 :],
            "tab": text[:at] + "\t" + text[at:],
            "truncate": text[:at],
            "quote": text[:at] + '"' + text[at:],
            "colon": text[:at] + ": " + text[at:],
            "unquote": _unquote(text, at),
        }[edit]
        how = f"text-{edit}"
    return how, text


def _unquote(text: str, at: int) -> str:
    """The quoted scalar nearest `at` as a person might type it: without its quotes
    (so NO, 1.50 or 0x1F reach YAML bare)."""
    quoted = list(re.finditer(r"'([^'\n]*)'", text))
    if not quoted:
        return text
    match = min(quoted, key=lambda m: abs(m.start() - at))
    return text[: match.start()] + match.group(1) + text[match.end() :]


def yaml_text_of(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=1000)


_SAFE_NAME = re.compile(r"[^a-z0-9]+")


def corpus_name(how: str, text: str) -> str:
    import hashlib

    return f"{_SAFE_NAME.sub('_', how.lower())}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
