"""Airflow templates in a spec, checked before they run at night.

A spec's `image`, `command` and `env` values are Jinja templates that Airflow renders
when the task runs. Here each is parsed as Airflow's Jinja would parse it, and:

- a syntax error (`{{ ds }`, `{% if %}`, or a shell's `${#VAR}`, which Jinja reads as the
  start of a comment) is an error;
- a name that is not in the run's template context (`{{ dss }}`) is an error, with a
  "did you mean";
- the policy: a spec may not reach Airflow Variables, Connections or configuration
  (`var`, `conn`, `conf`), nor call methods of the run's objects (`ti.xcom_pull(...)`),
  which read the metadata DB or the secrets backends and would put what they read in the
  rendered fields the UI shows. Specs are written by analysts; values they need come in
  as spec secrets. The platform file, written by the platform team, is not checked here.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from typing import Any

import jinja2
from jinja2 import meta, nodes

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.command import split_command

# The run's template context that Airflow documents, less what the policy refuses.
CONTEXT_NAMES = frozenset(
    {
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "prev_data_interval_start_success",
        "prev_data_interval_end_success",
        "prev_start_date_success",
        "prev_end_date_success",
        "run_id",
        "task_instance_key_str",
        "params",
        "macros",
        "dag_run",
        "ti",
        "task_instance",
        "try_number",
        # A fan-out copy's item (factory/validate/fan_out.py says where it may be read).
        "item",
    }
)
REFUSED_NAMES = {
    "var": "Airflow Variables",
    "conn": "Airflow Connections",
    "conf": "Airflow's configuration",
}
# Plain attributes of the run's objects; anything else (methods, the DAG, the task) is refused.
OBJECT_ATTRIBUTES = {
    # `conf`: what the person who triggered the run passed (read with `dag_run.conf.get(...)`).
    "dag_run": frozenset(
        {"run_id", "run_type", "logical_date", "run_after", "data_interval_start", "data_interval_end", "conf"}
    ),
    "ti": frozenset({"try_number", "map_index", "task_id", "dag_id", "run_id"}),
    "task_instance": frozenset({"try_number", "map_index", "task_id", "dag_id", "run_id"}),
}
INSTEAD = "a value the container needs from a secret store is a spec secret: secrets: {NAME: /path/of/the/secret}"
_MARKERS = ("{{", "{%", "{#")
_ENV = jinja2.Environment()  # Airflow's Jinja defaults: the same delimiters and syntax


def check(spec: Document, tasks: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    """Every template problem of the tasks' image, command and env values."""
    problems = []
    for path, text, whole in _templated(tasks):
        for message, hint in template_problems(text):
            if whole is not None and message.startswith("template syntax error") and not template_problems(whole):
                hint = SPLIT_HINT
            problems.append(spec.error(path, message, rule="template", hint=hint))
    return problems


SPLIT_HINT = (
    "a command string is split into arguments at its spaces, and Airflow renders each one on its own: "
    "keep a {% ... %} block inside one argument (no spaces around it), or write the command as a list"
)


def _templated(tasks: dict[str, dict[str, Any]]) -> Iterator[tuple[tuple[Any, ...], str, str | None]]:
    """(where, template, the whole command string it was split from, if it was)."""
    for name, task in tasks.items():
        image = task.get("image")
        if isinstance(image, str):
            yield ("tasks", name, "image"), image, None
        command = task.get("command")
        if isinstance(command, str):
            # Airflow renders each argument on its own: check what it will render.
            try:
                parts = split_command(command)
            except ValueError:  # an unclosed quote: semantic.py reports it
                parts = [command]
            for part in parts:
                yield ("tasks", name, "command"), part, command
        elif isinstance(command, list):
            for i, part in enumerate(command):
                if isinstance(part, str):
                    yield ("tasks", name, "command", i), part, None
        env = task.get("env")
        if isinstance(env, dict):
            for key, value in env.items():
                if isinstance(value, str):
                    yield ("tasks", name, "env", key), value, None


@functools.lru_cache(maxsize=4096)  # specs repeat the same few templates ("{{ ds }}") many times
def template_problems(text: str) -> tuple[tuple[str, str], ...]:
    """(message, hint) for each problem of one template; () when it is fine or holds none."""
    if not any(marker in text for marker in _MARKERS):
        return ()
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        hint = "Jinja reads '{#' as the start of a comment: write ${#NAME} as {{ '${#' }}NAME}" if "{#" in text else ""
        where = f" (line {exc.lineno} of the value)" if "\n" in text else ""
        # Jinja's first sentence says what is wrong; the rest (which tags it expected) helps.
        first, _, rest = (exc.message or "").partition(". ")
        hint = " ".join(part for part in (rest.strip(), hint) if part)
        return ((f"template syntax error{where}: {first.rstrip('.')}", hint),)
    found: list[tuple[str, str]] = []
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name in REFUSED_NAMES:
            found.append((f"a spec may not read {REFUSED_NAMES[name]} ('{name}' in a template)", INSTEAD))
        elif name not in CONTEXT_NAMES:
            close = difflib.get_close_matches(name, sorted(CONTEXT_NAMES), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "see Airflow's template reference for what a run has"
            found.append((f"'{name}' is not in the template context of a run", hint))
    found.extend(_object_problems(tree))
    return tuple(found)


def _object_problems(tree: nodes.Template) -> list[tuple[str, str]]:
    found = []
    called = set()
    for call in tree.find_all(nodes.Call):
        called.add(id(call.node))
        target = call.node
        # Airflow's macros compute dates, and the trigger's conf is a plain dict: they read nothing.
        if _dotted(target).startswith("macros.") or _dotted(target) == "dag_run.conf.get":
            continue
        hint = f"calls can read the metadata DB; {INSTEAD}"
        found.append((f"a spec template may not call '{_dotted(target)}()'", hint))
    for attr in tree.find_all(nodes.Getattr):
        base = attr.node
        if id(attr) not in called and isinstance(base, nodes.Name) and base.name in OBJECT_ATTRIBUTES:
            allowed = OBJECT_ATTRIBUTES[base.name]
            if attr.attr not in allowed:
                found.append(
                    (f"a spec template may not use '{base.name}.{attr.attr}'", f"allowed: {', '.join(sorted(allowed))}")
                )
    return found


def _dotted(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    return "..."


def templated_values(tasks: dict[str, dict[str, Any]]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(where, template) of every value Airflow renders in the tasks."""
    for where, text, _whole in _templated(tasks):
        yield where, text


@functools.lru_cache(maxsize=4096)
def param_references(text: str) -> tuple[str, ...]:
    """The run parameters a template reads: `params.x` or `params['x']`."""
    if "params" not in text or not any(marker in text for marker in _MARKERS):
        return ()
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError:
        return ()  # reported by template_problems
    names = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node
        if not (isinstance(base, nodes.Name) and base.name == "params"):
            continue
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
    return tuple(dict.fromkeys(names))
