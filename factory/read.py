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

    def __init__(self, project: Project, display_base: Path | None = None) -> None:
        """`display_base`: diagnostics name files relative to it (default: the project's root)."""
        self.project = project
        self._base = (display_base or project.specs_dir.parent).resolve()
        self._schema_dir = str(project.schema_dir)
        self._defaults: dict[Path, Document | SpecError] = {}

    def _checked(self, path: Path, kind: str) -> Document:
        doc = load_file(str(path), name=self._name(path))
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
        rel = self._name(path)
        naming = [Diagnostic(rel, 0, 0, problem, "file-name") for problem in name_problems(self.project, path)]
        doc = load_file(str(path), name=rel)
        if doc.data is None:
            raise SpecError([*naming, Diagnostic(rel, 0, 0, "the file is empty: a spec needs description and tasks")])
        problems = naming + schema.check(doc, self._schema_dir, "spec")
        merged: dict[str, Any] = {}
        origin: dict[str, Document] = {}
        for defaults_path in self.project.defaults_chain(path):
            try:
                defaults = self._defaults_doc(defaults_path)
            except SpecError as exc:
                problems.append(
                    Diagnostic(rel, 0, 0, f"its defaults file {self._name(defaults_path)} is invalid", "defaults")
                )
                problems.extend(exc.diagnostics)
                continue
            merged.update(defaults.data)
            origin.update(dict.fromkeys(defaults.data, defaults))
        if isinstance(doc.data, dict):
            merged.update(doc.data)
            origin.update(dict.fromkeys(doc.data, doc))
            problems.extend(semantic.check(merged, origin, doc))
        if problems:
            raise SpecError(sorted(problems, key=lambda d: (d.path != rel, d.path, d.line, d.column)))
        return build_spec(self.project.dag_id(path), rel, merged)

    def read_platform(self) -> Platform:
        """The platform file's model; no file means on-prem defaults and no MWAA settings."""
        path = self.project.platform_file
        if not path.is_file():
            return Platform()
        return build_platform(self._checked(path, "platform").data)

    def _name(self, path: Path) -> str:
        """How diagnostics name a file: relative to the display base when inside it."""
        try:
            return str(path.resolve().relative_to(self._base))
        except ValueError:
            return str(path)
