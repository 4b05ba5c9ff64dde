"""The loader files: each spec's DAG in exactly one of them, each file's verdicts the
same as a check of the whole project, and what a file cannot load reported, never lost.

These run the loader and the reporter as Airflow's DAG processor calls them (one call
per file, in this process); tests/deployment and benchmarks/scale.py run them in the
real DAG processor."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from spec_projects import spec_project

from factory.check import SpecChecker
from factory.load.layout import Project
from factory.load.shards import LOADER_FILES, SHARDS, Shard, loader_file
from factory.read import Reader

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = "owner: analytics\nstart_date: 2024-01-01\n"


def spec(
    after: list[str] | None = None, updates: list[str] | None = None, *, key: str = "after", about: str = "a pipeline"
) -> str:
    lines = [f"description: {about}"]
    if after:
        lines.append(f"{key}: [{', '.join(after)}]")
    else:
        lines.append("schedule: '@daily'")
    lines += ["tasks:", "  t:", "    image: busybox:1.36", '    command: ["true"]']
    if updates:
        lines.append(f"    updates: [{', '.join(updates)}]")
    return "\n".join(lines) + "\n"


def random_project(root: Path, seed: int, n: int = 40) -> Project:
    """Pipelines that run after each other's DAG ids and data, with typos, cycles, broken
    specs, a name spelt with a YAML escape, and data named like a DAG id."""
    rng = random.Random(seed)
    ids = [f"{team}.p{i}" for i in range(n) for team in [rng.choice(("a", "b", "c"))]]
    data = [f"d{i}" for i in range(n // 2)]
    files = {"_defaults.yaml": DEFAULTS}
    for dag_id in ids:
        names = rng.sample(ids + data + ["a.nothing", "d999"], k=rng.choice((0, 0, 1, 2)))
        updates = rng.sample(data, k=rng.choice((0, 0, 1))) + (rng.sample(ids, 1) if rng.random() < 0.05 else [])
        text = spec(names, updates, key=rng.choice(("after", "after_any")))
        if rng.random() < 0.1:
            text = text.replace("image:", "imgae:")  # broken on its own
        if rng.random() < 0.05 and updates:
            text = text.replace(f"updates: [{updates[0]}", f'updates: ["\\x{ord(updates[0][0]):02x}{updates[0][1:]}"')
        files[dag_id.replace(".", "/") + ".yaml"] = text
    return spec_project(root, files)


@pytest.mark.parametrize("seed", range(12))
def test_each_loader_file_reaches_the_verdicts_of_a_check_of_the_whole_project(tmp_path: Path, seed: int) -> None:
    project = random_project(tmp_path, seed)
    paths = project.spec_files()
    whole = SpecChecker.for_runtime(Reader(project), "onprem")
    good, bad = whole.check_all(paths)
    assert good and bad, "the project should have both good and broken specs"
    held: list[Path] = []
    for name in LOADER_FILES:
        shard = Shard.of_file(name)
        assert shard is not None
        members = [p for p in paths if shard.holds(project.dag_id(p))]
        held += members
        checker = SpecChecker.for_runtime(Reader(project), "onprem")
        kept, errors = checker.check_shard(shard.holds, paths)
        assert set(kept) == {p for p in members if p in good}, name
        assert set(errors) == {p for p in members if p in bad}, name
        # Each error the file finds is one the whole check found for that spec (the
        # did-you-mean may differ: it is only the reporter's, which reads everything).
        for path, problems in errors.items():
            where = {(d.path, d.line, d.column, d.message) for d in problems}
            assert where <= {(d.path, d.line, d.column, d.message) for d in bad[path]}, (path, problems, bad[path])
    assert sorted(held) == sorted(paths), "every spec is held by exactly one loader file"


def test_a_name_spelt_with_a_yaml_escape_still_counts(tmp_path: Path) -> None:
    project = spec_project(
        tmp_path,
        {
            "_defaults.yaml": DEFAULTS,
            "a/up.yaml": spec(updates=['"\\x72aw"']),  # "raw", spelt with an escape
            "a/down.yaml": spec(["raw"]),
        },
    )
    paths = project.spec_files()
    down = project.spec_path("a.down")
    kept, errors = SpecChecker.for_runtime(Reader(project), "onprem").check_shard(lambda d: d == "a.down", paths)
    assert list(kept) == [down] and not errors


def test_the_shipped_loader_files_are_the_set_the_factory_expects() -> None:
    shipped = sorted(p.name for p in (REPO / "dags").glob("factory_dags*.py"))
    assert shipped == sorted(LOADER_FILES) and len(LOADER_FILES) == SHARDS
    bodies = {(REPO / "dags" / name).read_text().split('"""', 2)[2] for name in LOADER_FILES}
    assert len(bodies) == 1 and "load_dags(globals(), __file__)" in bodies.pop()
    ids = [f"team{i}.pipeline_{i}" for i in range(4000)]
    counts = [sum(loader_file(d) == name for d in ids) for name in LOADER_FILES]
    assert min(counts) > 4000 / SHARDS * 0.85, counts  # spread evenly, so no file carries much more


# -- the loader files and the reporter, called as the DAG processor calls them -------


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with its dags/ as shipped, 30 good specs and one broken one."""
    files = {"_defaults.yaml": DEFAULTS} | {f"t{i % 3}/p{i}.yaml": spec(about=f"pipeline {i}") for i in range(30)}
    files["t0/broken.yaml"] = spec().replace("image:", "imgae:")
    spec_project(tmp_path, files)
    (tmp_path / "dags").mkdir()
    for name in (*LOADER_FILES, "factory_spec_errors.py", ".airflowignore"):
        shutil.copy2(REPO / "dags" / name, tmp_path / "dags" / name)
    monkeypatch.setenv("FACTORY_HOME", str(tmp_path))
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FACTORY_RUNTIME", "onprem")
    monkeypatch.delenv("FACTORY_PARSE_BUDGET", raising=False)
    return tmp_path


def parse_loader_files(root: Path) -> dict[str, set[str]]:
    from factory.loader import load_dags

    found = {}
    for name in LOADER_FILES:
        namespace: dict[str, Any] = {}
        load_dags(namespace, str(root / "dags" / name))
        found[name] = set(namespace)
    return found


def report(root: Path) -> list[str]:
    from factory.loader import report_spec_errors

    return [str(d) for d in report_spec_errors({}, str(root / "dags" / "factory_spec_errors.py"))]


def test_every_good_spec_has_its_dag_in_its_own_loader_file_only(deployed: Path) -> None:
    found = parse_loader_files(deployed)
    every = [d for ids in found.values() for d in ids]
    assert sorted(every) == sorted(f"t{i % 3}.p{i}" for i in range(30)), "each good spec once, the broken one never"
    for name, ids in found.items():
        assert all(loader_file(d) == name for d in ids)
    assert {line.split(":")[0] for line in report(deployed)} == {"specs/t0/broken.yaml"}


def test_a_worker_builds_only_its_dag_and_only_in_the_file_holding_it(
    deployed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "t1.p4")
    found = parse_loader_files(deployed)
    assert {name: ids for name, ids in found.items() if ids} == {loader_file("t1.p4"): {"t1.p4"}}


def test_a_parse_out_of_time_keeps_what_it_built_and_reports_the_rest_until_it_has_time(
    deployed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory.loader import load_dags

    target = loader_file("t0.p0")
    members = sorted(f"t{i % 3}.p{i}" for i in range(30) if loader_file(f"t{i % 3}.p{i}") == target)
    monkeypatch.setenv("FACTORY_PARSE_BUDGET", "0")
    namespace: dict[str, Any] = {}
    load_dags(namespace, str(deployed / "dags" / target))
    assert namespace == {}, "with no time left it stops before building anything"
    lines = report(deployed)
    late = [line for line in lines if "parse-time budget" in line]
    assert sorted(line.split(":")[0] for line in late) == sorted(f"specs/{d.replace('.', '/')}.yaml" for d in members)
    assert f"not loaded: dags/{target} ran out of its parse-time budget (0.0 s, FACTORY_PARSE_BUDGET)" in late[0]
    # The report's head counts them with the broken spec.
    from factory.loader import report_spec_errors

    namespace = {}
    report_spec_errors(namespace, str(deployed / "dags" / "factory_spec_errors.py"))
    head = namespace["factory_spec_errors"].doc_md.splitlines()[0]
    assert head.startswith(f"{len(members) + 1} of 31 spec files have errors"), head

    monkeypatch.delenv("FACTORY_PARSE_BUDGET")
    load_dags(namespace := {}, str(deployed / "dags" / target))
    assert sorted(namespace) == members
    assert {line.split(":")[0] for line in report(deployed)} == {"specs/t0/broken.yaml"}


def test_the_default_budget_follows_airflows_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    from factory.budget import parse_budget

    monkeypatch.delenv("FACTORY_PARSE_BUDGET", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "30")
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT", "50")
    assert parse_budget() == (12.5, "a quarter of dag_file_processor_timeout (50 s)")
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "20")
    assert parse_budget() == (10.0, "half of dagbag_import_timeout (20 s)")
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "0")  # off: the other limit alone
    assert parse_budget()[0] == 12.5


def test_a_missing_or_foreign_loader_file_is_reported_with_the_specs_it_costs(deployed: Path) -> None:
    gone = loader_file("t2.p2")
    (deployed / "dags" / gone).unlink()
    shutil.copy2(REPO / "dags" / LOADER_FILES[0], deployed / "dags" / "factory_dags.py")  # an older factory's
    held = sum(loader_file(d) == gone for d in [f"t{i % 3}.p{i}" for i in range(30)] + ["t0.broken"])
    lines = report(deployed)
    assert f"dags/{gone}: missing, so the {held} spec{'s' if held != 1 else ''} it holds have no DAG" in "\n".join(
        lines
    )
    assert any(line.startswith("dags/factory_dags.py: the loader file of an older factory") for line in lines)
    from factory.loader import load_dags

    namespace: dict[str, Any] = {}
    load_dags(namespace, str(deployed / "dags" / "factory_dags.py"))
    assert namespace == {}, "an older loader file beside the new ones loads nothing (no DAG in two files)"


def test_a_loader_file_of_an_older_count_loads_nothing_and_is_reported(deployed: Path) -> None:
    # An upgrade from a release with another number of loader files, whose old files were
    # left in dags/: each of their DAGs is also in one of the new files.
    old = Shard(1, SHARDS // 2)
    shutil.copy2(REPO / "dags" / LOADER_FILES[0], deployed / "dags" / old.file_name)
    namespace: dict[str, Any] = {}
    from factory.loader import load_dags

    load_dags(namespace, str(deployed / "dags" / old.file_name))
    assert namespace == {}, "a loader file of an older set beside the new ones loads nothing"
    lines = report(deployed)
    told = f"dags/{old.file_name}: one of a set of {SHARDS // 2} loader files, and this factory uses {SHARDS}"
    assert any(line.startswith(told) for line in lines), lines
    assert sum(len(names) for names in parse_loader_files(deployed).values()) == 30, "the new set still holds every DAG"


def test_each_loader_file_keeps_its_own_cache(deployed: Path) -> None:
    parse_loader_files(deployed)
    packs = sorted(p.name.split("-", 1)[1] for p in (deployed / "cache").glob(f"*-*of{SHARDS}.json"))
    holding = {loader_file(f"t{i % 3}.p{i}") for i in range(30)}  # a broken spec is never cached
    assert packs == sorted(f"{Shard.of_file(n).tag}.json" for n in holding)  # type: ignore[union-attr]
    entries = [len(json.loads(p.read_bytes())) for p in (deployed / "cache").glob(f"*-*of{SHARDS}.json")]
    assert sum(entries) == 30, "each file caches just the specs it read: no file evicts another's entries"
