"""The pre-commit hook this repository offers (.pre-commit-hooks.yaml), run by pre-commit
itself (from PyPI, locked in requirements/dev.lock) in a throwaway team repository, as
a team consumes it: pre-commit clones this repository at a revision, installs the
factory into its own environment (PyYAML, jsonschema, Jinja2 from the package index; no
Airflow), and runs `factory lint` on the changed spec files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from git_repos import git

REPO = Path(__file__).resolve().parents[1]
PRE_COMMIT = str(Path(sys.executable).parent / "pre-commit")
# What pre-commit needs of this repository to install the hook: the package and its build files.
HOOK_FILES = ("factory", "schemas", "setup.cfg", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
GOOD = 'description: Daily\nschedule: "0 3 * * *"\ntasks:\n  extract:\n    image: reg.example.com/extract:1\n'
AFTER = "description: Report\nafter: [sales.daily]\ntasks:\n  report:\n    image: reg.example.com/report:1\n"


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This repository's files as a git repository pre-commit can clone (the work tree as
    it is: in CI a clean clone, so the very commit under test)."""
    root = tmp_path_factory.mktemp("factory-hook")
    for name in HOOK_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, root / name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "factory")
    return root, git(root, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")  # the hook's environment, built once


@pytest.fixture
def team_repo(tmp_path: Path, hook_repo: tuple[Path, str], pre_commit_home: Path) -> Path:
    """A team's repository: specs only (no schemas/: the installed factory brings them)."""
    url, rev = hook_repo
    root = tmp_path / "team"
    (root / "specs" / "sales").mkdir(parents=True)
    (root / "specs" / "sales" / "_defaults.yaml").write_text("owner: sales\nstart_date: 2024-01-01\n")
    (root / "specs" / "sales" / "daily.yaml").write_text(GOOD)
    (root / "specs" / "sales" / "report.yaml").write_text(AFTER)
    (root / "README.md").write_text("not a spec\n")
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {url}\n    rev: {rev}\n    hooks:\n      - id: factory-lint\n"
    )
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "specs")
    return root


def _pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)  # the hook gets its own environment, not the test's
    return subprocess.run(
        [PRE_COMMIT, *args], cwd=repo, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
    )


def test_the_hook_passes_good_specs(team_repo: Path, pre_commit_home: Path) -> None:
    done = _pre_commit(team_repo, pre_commit_home, "run", "--all-files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "factory lint" in done.stdout and "Passed" in done.stdout


def test_a_commit_of_a_broken_spec_is_stopped_with_its_line(team_repo: Path, pre_commit_home: Path) -> None:
    assert _pre_commit(team_repo, pre_commit_home, "install").returncode == 0
    (team_repo / "specs" / "sales" / "daily.yaml").write_text(GOOD.replace("image:", "imgae:"))
    git(team_repo, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home)}
    env.pop("VIRTUAL_ENV", None)
    commit = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-m", "typo"],
        cwd=team_repo, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip
    output = commit.stdout + commit.stderr  # git shows a hook's output on stderr
    assert commit.returncode != 0, output
    assert "specs/sales/daily.yaml:5:5: error:" in output and "imgae" in output
    assert "Traceback" not in output
    assert git(team_repo, "log", "--format=%s") == "specs"  # nothing was committed


def test_only_the_files_passed_are_linted_against_the_whole_project(team_repo: Path, pre_commit_home: Path) -> None:
    sales = team_repo / "specs" / "sales"
    (sales / "daily.yaml").unlink()  # report.yaml runs after it: now it runs after nothing
    (sales / "other.yaml").write_text(GOOD.replace("image:", "imgae:"))  # broken, but not passed
    done = _pre_commit(team_repo, pre_commit_home, "run", "--files", str(sales / "report.yaml"))
    assert done.returncode == 1
    assert "specs/sales/report.yaml:2:" in done.stdout and "sales.daily" in done.stdout
    assert "other.yaml" not in done.stdout


def test_a_defaults_change_checks_the_specs_it_reaches(team_repo: Path, pre_commit_home: Path) -> None:
    defaults = team_repo / "specs" / "sales" / "_defaults.yaml"
    defaults.write_text("owner: sales\nstart_date: 2024-13-01\n")
    done = _pre_commit(team_repo, pre_commit_home, "run", "--files", str(defaults), "README.md")
    assert done.returncode == 1
    assert "specs/sales/_defaults.yaml:2:" in done.stdout
    assert "2 spec(s) checked" in done.stdout  # both specs under it, once each
