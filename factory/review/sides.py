"""The two sides `factory diff` compares: a git revision's specs/ and schemas/, or the
work tree as it is (new files included, as `factory lint` sees them)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from factory.load.layout import BUNDLED_SCHEMAS, Project

# The branch a pull request goes into, in the order CI checkouts and clones name it.
MAIN_BRANCHES = ("origin/main", "main", "origin/master", "master")
WORK_TREE = "the work tree"


class SideError(Exception):
    """A revision or repository that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Side:
    label: str  # how the report names it: "main (1a2b3c4)" or "the work tree"
    project: Project

    @property
    def root(self) -> Path:
        return self.project.specs_dir.parent


def git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise SideError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise SideError(f"git {' '.join(args)} took longer than 120 s") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SideError(f"git {' '.join(args)}: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout


def repository(root: Path) -> tuple[Path, str]:
    """The git work tree holding a project, and the project's folder within it ('' at its top)."""
    try:
        top = Path(git(root, "rev-parse", "--show-toplevel").decode().strip())
    except SideError as exc:
        raise SideError(f"{root} is not in a git repository ({exc})") from None
    prefix = root.resolve().relative_to(top.resolve()).as_posix()
    return top, "" if prefix == "." else prefix


def default_base(repo: Path, main: str | None) -> str:
    """Where the change started: the merge base of HEAD with the main branch."""
    candidates = (main,) if main else MAIN_BRANCHES
    for branch in candidates:
        try:
            git(repo, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}")
        except SideError:
            continue
        return git(repo, "merge-base", "HEAD", branch).decode().strip()
    wanted = main or " or ".join(MAIN_BRANCHES)
    raise SideError(f"no branch {wanted} to compare with: name the base revision, e.g. `factory diff HEAD~1`")


def label(repo: Path, rev: str) -> str:
    short = git(repo, "rev-parse", "--short", f"{rev}^{{commit}}").decode().strip()
    return rev if rev.startswith(short) else f"{rev} ({short})"


def checkout(repo: Path, prefix: str, rev: str, into: Path) -> Side:
    """A revision's specs/ and schemas/ as files under `into` (nothing else of the
    repository is needed: the factory compiles from those two folders alone)."""
    try:
        commit = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except SideError:
        raise SideError(f"{rev!r} is not a revision of the repository at {repo}") from None
    wanted = [f"{prefix}/{name}" if prefix else name for name in ("specs", "schemas")]
    present = git(repo, "ls-tree", "--name-only", commit, "--", *wanted).decode().split()
    if present:
        archive = git(repo, "archive", "--format=tar", commit, "--", *present)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")  # "data": no links or paths out of `into`
    root = into / prefix if prefix else into
    (root / "specs").mkdir(parents=True, exist_ok=True)  # no specs/ then: every pipeline is new
    schemas = root / "schemas"
    project = Project(specs_dir=root / "specs", schema_dir=schemas if schemas.is_dir() else BUNDLED_SCHEMAS)
    return Side(label(repo, rev), project)


def work_tree(root: Path) -> Side:
    return Side(WORK_TREE, Project.at(root))


def files(side: Side) -> dict[str, bytes]:
    """Every file of the side's specs/ and schemas/, by path under the project."""
    found: dict[str, bytes] = {}
    for folder in (side.project.specs_dir, side.project.schema_dir):
        if folder == BUNDLED_SCHEMAS and side.project.schema_dir != side.root / "schemas":
            continue
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
                found[path.relative_to(side.root).as_posix()] = path.read_bytes()
    return found
