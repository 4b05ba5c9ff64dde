"""A throwaway project for unit tests: the repository's schemas and platform file, and
the spec files a test writes. (tests/ folders are not packages: imported by name.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from factory.check import SpecChecker
from factory.load.layout import Project
from factory.read import Reader

REPO = Path(__file__).resolve().parents[1]


def spec_project(root: Path, files: dict[str, str]) -> Project:
    """`files`: text by path under specs/ (a _defaults.yaml among them, if wanted)."""
    shutil.copytree(REPO / "schemas", root / "schemas")
    (root / "specs").mkdir()
    shutil.copy2(REPO / "specs" / "_platform.yaml", root / "specs")
    for name, text in files.items():
        path = root / "specs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Project.at(root)


def compiled(project: Project, runtime: str) -> tuple[dict[str, Any], Any]:
    """Every spec's DAG by DAG id, as the loader builds them on `runtime`; and the platform."""
    from factory.compile.dag import build_dag

    checker = SpecChecker.for_runtime(Reader(project), runtime)
    models, errors = checker.check_all(project.spec_files())
    assert errors == {}
    return {s.dag_id: build_dag(s, checker.platform, runtime) for s in models.values()}, checker.platform
