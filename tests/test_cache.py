"""The spec cache: hits skip validation, any input change misses, and trouble with the
cache folder never breaks a parse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from factory.cache import SpecCache
from factory.load.layout import Project, cache_inputs
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
    """One parse: read the spec through the cache, then save the pack as the loader does."""
    cache = SpecCache(folder, project.specs_dir, cache_inputs(project))
    try:
        return Reader(project, cache=cache).read_spec(project.specs_dir / "team" / "job.yaml")
    finally:
        cache.save()


def _entries(folder: Path) -> list[str]:
    packs = sorted(folder.glob("*.json"))
    assert len(packs) <= 1, "one pack per specs folder"
    return sorted(json.loads(packs[0].read_text())) if packs else []


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
def test_any_change_to_the_inputs_is_a_miss_and_the_old_entry_goes(project: Project, tmp_path: Path, change) -> None:
    cache = tmp_path / "cache"
    before = _read(project, cache)
    (old,) = _entries(cache)
    project._folder_defaults.cache_clear()
    change(project)
    after = _read(project, cache)
    assert after != before
    (new,) = _entries(cache)
    assert new != old


def test_new_factory_code_with_the_same_version_is_a_miss(project: Project, tmp_path: Path) -> None:
    # A fixed check ships as new modules, often under the same version string (a sync of
    # main, a hot fix): an entry that older code validated must not be served to it.
    import factory.validate.semantic as module

    cache = tmp_path / "cache"
    _read(project, cache)
    (old,) = _entries(cache)
    stat = os.stat(module.__file__)
    try:
        os.utime(module.__file__, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        _read(project, cache)
        (new,) = _entries(cache)
    finally:
        os.utime(module.__file__, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert new != old


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b""], ids=["truncated", "not-a-mapping", "empty"])
def test_a_corrupt_pack_is_ignored_and_rewritten(project: Project, tmp_path: Path, garbage: bytes) -> None:
    cache = tmp_path / "cache"
    good = _read(project, cache)
    (pack,) = cache.glob("*.json")
    pack.write_bytes(garbage)
    assert _read(project, cache) == good
    assert len(_entries(cache)) == 1


def test_an_unchanged_parse_does_not_rewrite_the_pack(project: Project, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _read(project, cache)
    (pack,) = cache.glob("*.json")
    before = pack.stat().st_mtime_ns
    os.utime(pack, ns=(before - 10**9, before - 10**9))
    _read(project, cache)
    assert pack.stat().st_mtime_ns == before - 10**9


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
