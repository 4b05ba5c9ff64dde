"""`factory diff`: what a change does to the compiled DAGs, pipeline by pipeline.

Both sides are read and checked as the loader reads them (factory/check.py), per
runtime, then compared twice:

- the model, in spec words (factory/review/view.py): what a reviewer reads first. A
  _defaults.yaml change shows in every pipeline it reaches, as the merged values differ;
- the DAG each runtime compiles (factory/review/picture.py, as `factory render` shows
  it): what Airflow will run, including what the platform file or factory itself change.

Text is never compared: a comment or a reordered key changes no DAG, and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from factory.check import SpecChecker
from factory.compile import RUNTIMES, importable
from factory.diagnostics import SpecError
from factory.model.platform import Platform
from factory.read import Reader
from factory.review.sides import Side, files
from factory.review.view import plain, spec_view

# The provider each runtime compiles with: without it, that runtime's DAGs are not built
# and the report says so (the spec-level comparison needs no Airflow at all).
PROVIDERS = {"onprem": "airflow.providers.docker", "mwaa": "airflow.providers.amazon"}
# Compiled fields left out: the DAG's docs restate the spec (its changes show above).
_UNCOMPARED = ("docs",)
RENAME_SIMILARITY = 0.6  # share of equal values for a removed and an added spec to be one renamed


@dataclass(frozen=True)
class Change:
    key: str
    before: Any = None  # None: the key is new
    after: Any = None  # None: the key is gone


@dataclass
class Pipeline:
    """One spec on one side."""

    dag_id: str
    path: str
    view: dict[str, Any] | None = None  # None: it does not load on any runtime
    errors: dict[str, list[str]] = field(default_factory=dict)  # runtime -> its first problems
    compiled: dict[str, dict[str, Any]] = field(default_factory=dict)  # runtime -> flat DAG picture
    inputs: tuple[str, ...] = ()  # the files its DAG is made of: the spec, its defaults, the platform


@dataclass
class SideReading:
    pipelines: dict[str, Pipeline]
    platform: dict[str, Any]
    files: dict[str, bytes]
    notes: list[str]


@dataclass
class PipelineDiff:
    dag_id: str
    status: str  # added, removed, renamed, changed, broken, fixed
    path: str
    renamed_from: str | None = None
    changes: list[Change] = field(default_factory=list)
    compiled: dict[str, list[Change]] = field(default_factory=dict)  # runtime, or "both" -> changes
    errors: dict[str, list[str]] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)  # an added pipeline's
    because: list[str] = field(default_factory=list)  # the changed files it is made of


@dataclass
class Report:
    base: str
    head: str
    files: list[tuple[str, str]]  # (added|removed|changed, path)
    platform: list[Change]
    pipelines: list[PipelineDiff]
    notes: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.pipelines or self.platform)


def read(side: Side) -> SideReading:
    """Every spec of a side, checked and compiled on each runtime this Python can build."""
    pipelines: dict[str, Pipeline] = {}
    notes: list[str] = []
    paths = side.project.spec_files()
    for path in paths:
        dag_id = side.project.dag_id(path)
        made_of = [path, *side.project.defaults_chain(path), side.project.platform_file]
        inputs = tuple(os.path.relpath(p, side.root) for p in made_of)
        pipelines[dag_id] = Pipeline(dag_id, inputs[0], inputs=inputs)
    platform: Platform | None = None
    for runtime in RUNTIMES:
        reader = Reader(side.project, display_base=side.root)
        try:
            checker = SpecChecker.for_runtime(reader, runtime)
        except SpecError as exc:
            notes.append(f"{side.label}: nothing compiles for {runtime}: {exc.diagnostics[0].message}")
            continue
        platform = checker.platform
        models, errors = checker.check_all(paths)
        for path, problems in errors.items():
            pipelines[side.project.dag_id(path)].errors[runtime] = [d.location() + ": " + d.message for d in problems]
        build = _builder(runtime, notes)
        for spec in models.values():
            pipeline = pipelines[spec.dag_id]
            if pipeline.view is None:
                pipeline.view = spec_view(spec, platform)
            if build is not None:
                pipeline.compiled[runtime] = build(spec, checker.platform)
    return SideReading(pipelines, _flat(plain(platform)) if platform else {}, files(side), notes)


def _builder(runtime: str, notes: list[str]) -> Any:
    if not importable(PROVIDERS[runtime]):
        note = f"not compiled for {runtime}: {PROVIDERS[runtime]} is not installed here; spec values compared only"
        if note not in notes:
            notes.append(note)
        return None
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    from factory.compile.dag import build_dag
    from factory.review.picture import describe

    def build(spec: Any, platform: Platform) -> dict[str, Any]:
        try:
            picture = describe(build_dag(spec, platform, runtime))
        except Exception as exc:  # noqa: BLE001 - a spec that passes its checks but fails to build is reported
            return {"(compile error)": f"{type(exc).__name__}: {exc}"}
        return _flat({k: v for k, v in picture.items() if k not in _UNCOMPARED})

    return build


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested data as dotted keys; a list of mappings by index, a list of values whole."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(_flat(item, f"{prefix}{index}."))
        return out
    return {prefix.rstrip("."): value}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    keys = list(dict.fromkeys([*before, *after]))
    return [Change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def compare(base: SideReading, head: SideReading, base_label: str, head_label: str) -> Report:
    touched = [
        ("removed" if path not in head.files else "added" if path not in base.files else "changed", path)
        for path in sorted(set(base.files) | set(head.files))
        if base.files.get(path) != head.files.get(path)
    ]
    removed = {d: p for d, p in base.pipelines.items() if d not in head.pipelines}
    added = {d: p for d, p in head.pipelines.items() if d not in base.pipelines}
    renames = _renames(removed, added)
    diffs = []
    for dag_id in sorted(set(base.pipelines) | set(head.pipelines)):
        if dag_id in renames.values():
            continue  # reported under its new name
        old, new = base.pipelines.get(dag_id), head.pipelines.get(dag_id)
        if dag_id in renames:
            old, new = base.pipelines[renames[dag_id]], head.pipelines[dag_id]
        found = _pipeline(old, new)
        if found is not None:
            changed = {path for _, path in touched}
            made_of = (old.inputs if old else ()) + (new.inputs if new else ())
            found.because = [path for path in dict.fromkeys(made_of) if path in changed]
            found.renamed_from = renames.get(dag_id)
            found.status = "renamed" if found.renamed_from else found.status
            diffs.append(found)
    platform = changes(base.platform, head.platform)
    return Report(base_label, head_label, touched, platform, diffs, base.notes + head.notes)


def _pipeline(old: Pipeline | None, new: Pipeline | None) -> PipelineDiff | None:
    if new is None:
        assert old is not None
        return PipelineDiff(old.dag_id, "removed", old.path)
    if old is None:
        tasks = sorted({key.split(".")[1] for key in new.view or {} if key.startswith("tasks.")})
        status = "added" if new.view is not None and not new.errors else "broken"
        return PipelineDiff(new.dag_id, status, new.path, errors=new.errors, tasks=tasks)
    result = PipelineDiff(new.dag_id, "changed", new.path, errors=new.errors)
    if new.errors and not old.errors:
        result.status = "broken"
    elif old.errors and not new.errors:
        result.status = "fixed"
    if old.view is not None and new.view is not None:
        result.changes = _by_task(changes(old.view, new.view), old.view, new.view, _task_values)
    compiled = {
        rt: _by_task(changes(old.compiled[rt], new.compiled[rt]), old.compiled[rt], new.compiled[rt], _operator)
        for rt in new.compiled
        if rt in old.compiled
    }
    result.compiled = _merge_runtimes({rt: found for rt, found in compiled.items() if found})
    if result.status == "changed" and not result.changes and not result.compiled and old.path == new.path:
        return None
    return result


def _tasks(flat: dict[str, Any]) -> set[str]:
    return {key.split(".")[1] for key in flat if key.startswith("tasks.")}


def _by_task(found: list[Change], old: dict[str, Any], new: dict[str, Any], whole: Any) -> list[Change]:
    """A task added or removed is one change, `tasks.<name>`, valued `whole(values)`,
    not one per key it has."""
    came, went = _tasks(new) - _tasks(old), _tasks(old) - _tasks(new)
    kept = [c for c in found if not (c.key.startswith("tasks.") and c.key.split(".")[1] in came | went)]
    for name in sorted(went):
        kept.append(Change(f"tasks.{name}", whole(_values_of(old, name)), None))
    for name in sorted(came):
        kept.append(Change(f"tasks.{name}", None, whole(_values_of(new, name))))
    return kept


def _values_of(flat: dict[str, Any], task: str) -> dict[str, Any]:
    prefix = f"tasks.{task}."
    return {key[len(prefix) :]: value for key, value in flat.items() if key.startswith(prefix)}


def _task_values(values: dict[str, Any]) -> dict[str, Any]:
    """What a reviewer needs of a task that comes or goes."""
    keys = ("image", "command", "depends_on", "cpu", "memory", "on_mwaa.size")
    return {key: values[key] for key in keys if key in values}


def _operator(values: dict[str, Any]) -> Any:
    return values.get("operator")


def _merge_runtimes(found: dict[str, list[Change]]) -> dict[str, list[Change]]:
    """A compiled change the same on every runtime is shown once, as "both"."""
    if len(found) < len(RUNTIMES):
        return found
    shared = set.intersection(*({_token(c) for c in changes} for changes in found.values()))
    merged = {rt: [c for c in changes if _token(c) not in shared] for rt, changes in found.items()}
    first = next(iter(found.values()))
    merged["both"] = [c for c in first if _token(c) in shared]
    return {rt: changes for rt, changes in merged.items() if changes}


def _token(change: Change) -> str:
    return json.dumps([change.key, change.before, change.after], sort_keys=True, default=str)


def _renames(removed: dict[str, Pipeline], added: dict[str, Pipeline]) -> dict[str, str]:
    """New DAG id -> old, for a removed and an added spec that are mostly the same."""
    scored = []
    for old_id, old in removed.items():
        for new_id, new in added.items():
            if old.view is None or new.view is None:
                continue
            keys = set(old.view) | set(new.view)
            same = sum(1 for k in keys if old.view.get(k) == new.view.get(k))
            if same / len(keys) >= RENAME_SIMILARITY:
                scored.append((same / len(keys), old_id, new_id))
    pairs: dict[str, str] = {}
    for _, old_id, new_id in sorted(scored, reverse=True):
        if new_id not in pairs and old_id not in pairs.values():
            pairs[new_id] = old_id
    return pairs


def diff_sides(base: Side, head: Side) -> Report:
    return compare(read(base), read(head), base.label, head.label)
