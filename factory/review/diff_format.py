"""`factory diff`'s three outputs: text for a terminal, Markdown for a pull-request
comment, JSON for tools. All three say the same things."""

from __future__ import annotations

import dataclasses
import html
import json
from typing import Any

from factory.review.diff import Change, PipelineDiff, Report

# What a reviewer must know that the values do not say.
CONSEQUENCES = {
    "removed": "its DAG leaves Airflow; its run history stays in the database under this id",
    "renamed": "a new DAG id: Airflow starts it with no run history, and the old id's history stays behind",
    "broken": "it will not load: Airflow shows it as a broken spec and runs nothing of it",
    "fixed": "it loads again",
}
_RUNTIME_NAMES = {"onprem": "on-prem", "mwaa": "MWAA", "both": "both runtimes"}


def key_name(key: str) -> str:
    """tasks.extract.on_mwaa.size -> 'task extract: size on MWAA'."""
    if key == "on_mwaa.size":
        return "size on MWAA"
    if not key.startswith("tasks."):
        return key
    if key.count(".") == 1:
        return f"task {key.split('.')[1]}"
    _, task, rest = key.split(".", 2)
    rest = "size on MWAA" if rest == "on_mwaa.size" else rest
    return f"task {task}: {rest}"


def shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # a task that comes or goes
        return ", ".join(f"{key_name(key)} {shown(item)}" for key, item in value.items())
    return json.dumps(value, ensure_ascii=False)


def line(change: Change) -> str:
    """One change in words: `key: before -> after`, or a task that came or went."""
    name = key_name(change.key)
    if change.key.startswith("tasks.") and change.key.count(".") == 1:
        if change.before is None:
            return f"{name}: added ({shown(change.after)})"
        if change.after is None:
            return f"{name}: removed (was {shown(change.before)})"
    return f"{name}: {shown(change.before)} -> {shown(change.after)}"


def summary(report: Report) -> str:
    if not report.changed:
        edits = f" ({len(report.files)} file(s) differ, changing no DAG)" if report.files else ""
        return f"No DAG changes{edits}."
    counts: dict[str, int] = {}
    for item in report.pipelines:
        counts[item.status] = counts.get(item.status, 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    if report.platform:
        parts.append(f"{len(report.platform)} platform setting(s) changed")
    return f"{', '.join(parts)}."


def _headline(item: PipelineDiff) -> str:
    if item.status == "renamed":
        return f"renamed from {item.renamed_from}"
    if item.status == "added":
        return f"added, with task(s) {', '.join(item.tasks)}" if item.tasks else "added"
    return item.status


def _notes(item: PipelineDiff) -> list[str]:
    notes = [CONSEQUENCES[item.status]] if item.status in CONSEQUENCES else []
    for runtime, problems in item.errors.items():
        notes += [f"on {_RUNTIME_NAMES[runtime]}: {problem}" for problem in problems[:3]]
    if item.status == "changed" and not item.changes and item.compiled:
        notes.append("no value of the spec changed; its compiled DAG did (the platform file, or factory itself)")
    return notes


def as_text(report: Report) -> str:
    lines = [f"factory diff: {report.base} -> {report.head}"]
    if report.files:
        lines.append("files: " + ", ".join(f"{status} {path}" for status, path in report.files))
    if report.platform:
        lines += ["", "platform (specs/_platform.yaml):"]
        lines += [f"    {line(c)}" for c in report.platform]
    marks = {"added": "+", "removed": "-", "renamed": ">", "broken": "!", "fixed": "*"}
    for item in report.pipelines:
        because = f"; changed: {', '.join(item.because)}" if item.because else ""
        lines += ["", f"{marks.get(item.status, '~')} {item.dag_id}  {_headline(item)}  ({item.path}{because})"]
        lines += [f"    {note}" for note in _notes(item)]
        lines += [f"    {line(c)}" for c in item.changes]
        for runtime, found in item.compiled.items():
            lines.append(f"    compiled DAG, {_RUNTIME_NAMES[runtime]}:")
            lines += [f"      {line(c)}" for c in found]
    lines += [f"note: {note}" for note in report.notes]
    lines += ["", summary(report)]
    return "\n".join(lines) + "\n"


def _code(value: Any) -> str:
    """A value in a Markdown table cell: code, with what would break the table escaped."""
    text = html.escape(shown(value)).replace("|", "&#124;").replace("\n", "<br>")
    return "<em>none</em>" if value is None else f"<code>{text}</code>"


def _row_name(change: Change) -> str:
    name = key_name(change.key)
    if change.key.startswith("tasks.") and change.key.count(".") == 1:
        return f"{name} (added)" if change.before is None else f"{name} (removed)"
    return name


def _table(found: list[Change]) -> list[str]:
    rows = ["| | before | after |", "|---|---|---|"]
    return rows + [f"| {html.escape(_row_name(c))} | {_code(c.before)} | {_code(c.after)} |" for c in found]


def _made_of(item: PipelineDiff) -> str:
    because = f"; changed: {', '.join(f'`{path}`' for path in item.because)}" if item.because else ""
    return f"`{item.path}`{because}"


def as_markdown(report: Report) -> str:
    lines = [f"### factory diff: `{report.base}` → {report.head}", "", f"**{summary(report)}**"]
    if report.files:
        shown_files = ", ".join(f"{status} `{path}`" for status, path in report.files[:20])
        more = f" and {len(report.files) - 20} more" if len(report.files) > 20 else ""
        lines += ["", f"Files: {shown_files}{more}"]
    if report.platform:
        lines += ["", "#### Platform (`specs/_platform.yaml`)", "", *_table(report.platform)]
    for item in report.pipelines:
        lines += ["", f"#### `{item.dag_id}`: {html.escape(_headline(item))}", "", _made_of(item)]
        notes = _notes(item)
        if notes:
            lines += ["", *(f"- {html.escape(note)}" for note in notes)]
        if item.changes:
            lines += ["", *_table(item.changes)]
        if item.compiled:
            count = sum(len(found) for found in item.compiled.values())
            lines += ["", f"<details><summary>In the compiled DAG: {count} change(s)</summary>", ""]
            for runtime, found in item.compiled.items():
                lines += [f"**{_RUNTIME_NAMES[runtime]}**", "", *_table(found), ""]
            lines.append("</details>")
    if report.notes:
        lines += ["", *(f"> {html.escape(note)}" for note in report.notes)]
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> str:
    data = dataclasses.asdict(report)
    data["files"] = [{"status": status, "path": path} for status, path in report.files]
    data["changed"] = report.changed
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


FORMATS = {"text": as_text, "markdown": as_markdown, "json": as_json}
