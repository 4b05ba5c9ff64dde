"""The spec cache: hits skip validation, any input change misses, and trouble with the
cache folder never breaks a parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.cache import SpecCache
from factory.load.layout import Project, schema_files
from factory.read import Reader

SPEC = "description: d\ntasks:\n  a: {image: 'img:1', command: [run]}\n"


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Project:
    (tmp_path / "schemas").symlink_to(repo / "schemas")
    team = tmp_path / "specs" / "team"
    team.mkdir(parents=True)
    (tmp_path / "specs" / "_defaults.yaml").write_text("owner: o\nstart_date: 2024-01-01\n")
    (team / "job.yaml").write_text(SPEC)
    return Project.at(tmp_path)


def _read(project: Project, folder: Path):
    reader = Reader(project, cache=SpecCache(folder, schema_files(project)))
    return reader.read_spec(project.specs_dir / "team" / "job.yaml")


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def test_a_hit_gives_the_same_spec_without_validating(project: Project, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    first = _read(project, cache)
    assert len(_entries(cache)) == 1

    def no_validation(*args, **kwargs):
        raise AssertionError("a cache hit must not validate again")

    monkeypatch.setattr(Reader, "_validate", no_validation)
    assert _read(project, cache) == first


@pytest.mark.parametrize(
    "change",
    [
        lambda p: (p.specs_dir / "team" / "job.yaml").write_text(SPEC.replace("run", "walk")),
        lambda p: (p.specs_dir / "_defaults.yaml").write_text("owner: other\nstart_date: 2024-01-01\n"),
        lambda p: (p.specs_dir / "team" / "_defaults.yaml").write_text("retries: 3\n"),
    ],
    ids=["spec", "defaults", "new-defaults-file"],
)
def test_any_change_to_the_inputs_is_a_miss(project: Project, tmp_path: Path, change) -> None:
    cache = tmp_path / "cache"
    before = _read(project, cache)
    project._folder_defaults.cache_clear()
    change(project)
    after = _read(project, cache)
    assert after != before
    assert len(_entries(cache)) == 2


def test_a_corrupt_entry_is_ignored_and_rewritten(project: Project, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    good = _read(project, cache)
    (entry,) = _entries(cache)
    entry.write_bytes(b"{not json")
    assert _read(project, cache) == good
    assert entry.read_bytes().startswith(b"{")
    assert b"not json" not in entry.read_bytes()


def test_a_cache_path_that_cannot_be_a_folder_is_not_an_error(project: Project, tmp_path: Path) -> None:
    # Stands in for a read-only folder, and works as root too: nothing can be created
    # inside a regular file.
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    spec = _read(project, blocker)
    assert spec.dag_id == "team.job"
    assert blocker.read_text() == "a file, not a folder"


def test_errors_are_never_cached(project: Project, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (project.specs_dir / "team" / "job.yaml").write_text("description: d\ntasks: {}\n")
    with pytest.raises(Exception, match="must not be empty"):
        _read(project, cache)
    assert _entries(cache) == []
