"""What `factory sync` ships, where each file goes under the dags prefix, and in what order.

MWAA copies s3://BUCKET/dags/ to its containers' dags folder and puts that folder on
sys.path. So the bundle mirrors a checkout: the loader files (factory_dags_<i>_of_32.py), the
reporter of broken specs (factory_spec_errors.py) and .airflowignore at the top, the
`factory` package beside them, and specs/ and schemas/ beside that, where
`factory.check.project_for` looks first.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import factory
from factory.load.layout import DEFAULTS_FILE, REPORTER_FILE, Project
from factory.load.shards import LOADER_FILES

IGNORE_FILE = ".airflowignore"


class Stage(IntEnum):
    """Upload order. MWAA may copy the bucket while a sync is half done, so every prefix
    of this order must be a folder that parses no worse than before."""

    # First: until it is there the DAG processor would scan the package copy, whose
    # modules mention "airflow" and "dag" and import providers MWAA lacks (docker).
    IGNORE = 0
    CODE = 1
    SCHEMAS = 2
    # Platform and defaults files before the specs that inherit from them.
    SETTINGS = 3
    SPECS = 4
    # Last: it is what reads everything above; a new loader never meets old code.
    LOADER = 5


class BundleError(Exception):
    """The project does not hold what MWAA needs (e.g. no dags/factory_spec_errors.py)."""


@dataclass(frozen=True)
class BundleFile:
    """One file to ship. The bytes are read once, so what is hashed is what is uploaded."""

    key: str  # path under the dags prefix, '/'-separated
    path: Path
    stage: Stage
    data: bytes = field(repr=False)
    sha256: str = ""
    md5: str = ""

    @classmethod
    def read(cls, key: str, path: Path, stage: Stage) -> BundleFile:
        data = path.read_bytes()
        return cls(
            key=key,
            path=path,
            stage=stage,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            # S3 reports the MD5 of a single-part upload as its ETag; not used for security.
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Bundle:
    project: Project
    files: tuple[BundleFile, ...]  # in upload order

    def keys(self) -> set[str]:
        return {f.key for f in self.files}

    @property
    def spec_count(self) -> int:
        return sum(1 for f in self.files if f.stage is Stage.SPECS)


def build_bundle(root: Path, package_dir: Path | None = None) -> Bundle:
    """The files of the project in `root` (specs/, schemas/, dags/) plus the factory
    package itself: the code that linted the specs is the code that will load them."""
    root = root.resolve()
    project = Project.at(root)
    package_dir = (package_dir or Path(factory.__file__).parent).resolve()
    dags_dir = root / "dags"
    missing = [
        str(p)
        for p in (
            project.specs_dir,
            project.schema_dir,
            *(dags_dir / name for name in LOADER_FILES),
            dags_dir / REPORTER_FILE,
            dags_dir / IGNORE_FILE,
        )
        if not p.exists()
    ]
    if missing:
        raise BundleError(
            f"{root} is not a factory project: missing {', '.join(missing)} "
            "(run from the repository root or pass --project)"
        )

    files = [BundleFile.read(IGNORE_FILE, dags_dir / IGNORE_FILE, Stage.IGNORE)]
    files += [BundleFile.read(f"factory/{rel}", path, Stage.CODE) for rel, path in _package_files(package_dir)]
    files += [
        BundleFile.read(f"schemas/{path.name}", path, Stage.SCHEMAS)
        for path in sorted(project.schema_dir.glob("*.json"))
        if path.is_file()
    ]
    for path in _settings_files(project):
        files.append(BundleFile.read(_spec_key(project, path), path, Stage.SETTINGS))
    for path in project.spec_files():
        files.append(BundleFile.read(_spec_key(project, path), path, Stage.SPECS))
    # They all read everything above; each loader file holds its own DAGs and the
    # reporter none, so their order among themselves is free.
    files += [BundleFile.read(name, dags_dir / name, Stage.LOADER) for name in (*LOADER_FILES, REPORTER_FILE)]
    files.sort(key=lambda f: (f.stage, f.key))
    return Bundle(project=project, files=tuple(files))


def _package_files(package_dir: Path) -> list[tuple[str, Path]]:
    """The package's .py files only: no __pycache__ (MWAA's Python may differ from CI's)."""
    found = []
    for folder, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for name in sorted(names):
            if name.endswith(".py") and not name.startswith("."):
                path = Path(folder) / name
                found.append((path.relative_to(package_dir).as_posix(), path))
    return found


def _settings_files(project: Project) -> list[Path]:
    """The platform file and every _defaults.yaml the loader can reach (it never enters
    folders whose name starts with '_' or '.')."""
    found = [project.platform_file] if project.platform_file.is_file() else []
    for folder, dirs, names in os.walk(project.specs_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        if DEFAULTS_FILE in names:
            found.append(Path(folder) / DEFAULTS_FILE)
    return found


def _spec_key(project: Project, path: Path) -> str:
    return "specs/" + path.relative_to(project.specs_dir).as_posix()
