"""The front half of the pipeline for one file: load -> validate -> model.

Everything here is pure Python with no Airflow import, so `factory lint` and the
DAG loader share it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.diagnostics import Diagnostic, SpecError
from factory.load.layout import Project, name_problems
from factory.load.yaml import Document, load_file
from factory.model.build import build_platform, build_spec
from factory.model.platform import Platform
from factory.model.spec import Spec
from factory.validate import schema, semantic


class Reader:
    """Reads specs of one project; each defaults file is read once however many specs share it."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._schema_dir = str(project.schema_dir)
        self._defaults: dict[Path, Document | SpecError] = {}

    def _checked(self, path: Path, kind: str) -> Document:
        doc = _load(self.project, path)
        problems = schema.check(doc, self._schema_dir, kind)
        if problems:
            raise SpecError(problems)
        return doc

    def _defaults_doc(self, path: Path) -> Document:
        cached = self._defaults.get(path)
        if cached is None:
            try:
                cached = self._checked(path, "defaults")
            except SpecError as exc:
                cached = exc
            self._defaults[path] = cached
        if isinstance(cached, SpecError):
            raise cached
        return cached

    def read_spec(self, path: Path) -> Spec:
        """The model of one spec, or a SpecError with every problem found in it."""
        rel = self.project.relative(path)
        naming = [Diagnostic(rel, 0, 0, problem, "file-name") for problem in name_problems(self.project, path)]
        doc = _load(self.project, path)
        problems = naming + schema.check(doc, self._schema_dir, "spec")
        merged: dict[str, Any] = {}
        origin: dict[str, Document] = {}
        for defaults_path in self.project.defaults_chain(path):
            try:
                defaults = self._defaults_doc(defaults_path)
            except SpecError as exc:
                problems.append(
                    Diagnostic(
                        rel, 0, 0, f"its defaults file {self.project.relative(defaults_path)} is invalid", "defaults"
                    )
                )
                problems.extend(exc.diagnostics)
                continue
            merged.update(defaults.data)
            origin.update(dict.fromkeys(defaults.data, defaults))
        if problems:
            raise SpecError(problems)
        merged.update(doc.data)
        origin.update(dict.fromkeys(doc.data, doc))
        problems = semantic.check(merged, origin, doc)
        if problems:
            raise SpecError(problems)
        return build_spec(self.project.dag_id(path), rel, merged)

    def read_platform(self) -> Platform:
        """The platform file's model; no file means on-prem defaults and no MWAA settings."""
        path = self.project.platform_file
        if not path.is_file():
            return Platform()
        return build_platform(self._checked(path, "platform").data)


def _load(project: Project, path: Path) -> Document:
    return load_file(str(path), name=project.relative(path))
