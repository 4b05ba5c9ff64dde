"""What the file in dags/ calls: one DAG per spec, and every broken spec reported.

A broken spec never hides the others: each spec is read and compiled on its own,
and all problems are raised together from a sentinel DAG's `validate()`, which
Airflow records as the loader file's import error (shown by the UI and by
`airflow dags list-import-errors`) while it still bags every good DAG.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

from factory.cache import SpecCache, default_dir
from factory.compile import UnknownRuntimeError, detect_runtime
from factory.compile.airflow_compat import DAG, get_parsing_context
from factory.diagnostics import Diagnostic, SpecError
from factory.load.layout import Project, schema_files
from factory.read import Reader

log = logging.getLogger(__name__)
SENTINEL_DAG_ID = "factory_spec_errors"


class SpecErrors(Exception):
    """Raised from the sentinel DAG: the message is what Airflow shows as the import error."""


class _BrokenSpecs(DAG):  # type: ignore[misc,valid-type]
    """Never bagged: its validation fails with every spec problem of this parse."""

    def validate(self) -> None:
        raise SpecErrors(self.doc_md)


def project_for(dags_folder: Path) -> Project:
    """Where the specs are: FACTORY_HOME, else beside the loader (as copied to MWAA),
    else one level up (a repository checkout)."""
    home = os.environ.get("FACTORY_HOME")
    if home:
        return Project.at(home)
    if (dags_folder / "specs").is_dir():
        return Project.at(dags_folder)
    return Project.at(dags_folder.parent)


def load_dags(namespace: dict[str, Any], loader_file: str) -> list[Diagnostic]:
    """Put one DAG per spec into `namespace` (the loader module's globals)."""
    # A parse allocates a great many objects that live on (DAGs, operators) or die by
    # reference counting (YAML nodes); the cyclic collector, triggered by the count of
    # allocations, would walk all of Airflow's heap again and again for next to no
    # garbage. It resumes, on its usual thresholds, when the parse is done.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_dags(namespace, loader_file)
    finally:
        if enabled:
            gc.enable()


def _load_dags(namespace: dict[str, Any], loader_file: str) -> list[Diagnostic]:
    project = project_for(Path(loader_file).resolve().parent)
    problems: list[Diagnostic] = []
    try:
        runtime = detect_runtime()
        only = _spec_being_run(project)
        wanted = [only] if only else project.spec_files()
        # A worker builds one DAG: validating one spec is cheaper than reading the pack
        # of a thousand, and keeps task start independent of how many specs there are.
        cache = None if only else SpecCache(default_dir(), project.specs_dir, schema_files(project))
        reader = Reader(project, cache=cache)
        platform = reader.read_platform()
    except UnknownRuntimeError as exc:
        problems.append(Diagnostic(loader_file, 0, 0, str(exc), "runtime"))
    except SpecError as exc:
        problems.extend(exc.diagnostics)
    if problems:
        # Without a runtime or platform no spec can compile correctly; say so once.
        _report(namespace, problems)
        return problems

    from factory.compile.dag import build_dag  # Airflow itself: after the checks above

    for path in wanted:
        try:
            spec = reader.read_spec(path)
            namespace[spec.dag_id] = build_dag(spec, platform, runtime)
        except SpecError as exc:
            problems.extend(exc.diagnostics)
        except Exception as exc:
            log.exception("factory: could not compile %s", path)
            problems.append(Diagnostic(reader.name(path), 0, 0, f"cannot compile: {type(exc).__name__}: {exc}"))
    if cache is not None:
        cache.save()
    if problems:
        _report(namespace, problems)
    return problems


def _spec_being_run(project: Project) -> Path | None:
    """The one spec a worker is about to run, found from its DAG id (None in the DAG processor)."""
    dag_id = get_parsing_context().dag_id
    if dag_id:
        path = project.spec_path(dag_id)
        if path.is_file():
            return path
    return None


def _report(namespace: dict[str, Any], problems: list[Diagnostic]) -> None:
    files = sorted({d.path for d in problems})
    text = f"{len(files)} spec file(s) could not be loaded; every other spec was:\n" + "\n".join(
        str(d) for d in problems
    )
    for line in text.splitlines():
        log.error("factory: %s", line)
    namespace[SENTINEL_DAG_ID] = _BrokenSpecs(dag_id=SENTINEL_DAG_ID, schedule=None, doc_md=text)
