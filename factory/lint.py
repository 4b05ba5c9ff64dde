"""Lint: read every spec under some paths and collect all their problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from factory.compile.fargate import FargateSizeError, on_fargate, rounding_note
from factory.diagnostics import Diagnostic, SpecError
from factory.load.layout import Project
from factory.model import Platform, Spec
from factory.read import Reader


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
    result = LintResult()
    readers: dict[Path, tuple[Reader, Platform | None]] = {}
    for path in paths:
        project = Project.containing(path)
        if project.specs_dir not in readers:
            reader = Reader(project, display_base=Path.cwd())
            platform = None
            try:
                platform = reader.read_platform()
            except SpecError as exc:
                result.diagnostics.extend(exc.diagnostics)
            readers[project.specs_dir] = (reader, platform)
        reader, platform = readers[project.specs_dir]
        files = [path] if path.is_file() else project.spec_files(under=path.resolve())
        for spec_path in files:
            result.spec_count += 1
            try:
                spec = reader.read_spec(spec_path.resolve())
            except SpecError as exc:
                result.diagnostics.extend(exc.diagnostics)
                continue
            if platform is not None:
                result.diagnostics.extend(runtime_limits(spec, platform))
    return result


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
