"""What lint found in each spec at its last run, so a lint of a large project costs a
`stat` per unchanged file rather than a read, and a pre-commit run on five changed files
still checks them against the whole project in a fraction of a second.

An entry holds a spec's own problems (errors and notes) and, for a spec with no error,
the names the checks across specs need (its DAG id, what it runs after, what its tasks
update); for a broken one, what it would announce. The checks across specs then run
again over every entry at every lint: they are cheap, and they are what changes when
another file does.

An entry is used only while the file's size, mtime, ctime and inode are unchanged (the
ctime cannot be set back by any tool, so an edit always shows), and the whole index
only while the factory's code, the schemas, the platform file, every `_defaults.yaml` and
the folder lint names files from are unchanged. JSON, like the spec cache; any problem
reading or writing it makes lint read the specs as if it were not there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.cache import SpecCache
from factory.diagnostics import Diagnostic
from factory.load.layout import DEFAULTS_FILE, Project, is_spec_name
from factory.model import Spec

log = logging.getLogger(__name__)
FORMAT = "lint-index-1"


@dataclass(frozen=True)
class TaskNames:
    name: str
    updates: tuple[str, ...]


@dataclass(frozen=True)
class Pipeline:
    """What factory/validate/pipelines.py reads of a spec that loads."""

    dag_id: str
    path: str
    after: tuple[str, ...]
    after_any: tuple[str, ...]
    tasks: tuple[TaskNames, ...]

    @property
    def waits_for(self) -> tuple[str, ...]:
        return self.after or self.after_any

    @property
    def updates(self) -> tuple[str, ...]:
        return (self.dag_id, *(name for task in self.tasks for name in task.updates))

    @classmethod
    def of(cls, spec: Spec) -> Pipeline:
        tasks = tuple(TaskNames(t.name, tuple(t.updates)) for t in spec.tasks)
        return cls(spec.dag_id, spec.path, tuple(spec.after), tuple(spec.after_any), tasks)

    def to_json(self) -> list[Any]:
        return [self.dag_id, self.path, self.after, self.after_any, [[t.name, t.updates] for t in self.tasks]]

    @classmethod
    def from_json(cls, data: list[Any]) -> Pipeline:
        dag_id, path, after, after_any, tasks = data
        return cls(dag_id, path, tuple(after), tuple(after_any), tuple(TaskNames(n, tuple(u)) for n, u in tasks))


@dataclass
class Entry:
    stat: list[int]
    key: str  # the spec's key in the spec cache, kept from eviction while the entry is used
    found: list[dict[str, Any]]  # its own problems, as Diagnostic fields
    pipeline: list[Any] | None  # Pipeline.to_json() when it has no error
    announces: list[str]  # when it has errors: what it would announce (announced_by_broken)

    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic(**d) for d in self.found]


# The spec files with their stats, by path, and the _defaults.yaml files (see walk).
Walk = tuple[dict[str, list[int] | None], list[Path]]


def walk(project: Project) -> Walk:
    """The spec files (as `Project.spec_files` lists them, in its order) with their
    `stat_of`, by path; and the _defaults.yaml files: one walk of specs/.

    Paths stay strings and each stat comes from the walk's own directory entry: at
    10,000 specs, building a Path and stat-ing it by name per file is most of what a
    pre-commit lint costs."""
    specs: dict[str, list[int] | None] = {}
    defaults: list[Path] = []
    for _folder, files in project.scan():
        for entry in files:
            if is_spec_name(entry.name):
                specs[entry.path] = _stat_entry(entry)
            elif entry.name == DEFAULTS_FILE:
                defaults.append(Path(entry.path))
    return specs, defaults


def _stat_entry(entry: os.DirEntry[str]) -> list[int] | None:
    try:
        st = entry.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def stat_of(path: Path | str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class LintIndex:
    """The index of one specs folder, as lint sees it from one folder (its file names)."""

    def __init__(self, cache: SpecCache, defaults: list[Path], display_base: str) -> None:
        self.enabled = cache.enabled
        self.path = cache.folder / f"{cache.project_key}.lint-index.json"
        digest = hashlib.sha256(FORMAT.encode() + cache.salt + display_base.encode())
        try:
            for path in sorted(defaults):
                raw = path.read_bytes()
                digest.update(str(path).encode() + len(raw).to_bytes(8, "little") + raw)
        except OSError:
            self.enabled = False  # lint reports the unreadable file
        self.salt = digest.hexdigest()
        # The checks across specs as the last lint left them: {"names": what they read of
        # every spec, "found": their problems by spec}; see factory.lint.read_indexed.
        self.cross: dict[str, Any] = {}

    def load(self) -> dict[str, Entry]:
        if not self.enabled:
            return {}
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read())
            if data.get("salt") != self.salt:
                return {}
            cross = data.get("cross")
            self.cross = cross if isinstance(cross, dict) else {}
            return {name: Entry(*fields) for name, fields in data["entries"].items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            if not isinstance(exc, FileNotFoundError):
                log.debug("factory lint index: ignoring %s: %s", self.path, exc)
            return {}

    def save(self, entries: dict[str, Entry], cross: dict[str, Any]) -> None:
        if not self.enabled:
            return
        data = {
            "salt": self.salt,
            "entries": {name: list(vars(e).values()) for name, e in entries.items()},
            "cross": cross,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(json.dumps(data, separators=(",", ":")).encode())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.debug("factory lint index: cannot write %s: %s", self.path, exc)
