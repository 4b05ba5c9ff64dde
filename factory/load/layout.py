"""Where things live: the specs folder, DAG ids from paths, and defaults chains.

The DAG id is the spec's path under specs/ with '/' turned into '.', so ids cannot
collide and a worker can find the one file it needs from a DAG id alone.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SPEC_SUFFIX = ".yaml"
PLATFORM_FILE = "_platform.yaml"
DEFAULTS_FILE = "_defaults.yaml"


def _bundled_schemas() -> Path:
    """The schemas this factory came with: beside the package in a checkout and in the
    MWAA dags-folder layout; from a wheel (a pre-commit hook's environment), in the
    environment's share/factory/schemas (setup.cfg's data_files)."""
    beside = Path(__file__).resolve().parents[2] / "schemas"
    installed = Path(sys.prefix) / "share" / "factory" / "schemas"
    return installed if not beside.is_dir() and installed.is_dir() else beside


BUNDLED_SCHEMAS = _bundled_schemas()
# The report of the broken specs, beside the loader files (factory/load/shards.py) in dags/.
REPORTER_FILE = "factory_spec_errors.py"
MAX_DAG_ID = 250  # Airflow's ID_LEN: dag_id columns and DAG() both refuse longer ids
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Project:
    """A specs folder and the schemas that govern it."""

    specs_dir: Path
    schema_dir: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Project:
        """The project whose specs/ and schemas/ sit in `root`."""
        root = Path(root).resolve()
        return cls(specs_dir=root / "specs", schema_dir=root / "schemas")

    @classmethod
    def containing(cls, path: str | os.PathLike[str]) -> Project:
        """The project a spec file or folder belongs to: its nearest folder named specs/,
        with the schemas/ beside it, or else the schemas this package was installed with."""
        here = Path(path).resolve()
        for folder in (here, *here.parents):
            if folder.name == "specs":
                schemas = folder.parent / "schemas"
                return cls(specs_dir=folder, schema_dir=schemas if schemas.is_dir() else BUNDLED_SCHEMAS)
        return cls(specs_dir=here if here.is_dir() else here.parent, schema_dir=BUNDLED_SCHEMAS)

    @property
    def platform_file(self) -> Path:
        return self.specs_dir / PLATFORM_FILE

    def dag_id(self, spec_path: Path) -> str:
        # String operations, not pathlib: this runs for every spec on every parse.
        rel = os.path.relpath(spec_path, self.specs_dir)
        return os.path.splitext(rel)[0].replace(os.sep, ".")

    def spec_path(self, dag_id: str) -> Path:
        """The file a DAG id comes from (it may not exist)."""
        return self.specs_dir.joinpath(*dag_id.split(".")).with_suffix(SPEC_SUFFIX)

    def spec_files(self, under: Path | None = None) -> list[Path]:
        """Every spec under specs/ (or a folder in it), sorted; names starting with '_' or '.'
        are not specs."""
        return [folder / f for folder, files in self.folders(under) for f in files if is_spec_name(f)]

    def folders(self, under: Path | None = None) -> Iterator[tuple[Path, list[str]]]:
        """Each folder specs are looked for in, with its file names (see `scan`)."""
        for folder, files in self.scan(under):
            yield Path(folder), [entry.name for entry in files]

    def scan(self, under: Path | None = None) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
        """Each folder specs are looked for in, with the directory entries of its files,
        sorted by name: folders starting with '_' or '.' are skipped, the rest walked depth
        first in sorted order, symlinked folders not followed (as os.walk does). The
        entries carry what lint needs of 10,000 files without a Path or a stat by name each."""
        stack = [str(under or self.specs_dir)]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name)
            except OSError:
                continue  # as os.walk does: an unreadable folder holds nothing
            files, below = [], []
            for entry in entries:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if not is_dir:
                    files.append(entry)
                elif not entry.name.startswith(("_", ".")) and not entry.is_symlink():
                    below.append(entry.path)
            yield folder, files
            stack.extend(reversed(below))

    def defaults_chain(self, spec_path: Path) -> list[Path]:
        """The _defaults.yaml files that apply to a spec, outermost first."""
        return list(self._folder_defaults(str(spec_path.parent)))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - a Project lives as long as its parse
    def _folder_defaults(self, folder: str) -> tuple[Path, ...]:
        # Cached per folder: a thousand specs in ten folders stat ten files, not a thousand.
        here = Path(folder)
        own = (here / DEFAULTS_FILE,) if (here / DEFAULTS_FILE).is_file() else ()
        if here == self.specs_dir or here == here.parent or self.specs_dir not in here.parents:
            return own
        return self._folder_defaults(str(here.parent)) + own


def schema_files(project: Project) -> list[Path]:
    """The schema files a spec's validity depends on."""
    return sorted(project.schema_dir.glob("*.schema.json"))


def cache_inputs(project: Project) -> list[Path]:
    """Every file but its own and its defaults that a spec's verdict depends on, so they
    key the spec cache: the schemas, and the platform file (its policy on specs)."""
    platform = [project.platform_file] if project.platform_file.is_file() else []
    return schema_files(project) + platform


def is_spec_name(filename: str) -> bool:
    return filename.endswith((".yaml", ".yml")) and not filename.startswith(("_", "."))


def name_problems(project: Project, spec_path: Path) -> list[str]:
    """Why a spec's path cannot become a DAG id, if it cannot."""
    problems = []
    if spec_path.suffix != SPEC_SUFFIX:
        problems.append(f"spec files end in '{SPEC_SUFFIX}': rename {spec_path.name} to {spec_path.stem}{SPEC_SUFFIX}")
    rel = os.path.relpath(spec_path.parent, project.specs_dir)
    folders = () if rel == "." else tuple(rel.split(os.sep))
    problems += _folder_problems(folders) + _part_problems(spec_path.stem)
    dag_id = ".".join((*folders, spec_path.stem))
    if len(dag_id) > MAX_DAG_ID:
        problems.append(
            f"its DAG id '{dag_id[:40]}...' has {len(dag_id)} characters and Airflow allows {MAX_DAG_ID}: "
            "use shorter folder or file names"
        )
    return problems


@functools.lru_cache(maxsize=4096)  # one answer per folder, however many specs it holds
def _folder_problems(folders: tuple[str, ...]) -> list[str]:
    return [problem for part in folders for problem in _part_problems(part)]


def _part_problems(part: str) -> list[str]:
    if NAME.match(part):
        return []
    return [
        f"'{part}' cannot be part of a DAG id: use letters, digits, '-' and '_' "
        "(no dots or spaces) in spec file and folder names"
    ]
