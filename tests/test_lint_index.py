"""Lint's index: an unchanged spec is not read again, yet lint says exactly what a lint
from scratch says, the checks across specs included, whatever changed since."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spec_projects import spec_project

from factory.lint import lint_paths
from factory.read import Reader

DEFAULTS = "owner: analytics\nstart_date: 2024-01-01\n"


def spec(extra: str = "schedule: '@daily'\n", updates: str = "", about: str = "a pipeline") -> str:
    text = f'description: {about}\n{extra}tasks:\n  t:\n    image: busybox:1.36\n    command: ["true"]\n'
    return text + (f"    updates: [{updates}]\n" if updates else "")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = {
        "_defaults.yaml": DEFAULTS,
        "a/up.yaml": spec(updates="raw"),
        "a/down.yaml": spec("after: [raw]\n", about="after the raw data"),
        "a/typo.yaml": spec().replace("image:", "imgae:"),
        "b/lost.yaml": spec("after: [a.nothing]\n", about="after nothing"),
    } | {f"c/p{i}.yaml": spec(about=f"pipeline {i}") for i in range(20)}
    spec_project(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def lint(*paths: str) -> list[str]:
    return [str(d) for d in lint_paths([Path(p) for p in paths or ("specs",)]).diagnostics]


def from_scratch(root: Path, *paths: str) -> list[str]:
    """Lint with no cache and no index at all."""
    for path in (root / "cache").glob("*"):
        path.unlink()
    return lint(*paths)


def test_a_second_lint_reads_no_spec_and_says_the_same(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = lint()
    assert any("unknown key 'imgae'" in line for line in first)
    assert any("'a.nothing' is not a pipeline" in line for line in first)

    def refuse(self: Reader, path: Path) -> None:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(Reader, "read_spec", refuse)
    assert lint() == first


def test_an_edit_is_seen_and_so_is_what_it_does_to_the_specs_after_it(project: Path) -> None:
    lint()
    up = project / "specs" / "a" / "up.yaml"
    up.write_text(spec(updates="raw_v2"))  # down.yaml, unchanged, now runs after nothing
    found = lint()
    assert any(line.startswith("specs/a/down.yaml") and "'raw' is not a pipeline" in line for line in found), found
    assert found == from_scratch(project)


def test_lint_of_a_few_files_checks_them_against_the_whole_project(project: Path) -> None:
    lint()
    lost = project / "specs" / "b" / "lost.yaml"
    lost.write_text(spec("after: [a.up]\n", about="after up, now"))
    assert lint("specs/b/lost.yaml") == []
    lost.write_text(spec("after: [a.upp]\n", about="after a typo"))
    (found,) = lint("specs/b/lost.yaml")
    assert "'a.upp' is not a pipeline or data of this project" in found and "did you mean 'a.up'?" in found


def test_a_changed_defaults_file_or_a_new_spec_is_not_answered_from_the_index(project: Path) -> None:
    lint()
    (project / "specs" / "_defaults.yaml").write_text(DEFAULTS + "retries: many\n")
    found = lint()
    assert any("_defaults.yaml" in line and "retries" in line for line in found), found
    assert found == from_scratch(project)
    (project / "specs" / "_defaults.yaml").write_text(DEFAULTS)
    (project / "specs" / "c" / "new.yaml").write_text(spec("after: [c.p1]\n", about="new"))
    assert lint() == from_scratch(project)


def test_an_edit_that_keeps_the_size_and_mtime_is_still_seen(project: Path) -> None:
    lint()
    path = project / "specs" / "c" / "p1.yaml"
    before = os.stat(path)
    path.write_text(path.read_text().replace("image:", "imgae:"))  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    assert os.stat(path).st_size == before.st_size
    found = lint("specs/c/p1.yaml")
    assert any("unknown key 'imgae'" in line for line in found), found
    assert found == from_scratch(project, "specs/c/p1.yaml")
    assert lint() == from_scratch(project)


def test_an_unwritable_cache_folder_only_makes_lint_slower(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = project / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(blocker / "cache"))
    first = lint()
    assert lint() == first and any("imgae" in line for line in first)


def test_a_cold_lint_read_by_several_processes_says_what_one_process_says(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import factory.lint

    monkeypatch.setattr(factory.lint, "PARALLEL_FROM", 10**9)
    alone = from_scratch(project)
    monkeypatch.setattr(factory.lint, "PARALLEL_FROM", 5)
    shared = from_scratch(project)
    assert shared == alone and any("imgae" in line for line in shared)

    def refuse(self: Reader, path: Path) -> None:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(Reader, "read_spec", refuse)
    assert lint() == alone, "what the workers read is in the index"
    for path in (project / "cache").glob("*.lint-index.json"):
        path.unlink()
    monkeypatch.undo()
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(project / "cache"))
    monkeypatch.chdir(project)
    validated: list[str] = []
    original = Reader._validate

    def counting(self: Reader, path: Path, *args: object) -> object:
        validated.append(path.name)
        return original(self, path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Reader, "_validate", counting)
    assert lint() == alone
    # What the workers validated came back to the spec cache: only the broken spec,
    # which is never cached, is validated again.
    assert validated == ["typo.yaml"]


def test_a_few_changed_files_in_a_big_project_are_read_and_the_index_left_as_it_was(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import factory.lint

    monkeypatch.setattr(factory.lint, "BIG", 1)  # this project counts as big
    lint()
    index = next((project / "cache").glob("*.lint-index.json"))
    before = index.read_bytes()
    up = project / "specs" / "a" / "up.yaml"
    up.write_text(spec(updates="raw_v2"))
    found = lint("specs/a/up.yaml", "specs/a/down.yaml")
    assert any(line.startswith("specs/a/down.yaml") and "'raw' is not a pipeline" in line for line in found)
    assert index.read_bytes() == before, "a pre-commit run rewrites neither the index nor the cache"
    assert lint() == from_scratch(project)
