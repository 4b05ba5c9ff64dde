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
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from factory.budget import parse_budget
from factory.check import SpecChecker, project_for
from factory.compile.airflow_compat import DAG, get_parsing_context
from factory.diagnostics import Diagnostic, SpecError
from factory.handover import HandOver, read_all
from factory.load.layout import REPORTER_FILE, Project
from factory.load.shards import LOADER_FILES, SHARDS, Shard, shard_problems

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
    started = time.monotonic()
    shard = Shard.of_file(loader_file)
    stray = shard is None or shard.count != SHARDS
    if stray and any((Path(loader_file).parent / name).is_file() for name in LOADER_FILES):
        # An older factory's loader file (its single one, or one of another count) left
        # beside this set: loading here too would give its DAGs two files. The reporter
        # asks for its removal.
        log.error(
            "factory: %s is not one of the loader files %s to %s: it loads nothing",
            loader_file,
            LOADER_FILES[0],
            LOADER_FILES[-1],
        )
        return []
    project = project_for(Path(loader_file).resolve().parent)
    only = _spec_being_run(project)
    if only is not None and shard is not None and not shard.holds(project.dag_id(only)):
        return []  # a worker running another loader file's DAG
    tag = shard.tag if shard is not None else "all"
    try:
        # A worker builds one DAG: validating one spec is cheaper than reading the pack
        # of a thousand, and keeps task start independent of how many specs there are.
        checker = SpecChecker.open(project, loader_file, cache=only is None, cache_tag=tag)
    except SpecError as exc:
        _log_skipped(exc.diagnostics, "no spec can be loaded")
        return exc.diagnostics

    problems: list[Diagnostic] = []
    handover = HandOver(checker, tag)
    if only:
        # A worker: this one spec, nothing else read (the DAG processor checked the rest).
        try:
            models, errors = {only: checker.check(only)}, {}
        except SpecError as exc:
            models, errors = {}, {only: exc.diagnostics}
    else:
        paths = checker.project.spec_files()
        if shard is None:
            models, errors = checker.check_all(paths)
        else:
            models, errors = checker.check_shard(shard.holds, paths)
    for found in errors.values():
        problems.extend(found)
    budget, why = parse_budget() if only is None else (float("inf"), "")
    items = list(models.items())
    if items:  # Airflow and the providers: after the checks, and only for a file with DAGs to build
        from factory.compile.dag import build_dag
    for done, (path, spec) in enumerate(items):
        if time.monotonic() - started > budget:
            left = [checker.reader.name(p) for p, _ in items[done:]]
            handover.ran_out(Path(loader_file).name, budget, why, left)
            log.error(
                "factory: %s ran out of its parse-time budget (%.1f s, %s) after %d of its %d DAGs: "
                "the other %d are not loaded this parse; they are the import error of dags/%s",
                Path(loader_file).name, budget, why, done, len(items), len(left), REPORTER_FILE,
            )  # fmt: skip
            break
        try:
            namespace[spec.dag_id] = build_dag(spec, checker.platform, checker.runtime)
        except Exception as exc:
            # A spec that passed every check yet cannot compile is the factory's bug (or an
            # Airflow version it does not handle); it must not stop the other specs.
            log.exception("factory: could not compile %s", spec.path)
            problem = Diagnostic(spec.path, 0, 0, f"cannot compile: {type(exc).__name__}: {exc}", "compile")
            problems.append(problem)
            handover.add(path, problem)
    checker.save_cache()
    if only is None:
        handover.save()
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
    dags_dir = Path(reporter_file).resolve().parent
    try:
        checker = SpecChecker.open(project_for(dags_dir), reporter_file, cache=True)
    except SpecError as exc:
        return exc.diagnostics, 0, 0
    problems: list[Diagnostic] = []
    paths = checker.project.spec_files()
    _models, errors = checker.check_all(paths)
    handed = _handed_over(checker, dags_dir, paths)
    bad = 0
    for path in paths:
        found = errors.get(path) or handed.get(path)
        if found:
            problems.extend(found)
            bad += 1
    problems += _missing_loader_files(checker, dags_dir, paths)
    checker.save_cache()
    return problems, len(paths), bad


def _handed_over(checker: SpecChecker, dags_dir: Path, paths: list[Path]) -> dict[Path, list[Diagnostic]]:
    """What the loader files could not load although the spec is good: a compile
    failure of the spec as it is now, or a parse that ran out of time before reaching it."""
    by_name = {checker.reader.name(path): path for path in paths}
    found: dict[Path, list[Diagnostic]] = {}
    for content in read_all(checker):
        failures = content.get("compile")
        for name, failure in failures.items() if isinstance(failures, dict) else ():
            path = by_name.get(name)
            if path is None or not isinstance(failure, dict) or failure.get("key") != HandOver.key_of(checker, path):
                continue
            try:
                found.setdefault(path, []).append(Diagnostic(**failure["diagnostic"]))
            except (KeyError, TypeError):
                pass  # a hand-over written by another factory version: the loader rewrites it
        late = content.get("out_of_time")
        if not isinstance(late, dict) or not (dags_dir / str(late.get("file"))).is_file():
            continue
        shard = Shard.of_file(str(late["file"]))
        message = (
            f"not loaded: dags/{late['file']} ran out of its parse-time budget ({late.get('budget_s')} s, "
            f"{late.get('why')}) before it reached this spec"
        )
        hint = "the platform team gives the DAG processor more time or CPU (docs/isolation.md, 'Parse time')"
        for name in late.get("specs") or ():
            path = by_name.get(name)
            if path is not None and (shard is None or shard.holds(checker.project.dag_id(path))):
                found.setdefault(path, [Diagnostic(name, 0, 0, message, "parse-time", hint=hint)])
    return found


def _missing_loader_files(checker: SpecChecker, dags_dir: Path, paths: list[Path]) -> list[Diagnostic]:
    """A loader file missing from dags/ (its specs have no DAG), or one too many."""
    found = []
    for name, why in shard_problems(dags_dir):
        shard = Shard.of_file(name)
        held = sum(1 for p in paths if shard.holds(checker.project.dag_id(p))) if shard and shard.count == SHARDS else 0
        if held:
            why = why.replace("the specs it holds", f"the {held} spec{'s' if held != 1 else ''} it holds")
        found.append(Diagnostic(f"dags/{name}", 0, 0, why, "loader-files"))
    return found


def _report_text(problems: list[Diagnostic], checked: int, bad: int) -> str:
    if not checked:
        head = "No spec can be loaded until this is fixed, so there are no factory DAGs:"
    elif not bad:
        head = "No spec has an error, but dags/ does not hold the factory's loader files as it should:"
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
