"""What must hold before a spec compiles on a runtime, in one place: the DAG loader, the
reporter of broken specs and `factory render` all check through `SpecChecker`, so
they cannot disagree about which specs are broken. No Airflow import here (a spec's wait
only asks whether the amazon provider is installed)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from factory.cache import SpecCache, default_dir
from factory.compile import UnknownRuntimeError, detect_runtime
from factory.compile.deadline import SINCE as DEADLINE_SINCE
from factory.compile.deadline import unsupported as deadline_unsupported
from factory.compile.notify import missing_package as notify_missing_package
from factory.compile.waits import missing_packages as waits_missing_packages
from factory.diagnostics import Diagnostic, SpecError
from factory.lint import runtime_limits
from factory.load.layout import Project, cache_inputs
from factory.model import Platform, Spec
from factory.read import Reader
from factory.validate.pipelines import announced_by_broken, cross_check


def project_for(dags_folder: Path) -> Project:
    """Where the specs are: FACTORY_HOME, else beside the loader (as copied to MWAA),
    else one level up (a repository checkout)."""
    home = os.environ.get("FACTORY_HOME")
    if home:
        return Project.at(home)
    if (dags_folder / "specs").is_dir():
        return Project.at(dags_folder)
    return Project.at(dags_folder.parent)


_TOKEN = re.compile(rb"[A-Za-z0-9_.-]+")


def _names_index(paths: list[Path]) -> dict[str, list[Path]]:
    """Which spec files each name-like word occurs in, and (under a backslash) those
    with a backslash, which a YAML escape could spell any name with. A name a spec
    announces is a YAML scalar in its own file: a whole word there, since names are
    made of the word's characters only (the schema's pattern) and a scalar ends where
    they do. Unreadable files count as naming everything: checking them reports them."""
    index: dict[str, list[Path]] = {}
    for path in paths:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            raw = b"\\"
        words = set(_TOKEN.findall(raw))
        if b"\\" in raw:
            words.add(b"\\")
        for word in words:
            index.setdefault(word.decode(), []).append(path)
    return index


class SpecChecker:
    """Everything the loader checks before it compiles, shared with the reporter so the
    two can never disagree about which specs are broken."""

    def __init__(self, project: Project, runtime: str, platform: Platform, reader: Reader) -> None:
        self.project, self.runtime, self.platform, self.reader = project, runtime, platform, reader

    @classmethod
    def open(cls, project: Project, dags_file: str, cache: bool, cache_tag: str = "") -> SpecChecker:
        """The checker for the project a dags file serves, on the runtime detected here;
        SpecError when no spec can be checked at all (unknown runtime, broken platform file).
        `cache_tag`: whose spec cache (see SpecCache)."""
        try:
            runtime = detect_runtime()
        except UnknownRuntimeError as exc:
            raise SpecError([Diagnostic(dags_file, 0, 0, str(exc), "runtime")]) from None
        spec_cache = SpecCache(default_dir(), project.specs_dir, cache_inputs(project), cache_tag) if cache else None
        return cls.for_runtime(Reader(project, cache=spec_cache), runtime)

    @classmethod
    def for_runtime(cls, reader: Reader, runtime: str) -> SpecChecker:
        """The checker of `reader`'s project on `runtime`; SpecError for a platform file
        that no spec can compile with there."""
        project = reader.project
        platform = reader.read_platform()
        if runtime == "mwaa" and platform.mwaa is None:
            name = reader.name(project.platform_file)
            raise SpecError(
                [Diagnostic(name, 0, 0, "the platform file has no 'mwaa:' block, which the MWAA runtime needs", "mwaa")]
            )
        return cls(project, runtime, platform, reader)

    def check(self, path: Path) -> Spec:
        """The spec's model, or SpecError with every problem that would stop it compiling here."""
        spec = self.reader.read_spec(path)
        waits = [("wait_for",)] if spec.wait_for else []
        waits += [("tasks", task.name, "wait_for") for task in spec.tasks if task.wait_for]
        if waits and waits_missing_packages():
            missing = " and ".join(waits_missing_packages())
            message = f"wait_for needs {missing}, which this Airflow ({self.runtime}) does not have"
            hint = "the platform team installs it beside Airflow; until then, remove the wait"
            raise self._located(path, spec, [(where, message) for where in waits], "wait_for", hint)
        self._check_notify_packages(path, spec)
        self._check_deadline(path, spec)
        if self.runtime == "mwaa":
            errors = [d for d in runtime_limits(spec, self.platform) if d.severity == "error"]
            if errors:
                raise SpecError(errors)
        return spec

    def _check_notify_packages(self, path: Path, spec: Spec) -> None:
        """A notify target this Airflow cannot reach (Slack without its provider) is an
        error of the spec, where the target is written; the other specs still load."""
        problems = [
            (("notify", index, item.target), f"{item.target} notifications need {package}, "
             f"which this Airflow ({self.runtime}) does not have")
            for index, item in enumerate(spec.notify)
            if (package := notify_missing_package(item.target))
        ]  # fmt: skip
        if problems:
            hint = "the platform team installs it beside Airflow; until then, tell this target another way"
            raise self._located(path, spec, problems, "notify", hint)

    def _check_deadline(self, path: Path, spec: Spec) -> None:
        """A deadline this Airflow cannot alert on is an error of the spec, at its
        deadline, naming the version that can; the other specs still load."""
        why = deadline_unsupported() if spec.deadline is not None else None
        if why is not None:
            message = (
                f"deadline needs Airflow {DEADLINE_SINCE} or later (Deadline Alerts); this is {why} ({self.runtime})"
            )
            hint = "remove the deadline here, or run on Airflow 3.1 or later (MWAA 3.3.1)"
            raise self._located(path, spec, [(("deadline",), message)], "deadline", hint)

    def _located(
        self, path: Path, spec: Spec, problems: list[tuple[tuple[object, ...], str]], rule: str, hint: str
    ) -> SpecError:
        """The errors the loader finds in a spec that read clean, each at its key in the
        spec's file; at the file's top when the key comes from a _defaults.yaml or the
        file changed since it was read."""
        document = self.reader.document(path)
        found = []
        for where, message in problems:
            data = document.data if document is not None else None
            if isinstance(data, dict) and where[0] in data:
                found.append(document.error(where, message, key=True, rule=rule, hint=hint))
            else:
                found.append(Diagnostic(spec.path, 0, 0, message, rule, hint=hint))
        return SpecError(found)

    def check_all(self, paths: list[Path]) -> tuple[dict[Path, Spec], dict[Path, list[Diagnostic]]]:
        """Every spec's model, or its problems: its own, then those across specs (what it
        runs after must be announced by a spec that loads; factory/validate/pipelines.py)."""
        models: dict[Path, Spec] = {}
        errors: dict[Path, list[Diagnostic]] = {}
        for path in paths:
            try:
                models[path] = self.check(path)
            except SpecError as exc:
                errors[path] = exc.diagnostics
        broken = {path: announced_by_broken(path, self.project.dag_id(path), self.reader.document) for path in errors}
        for path, problems in cross_check(models, broken, self.reader.document).items():
            errors[path] = problems
            del models[path]
        return models, {path: errors[path] for path in paths if path in errors}

    def check_shard(
        self, holds: Callable[[str], bool], paths: list[Path]
    ) -> tuple[dict[Path, Spec], dict[Path, list[Diagnostic]]]:
        """What `check_all(paths)` says of the specs whose DAG id `holds` (the members),
        reading only the specs that can change it: the members, and what they wait for,
        transitively (the specs that announce a name they run after, the spec whose DAG
        id a task's data is named like). The checks across specs need no more: a cycle
        through a member runs through what it waits for, and a name's announcers all hold
        it in their own file (a `_defaults.yaml` cannot set `updates`). A loader file of
        625 specs in a project of 10,000 thus reads its own specs' cache entries, not all
        10,000."""
        by_id = {self.project.dag_id(path): path for path in paths}  # one DAG id per spec, per parse
        members = [path for dag_id, path in by_id.items() if holds(dag_id)]
        models: dict[Path, Spec] = {}
        errors: dict[Path, list[Diagnostic]] = {}
        named: dict[str, list[Path]] | None = None
        pending, seen = list(members), set()
        while pending:
            path = pending.pop()
            if path in seen:
                continue
            seen.add(path)
            try:
                models[path] = spec = self.check(path)
            except SpecError as exc:
                errors[path] = exc.diagnostics
                continue
            names = {name for task in spec.tasks for name in task.updates}
            pending += [by_id[name] for name in (*spec.waits_for, *names) if name in by_id]
            if spec.waits_for:
                named = named if named is not None else _names_index(paths)
                pending += [p for name in spec.waits_for for p in named.get(name, ())] + named.get("\\", [])
        broken = {path: announced_by_broken(path, self.project.dag_id(path), self.reader.document) for path in errors}
        for path, problems in cross_check(models, broken, self.reader.document).items():
            errors[path] = problems
        kept = {path: models[path] for path in members if path in models and path not in errors}
        return kept, {path: errors[path] for path in members if path in errors}

    def save_cache(self) -> None:
        if self.reader.cache is not None:
            self.reader.cache.save()
