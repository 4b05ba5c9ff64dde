"""`factory new`: the text of a new spec that lints clean where it is written.

It holds only what the spec must say itself: what its folders' _defaults.yaml files
already give (owner, start date, tags, retries...) is named in a comment, not repeated,
so a change to the defaults reaches the new spec too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from factory.load.layout import Project, name_problems
from factory.load.yaml import load_file
from factory.model.command import split_command

# A small public image whose own command works: the spec runs as written, and the
# analyst replaces image and command with their job's.
STARTER_IMAGE = "python:3.12-slim"
TASK_NAME = "main"


class ScaffoldError(Exception):
    """Why a spec cannot be written there; each line a reason."""


@dataclass(frozen=True)
class Choices:
    image: str | None = None
    command: str | None = None
    schedule: str | None = None
    description: str | None = None
    owner: str | None = None


def check_target(project: Project, path: Path) -> None:
    """Refuse what `factory new` must not write: a file that exists, a path outside a
    specs/ folder, a name that cannot be a DAG id."""
    try:
        exists = path.exists()
    except OSError as exc:  # e.g. a file name longer than the file system allows
        raise ScaffoldError(f"{path}: {exc.strerror or exc}") from exc
    if exists:
        raise ScaffoldError(f"{path} already exists: factory new never overwrites a file")
    if project.specs_dir.name != "specs" or project.specs_dir not in path.resolve().parents:
        raise ScaffoldError(f"{path} is not inside a specs/ folder: specs live under specs/<team>/<name>.yaml")
    if path.name.startswith(("_", ".")):
        raise ScaffoldError(f"{path.name}: names starting with '_' or '.' are not specs (_defaults.yaml is a folder's)")
    problems = name_problems(project, path.resolve())
    if problems:
        raise ScaffoldError("\n".join(problems))


def inherited(project: Project, path: Path) -> dict[str, tuple[Any, Path]]:
    """What the spec's _defaults.yaml chain gives it: key -> (value, the file saying so)."""
    found: dict[str, tuple[Any, Path]] = {}
    for defaults in project.defaults_chain(path.resolve()):
        data = load_file(str(defaults)).data
        if isinstance(data, dict):
            found.update((key, (value, defaults)) for key, value in data.items())
    return found


def spec_text(project: Project, path: Path, choices: Choices, today: date) -> str:
    """The new spec's text."""
    path = path.resolve()
    given = inherited(project, path)
    schema = os.path.relpath(project.schema_dir / "spec.schema.json", path.parent).replace(os.sep, "/")
    dag_id = project.dag_id(path)
    lines = [
        f"# yaml-language-server: $schema={schema}",
        f"# The pipeline {dag_id}. Every key is described in docs/spec-reference.md;",
        f"# `factory explain {_display(path)}` shows every value it gets, and from where.",
    ]
    if given:
        lines += ["#", "# From _defaults.yaml (set a key here to override it):"]
        for key, (value, source) in given.items():
            shown = value if isinstance(value, str) else _inline(value)
            lines.append(f"#   {key}: {shown}  ({_display(source)})")
    lines += ["", "# What the pipeline does, in a sentence: the Airflow UI shows it."]
    description = choices.description or f"{dag_id}: say in a sentence what it does and for whom"
    lines.append(f"description: {_scalar(description)}")
    if "owner" not in given or choices.owner:
        owner = choices.owner or _team(project, path)
        lines += ["# The team that answers for it when it fails.", f"owner: {_scalar(owner)}"]
    if "start_date" not in given:
        lines += ["# The first day it is scheduled for.", f"start_date: {today.isoformat()}"]
    zone = given.get("timezone", ("UTC",))[0]
    if choices.schedule and given.get("schedule", (None,))[0] != choices.schedule:
        lines += [f"# When it runs: cron, in {zone}.", f"schedule: {json.dumps(choices.schedule)}"]
    elif "schedule" not in given:
        lines += [
            f'# When it runs: a cron expression in {zone}, e.g. "0 3 * * *" (03:00 every day).',
            "# With no schedule it runs only when triggered.",
            '# schedule: "0 3 * * *"',
        ]
    lines += ["", "tasks:", f"  {TASK_NAME}:", "    # Your job's container image, with a tag."]
    lines.append(f"    image: {_scalar(choices.image or STARTER_IMAGE)}")
    command = _command(choices)
    if command is not None:
        lines += [
            "    # What the container runs; {{ ds }} is the run's date (YYYY-MM-DD).",
            f"    command: {_inline(command)}",
        ]
    else:
        lines.append('    # command: [python, job.py, --date, "{{ ds }}"]  # without it: the image\'s own')
    lines += [
        "    # Each task gets 0.25 vCPU and 512MiB unless it asks for more:",
        "    # cpu: 1",
        "    # memory: 2GiB",
    ]
    return "\n".join(lines) + "\n"


def _command(choices: Choices) -> list[str] | None:
    if choices.command is not None:
        try:
            return split_command(choices.command)
        except ValueError as exc:
            raise ScaffoldError(f"--command: {exc}") from exc
    if choices.image is None:  # the starter image: a command that shows it ran
        return ["python", "-c", "print('hello from factory: replace image and command with your job')"]
    return None


def _team(project: Project, path: Path) -> str:
    rel = path.parent.relative_to(project.specs_dir)
    return rel.parts[0] if rel.parts else "data-platform"


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


def _scalar(value: Any) -> str:
    """A YAML scalar that reads back as `value`: plain where that is safe, else quoted."""
    if isinstance(value, str):
        plain = value and value.strip() == value and "#" not in value and "\n" not in value
        if plain:
            try:
                if yaml.safe_load(f"k: {value}") == {"k": value}:
                    return value
            except yaml.YAMLError:
                pass
        return json.dumps(value, ensure_ascii=False)
    return _inline(value)


def _inline(value: Any) -> str:
    """A value on one line, in flow style (lists as [a, b])."""
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return _scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, default=str)
