"""What the two files in dags/ call: one builds the DAGs, the other reports the broken specs.

Airflow 3 marks every DAG of a file stale when that file has an import error
(`dag_processing/collection.py`, `_update_import_errors`): stale DAGs leave the UI and
the REST API and are not scheduled. So a spec problem must never be an import error of
the file that holds the DAGs. Hence two DAG files, which the DAG processor parses
independently (docs/isolation.md says why this design and not another):

- `dags/factory_dags.py` calls `load_dags`: one DAG per good spec. A broken spec is
  skipped (and logged); it never raises.
- `dags/factory_spec_errors.py` calls `report_spec_errors`: it holds no DAG. It checks
  every spec exactly as the loader does (the same `SpecChecker`) and, when any has a
  problem, raises them all as its own import error, one `path:line:col: message` line
  each, so the UI and `importErrors` show them without taking a DAG down. (On Airflow
  3.0 alone it holds one task-less DAG while no spec is broken, without which 3.0 never
  clears the import error once the specs are fixed; see `report_spec_errors`.)
"""

from __future__ import annotations

import functools
import gc
import inspect
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from factory.check import SpecChecker, project_for
from factory.compile.airflow_compat import DAG, get_parsing_context
from factory.diagnostics import Diagnostic, SpecError
from factory.load.layout import REPORTER_FILE, Project

log = logging.getLogger(__name__)
SENTINEL_DAG_ID = "factory_spec_errors"


class SpecErrors(Exception):
    """Raised from the reporter's sentinel DAG: the message is Airflow's import error."""


class _BrokenSpecs(DAG):  # type: ignore[misc,valid-type]
    """Never bagged: its validation fails with every spec problem found. Airflow records a
    `validate()` failure as `SpecErrors: <message>`, with no traceback to read past."""

    def validate(self) -> None:
        raise SpecErrors(self.doc_md)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    # A parse allocates a great many objects that live on (DAGs, operators) or die by
    # reference counting (YAML nodes); the cyclic collector, triggered by the count of
    # allocations, would walk all of Airflow's heap again and again for next to no
    # garbage. It resumes, on its usual thresholds, when the parse is done.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_dags(namespace: dict[str, Any], loader_file: str) -> list[Diagnostic]:
    """Put one DAG per good spec into `namespace` (the loader module's globals). Returns
    the problems it skipped; it never raises for a spec, so no spec hides another."""
    with _no_cyclic_gc():
        return _load_dags(namespace, loader_file)


def _load_dags(namespace: dict[str, Any], loader_file: str) -> list[Diagnostic]:
    project = project_for(Path(loader_file).resolve().parent)
    only = _spec_being_run(project)
    try:
        # A worker builds one DAG: validating one spec is cheaper than reading the pack
        # of a thousand, and keeps task start independent of how many specs there are.
        checker = SpecChecker.open(project, loader_file, cache=only is None)
    except SpecError as exc:
        _log_skipped(exc.diagnostics, "no spec can be loaded")
        return exc.diagnostics

    from factory.compile.dag import build_dag  # Airflow itself: after the checks above

    problems: list[Diagnostic] = []
    failures = CompileFailures(checker)
    if only:
        # A worker: this one spec, nothing else read (the DAG processor checked the rest).
        try:
            models, errors = {only: checker.check(only)}, {}
        except SpecError as exc:
            models, errors = {}, {only: exc.diagnostics}
    else:
        models, errors = checker.check_all(checker.project.spec_files())
    for found in errors.values():
        problems.extend(found)
    for path, spec in models.items():
        try:
            namespace[spec.dag_id] = build_dag(spec, checker.platform, checker.runtime)
        except Exception as exc:
            # A spec that passed every check yet cannot compile is the factory's bug (or an
            # Airflow version it does not handle); it must not stop the other specs.
            log.exception("factory: could not compile %s", spec.path)
            problem = Diagnostic(spec.path, 0, 0, f"cannot compile: {type(exc).__name__}: {exc}", "compile")
            problems.append(problem)
            failures.add(path, problem)
    checker.save_cache()
    if only is None:
        failures.save()
    _log_skipped(problems, "skipped")
    return problems


def report_spec_errors(namespace: dict[str, Any], reporter_file: str) -> list[Diagnostic]:
    """Check every spec as the loader does; when any is broken, put the sentinel DAG into
    `namespace`, so Airflow records all their problems as this file's import error."""
    with _no_cyclic_gc():
        if get_parsing_context().dag_id:
            return []  # a worker about to run a task: this file holds none of them
        problems, checked, bad = _all_problems(reporter_file)
    if problems:
        text = _report_text(problems, checked, bad)
        for line in text.splitlines():
            log.error("factory: %s", line)
        namespace[SENTINEL_DAG_ID] = _BrokenSpecs(dag_id=SENTINEL_DAG_ID, schedule=None, doc_md=text)
    elif _import_errors_need_a_dag_to_clear():
        namespace[SENTINEL_DAG_ID] = DAG(
            dag_id=SENTINEL_DAG_ID,
            schedule=None,
            is_paused_upon_creation=True,
            doc_md=_NO_SPEC_ERRORS,
            description="No spec errors: every spec is loaded",
        )
    return problems


_NO_SPEC_ERRORS = """Every spec is loaded: no spec has an error. This DAG has no task.

It exists only on Airflow 3.0, which clears the import error of a DAG file only when
that file yields a DAG (apache/airflow#57621, fixed by #58242): without it, the last
report of broken specs would stay after they are all fixed. While a spec is broken, this DAG
is hidden and the problems are the import error of `dags/factory_spec_errors.py`."""


@functools.cache
def _import_errors_need_a_dag_to_clear() -> bool:
    """True on the Airflow versions whose DAG processor never clears the import error of a
    file that parses cleanly but holds no DAG: 3.0's `update_dag_parsing_results_in_db`
    clears the errors of the files its DAGs come from ("This won't clear errors for files
    that exist that no longer contain DAGs"). The fix (apache/airflow#58242) passes it
    `files_parsed`, as 3.3 does; 2.x's DagFileProcessor clears the errors of every file it
    parsed. Checked by feature, not version: 3.1 got the fix in a patch release."""
    try:
        from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    except ImportError:
        return False  # Airflow 2
    return "files_parsed" not in inspect.signature(update_dag_parsing_results_in_db).parameters


def _all_problems(reporter_file: str) -> tuple[list[Diagnostic], int, int]:
    """Every problem, how many specs were checked, and how many of them are broken."""
    try:
        checker = SpecChecker.open(project_for(Path(reporter_file).resolve().parent), reporter_file, cache=True)
    except SpecError as exc:
        return exc.diagnostics, 0, 0
    problems: list[Diagnostic] = []
    paths = checker.project.spec_files()
    bad = 0
    compile_failures = CompileFailures(checker).load()
    _models, errors = checker.check_all(paths)
    for path in paths:
        if path in errors:
            problems.extend(errors[path])
            bad += 1
            continue
        failure = compile_failures.get(checker.reader.name(path))
        if isinstance(failure, dict) and failure.get("key") == CompileFailures.key_of(checker, path):
            try:
                problems.append(Diagnostic(**failure["diagnostic"]))
                bad += 1
            except (KeyError, TypeError):
                pass  # a hand-over written by another factory version: the loader rewrites it
    checker.save_cache()
    return problems, len(paths), bad


def _report_text(problems: list[Diagnostic], checked: int, bad: int) -> str:
    if not checked:
        head = "No spec can be loaded until this is fixed, so there are no factory DAGs:"
    else:
        good = checked - bad
        head = (
            f"{bad} of {checked} spec files have errors and are not loaded: "
            f"they have no DAG until fixed. The other {good} are loaded as usual."
        )
    return head + "\n" + "\n".join(str(d) for d in problems)


def _log_skipped(problems: list[Diagnostic], what: str) -> None:
    for path in sorted({d.path for d in problems}):
        log.warning("factory: %s %s: its errors are the import error of dags/%s", what, path, REPORTER_FILE)


def _spec_being_run(project: Project) -> Path | None:
    """The one spec a worker is about to run, found from its DAG id (None in the DAG processor)."""
    dag_id = get_parsing_context().dag_id
    if dag_id:
        path = project.spec_path(dag_id)
        if path.is_file():
            return path
    return None


class CompileFailures:
    """Specs that passed every check but did not compile, handed from the loader to the
    reporter through the cache folder (the two are parsed in separate processes). An entry
    counts only while the spec's content key is unchanged, so a fix clears it at once."""

    def __init__(self, checker: SpecChecker) -> None:
        self.checker = checker
        cache = checker.reader.cache
        usable = cache is not None and cache.enabled
        self.path = cache.path.with_suffix(".compile-failures.json") if usable else None
        self.entries: dict[str, Any] = {}

    @staticmethod
    def key_of(checker: SpecChecker, path: Path) -> str:
        cache = checker.reader.cache
        if cache is None:
            return ""
        chain = [p.read_bytes() for p in checker.project.defaults_chain(path)]
        platform = checker.project.platform_file
        extra = [platform.read_bytes() if platform.is_file() else b"", checker.runtime.encode()]
        return cache.key(path.read_bytes(), [*chain, *extra])

    def add(self, path: Path, problem: Diagnostic) -> None:
        if self.path is not None:
            self.entries[problem.path] = {"key": self.key_of(self.checker, path), "diagnostic": vars(problem)}

    def load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            entries = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        return entries if isinstance(entries, dict) else {}

    def save(self) -> None:
        """Rewrite the hand-over when it changed (the usual case is none, and no file)."""
        if self.path is None or self.entries == self.load():
            return
        try:
            if not self.entries:
                self.path.unlink(missing_ok=True)
                return
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("factory: cannot write %s: %s", self.path, exc)
