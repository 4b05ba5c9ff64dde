"""Lint: read every spec under some paths and collect all their problems."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.cache import SpecCache, default_dir
from factory.compile.fargate import FargateSizeError, on_fargate, rounding_note
from factory.diagnostics import Diagnostic, SpecError
from factory.lint_index import Entry, LintIndex, Pipeline, Walk, stat_of, walk
from factory.load.layout import DEFAULTS_FILE, Project, cache_inputs, is_spec_name
from factory.model import Platform, Spec
from factory.read import Reader
from factory.validate.pipelines import announced_by_broken, cross_check


@dataclass
class LintResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec_count: int = 0

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def failed_files(self) -> int:
        return len({d.path for d in self.errors})


def lint_paths(paths: list[Path]) -> LintResult:
    """Every problem of the specs under `paths`. What a spec runs after is checked against
    the whole specs folder it is in, even when only one file is given (as pre-commit
    does); the others are read through the spec cache, so that stays quick.

    A _defaults.yaml given is checked with every spec it applies to, the platform file
    with every spec (its policy holds them all); other files starting with '_' or '.'
    are not specs and have nothing to check."""
    result = LintResult()
    targets: dict[Path, list[str]] = {}  # specs folder -> the files asked for, in order
    defaults: dict[Path, list[Path]] = {}  # specs folder -> the _defaults.yaml files asked for
    projects: dict[Path, Project] = {}
    walked: dict[Path, Walk] = {}  # one walk of each specs folder

    def under(project: Project, folder: Path) -> list[str]:
        # The walk's paths are already resolved (specs_dir is): no resolve() per spec.
        if project.specs_dir not in walked:
            walked[project.specs_dir] = walk(project)
        if folder == project.specs_dir:
            return list(walked[project.specs_dir][0])
        prefix = str(folder) + os.sep
        return [p for p in walked[project.specs_dir][0] if p.startswith(prefix)]

    for path in paths:
        project = Project.containing(path)
        projects.setdefault(project.specs_dir, project)
        defaults.setdefault(project.specs_dir, [])
        if path.is_dir():
            files = under(project, path.resolve())
        elif path.name == DEFAULTS_FILE:
            files = under(project, path.parent.resolve())
            defaults[project.specs_dir].append(path.resolve())
        elif path.resolve() == project.platform_file:
            files = under(project, project.specs_dir)
        else:
            files = [str(path.resolve())] if is_spec_name(path.name) else []
        targets.setdefault(project.specs_dir, []).extend(files)
    for specs_dir, files in targets.items():
        project = projects[specs_dir]
        if specs_dir not in walked:
            walked[specs_dir] = walk(project)
        _lint_project(project, list(dict.fromkeys(files)), defaults[specs_dir], result, walked[specs_dir])
    return result


@dataclass(frozen=True)
class Reading:
    """What lint says of a project: the models of the specs that load, and the problems
    (errors and notes) of every spec read."""

    models: dict[Path, Spec]  # the specs with no error
    found: dict[Path, list[Diagnostic]]
    platform: list[Diagnostic]  # the platform file's own problems

    @property
    def errors(self) -> dict[Path, list[Diagnostic]]:
        """The specs that do not load, with their errors only (notes fail nothing)."""
        errors = {path: [d for d in found if d.severity == "error"] for path, found in self.found.items()}
        return {path: found for path, found in errors.items() if found}


def read_project(reader: Reader, files: list[Path]) -> Reading:
    """Every spec of the reader's project checked (`files` first: they are read even where
    the walk of specs/ would not reach), then the checks across specs."""
    project = reader.project
    platform = None
    platform_problems: list[Diagnostic] = []
    try:
        platform = reader.read_platform()
    except SpecError as exc:
        platform_problems = list(exc.diagnostics)
    models: dict[Path, Spec] = {}
    found: dict[Path, list[Diagnostic]] = {}
    for path in list(dict.fromkeys([*files, *project.spec_files()])):
        try:
            spec = reader.read_spec(path)
        except SpecError as exc:
            found[path] = list(exc.diagnostics)
            continue
        limits = runtime_limits(spec, platform) if platform is not None else []
        found[path] = limits
        if not any(d.severity == "error" for d in limits):
            models[path] = spec
    broken = {
        path: announced_by_broken(path, project.dag_id(path), reader.document) for path in found if path not in models
    }
    for path, problems in cross_check(models, broken, reader.document).items():
        found[path].extend(problems)
        del models[path]
    if reader.cache is not None:
        reader.cache.save()
    return Reading(models, found, platform_problems)


def read_indexed(
    reader: Reader, files: list[str], walked: Walk | None = None
) -> tuple[dict[str, list[Diagnostic]], list[Diagnostic]]:
    """What `read_project` finds (the problems of each spec that has any, by path; the
    platform file's), with every spec unchanged since the last lint answered by the lint
    index (factory/lint_index.py) instead of being read. The checks across specs run over
    all of them, every time."""
    project, cache = reader.project, reader.cache
    platform = None
    platform_problems: list[Diagnostic] = []
    try:
        platform = reader.read_platform()
    except SpecError as exc:
        platform_problems = list(exc.diagnostics)
    stats, defaults_files = walked if walked is not None else walk(project)
    index = LintIndex(cache, defaults_files, reader.display_base) if cache is not None else None
    old = index.load() if index is not None else {}
    # Files given that the walk does not reach (under a '_' folder, say) are stat-ed by
    # name; the rest come with the walk's stat, taken before any read, so an edit during
    # this lint shows in the next one.
    unwalked = {path: stat_of(path) for path in files if path not in stats}
    if unwalked:
        stats = {**stats, **unwalked}  # the caller's walk stays as it was
    paths = list(dict.fromkeys([*files, *stats]))
    stale = [p for p in paths if (e := old.get(p)) is None or stats[p] is None or e.stat != stats[p]]
    # A few changed files (a pre-commit run) are read without the spec cache and not
    # written back: reading and rewriting a 10,000-spec cache costs more than validating them.
    few = len(stale) < FEW and len(paths) >= BIG
    fresh = _fresh_entries(reader.without_cache() if few else reader, stale, stats, platform)
    entries = {path: fresh.get(path) or old[path] for path in paths}
    found = {path: entry.diagnostics() for path, entry in entries.items() if entry.found}
    # The checks across specs read only each spec's names (DAG id, runs after, updates)
    # and, for a spec with such a problem, its file's positions. When no name changed
    # and no spec with a problem changed, the last lint's answer is this lint's.
    last = index.cross if index is not None else {}
    names = _names_signature(entries, old, fresh, last.get("names"))
    last_found = last.get("found") if last.get("names") == names else None
    if isinstance(last_found, dict) and not any(name in fresh for name in last_found):
        cross = {name: [Diagnostic(**d) for d in problems] for name, problems in last_found.items()}
    else:
        pipelines: dict[Path, Pipeline] = {}
        broken: dict[Path, tuple[str, ...]] = {}
        for path, entry in entries.items():
            if entry.pipeline is not None:
                pipelines[Path(path)] = Pipeline.from_json(entry.pipeline)
            else:
                broken[Path(path)] = tuple(entry.announces)
        checked = cross_check(pipelines, broken, reader.document)  # type: ignore[arg-type]
        cross = {str(path): problems for path, problems in checked.items()}
    for path, problems in cross.items():
        found.setdefault(path, []).extend(problems)
    crossed = {"names": names, "found": {p: [vars(d) for d in problems] for p, problems in cross.items()}}
    changed = entries.keys() != old.keys() or (fresh and not few)
    if index is not None and cache is not None and changed:
        for entry in entries.values():
            cache.keep(entry.key)  # what the index answered for stays in the spec cache
        cache.save()
        index.save(entries, crossed)
    return found, platform_problems


def _names_signature(entries: dict[str, Entry], old: dict[str, Entry], fresh: dict[str, Entry], last: Any) -> str:
    """A digest of what the checks across specs read of every spec. When the same files
    are there and no fresh entry's names differ from the old entry's, it is the last
    lint's: hashing 10,000 entries again would cost a pre-commit run more than its reads."""
    same = (
        isinstance(last, str)
        and entries.keys() == old.keys()
        and all(
            (entry.pipeline, entry.announces) == (old[path].pipeline, old[path].announces)
            for path, entry in fresh.items()
        )
    )
    if same:
        return last
    return hashlib.sha256(
        json.dumps([[name, e.pipeline, e.announces] for name, e in sorted(entries.items())]).encode()
    ).hexdigest()


PARALLEL_FROM = 400  # specs to read before a second process pays for its start
FEW, BIG = 50, 1000  # fewer changed specs than FEW in a project of BIG: read, not written back


def _fresh_entries(
    reader: Reader, stale: list[str], stats: dict[str, list[int] | None], platform: Platform | None
) -> dict[str, Entry]:
    """The entries of the specs the index cannot answer for. Many (a cold lint in CI) are
    read by one forked process per core, each returning its entries and the cache
    entries it made: validating is CPU-bound, and a 10,000-spec project is read twice as
    fast on two cores."""
    workers = min(os.cpu_count() or 1, 4)
    if len(stale) < PARALLEL_FROM or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return {path: _entry(reader, path, stats[path], platform) for path in stale}
    if reader.cache is not None:
        reader.cache.preload()
    global _FORKED
    _FORKED = (reader, stats, platform)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_entries_of, [stale[i::workers] for i in range(workers)])
    finally:
        _FORKED = None
    fresh: dict[str, Entry] = {}
    for entries, made in parts:
        fresh.update(entries)
        for key, value in made.items():
            if reader.cache is not None:
                reader.cache.put(key, value)
    return {path: fresh[path] for path in stale}


_FORKED: tuple[Reader, dict[str, list[int] | None], Platform | None] | None = None


def _entries_of(paths: list[str]) -> tuple[dict[str, Entry], dict[str, Any]]:
    """In a forked worker: the entries of `paths`, and the spec-cache entries made for them."""
    assert _FORKED is not None
    reader, stats, platform = _FORKED
    entries = {path: _entry(reader, path, stats[path], platform) for path in paths}
    return entries, reader.cache.made() if reader.cache is not None else {}


def _entry(reader: Reader, name: str, stat: list[int] | None, platform: Platform | None) -> Entry:
    path = Path(name)
    key = reader.cache_key(path) or ""
    dag_id = reader.project.dag_id(path)
    try:
        spec = reader.read_spec(path)
    except SpecError as exc:
        announces = list(announced_by_broken(path, dag_id, reader.document))
        return Entry(stat or [], key, [vars(d) for d in exc.diagnostics], None, announces)
    limits = runtime_limits(spec, platform) if platform is not None else []
    if any(d.severity == "error" for d in limits):
        announces = list(announced_by_broken(path, dag_id, reader.document))
        return Entry(stat or [], key, [vars(d) for d in limits], None, announces)
    return Entry(stat or [], key, [vars(d) for d in limits], Pipeline.of(spec).to_json(), [])


def _lint_project(project: Project, files: list[str], defaults: list[Path], result: LintResult, walked: Walk) -> None:
    cache = SpecCache(default_dir(), project.specs_dir, cache_inputs(project))
    reader = Reader(project, display_base=Path.cwd(), cache=cache)
    found, platform_problems = read_indexed(reader, files, walked)
    result.diagnostics.extend(platform_problems)
    for path in defaults:  # its own problems, even where no spec uses it yet
        try:
            reader.read_defaults(path)
        except SpecError as exc:
            result.diagnostics.extend(exc.diagnostics)
    seen = set(result.diagnostics)  # a broken _defaults.yaml is told once, not once per spec
    result.spec_count += len(files)
    for path in files:
        for diagnostic in found.get(path, ()):
            if diagnostic not in seen or diagnostic.path == reader.name(Path(path)):
                seen.add(diagnostic)
                result.diagnostics.append(diagnostic)


def runtime_limits(spec: Spec, platform: Platform) -> list[Diagnostic]:
    """Sizes Fargate does not offer (errors), and sizes it rounds up (notes)."""
    mwaa = platform.mwaa
    if mwaa is None or not on_fargate(mwaa.launch_type, mwaa.capacity_provider_strategy):
        return []
    problems = []
    for task in spec.tasks:
        if task.task_definition:
            continue
        try:
            note = rounding_note(task.cpu, task.memory_mib)
        except FargateSizeError as exc:
            problems.append(Diagnostic(spec.path, 0, 0, f"task '{task.name}': {exc}", "fargate"))
            continue
        if note:
            message = f"task '{task.name}' on MWAA: {note}"
            problems.append(Diagnostic(spec.path, 0, 0, message, "fargate", severity="note"))
    return problems
