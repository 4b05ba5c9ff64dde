"""Pipelines that run after others (factory/validate/pipelines.py, factory/compile/assets.py):
the checks across the specs folder, with their positions, and what the DAG becomes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from factory.check import SpecChecker
from factory.lint import lint_paths
from factory.load.layout import Project
from factory.read import Reader

REPO = Path(__file__).resolve().parents[1]
TASK = '  t:\n    image: "busybox:1"\n'


def _project(tmp_path: Path, specs: dict[str, str]) -> Project:
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "_defaults.yaml").write_text("owner: o\nstart_date: 2024-01-01\n")
    for name, body in specs.items():
        path = tmp_path / "specs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"description: {name}\n{body}tasks:\n{TASK}")
    return Project.at(tmp_path)


def _errors(tmp_path: Path, specs: dict[str, str], only: str | None = None) -> list[str]:
    project = _project(tmp_path, specs)
    target = project.specs_dir / only if only else project.specs_dir
    return [f"{d.path}:{d.line}:{d.column}: {d.message} | {d.hint}" for d in lint_paths([target]).errors]


def test_a_name_nothing_announces_is_an_error_at_its_line_with_a_did_you_mean(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = _errors(
        tmp_path,
        {"sales/rollup.yaml": "", "finance/close.yaml": "after: [sales.rollup, sales.rolup]\n"},
    )
    assert errors == [
        "specs/finance/close.yaml:2:23: 'sales.rolup' is not a pipeline or data of this project: "
        "this one would never run | did you mean 'sales.rollup'?"
    ]


def test_linting_one_file_checks_it_against_the_whole_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    specs = {
        "sales/rollup.yaml": "",
        "finance/close.yaml": "after: [sales.rollup]\n",
        "finance/broken_ref.yaml": "after: [nowhere]\n",
    }
    # One file, as pre-commit passes it: its reference is found in another file, and the
    # other file's own problem is not this file's.
    assert _errors(tmp_path, specs, only="finance/close.yaml") == []


def test_waiting_for_a_spec_that_has_errors_is_an_error_too(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = _errors(
        tmp_path, {"sales/rollup.yaml": "retries: many\n", "finance/close.yaml": "after: [sales.rollup]\n"}
    )
    assert any(e.startswith("specs/sales/rollup.yaml:2:10: 'retries'") for e in errors), errors
    assert "specs/finance/close.yaml:2:9: 'sales.rollup' comes only from a spec that has errors (rollup.yaml)" in (
        " ".join(errors)
    )


def test_a_cycle_of_pipelines_names_the_chain_on_each(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = _errors(
        tmp_path,
        {"a.yaml": "after: [b]\n", "b.yaml": "after_any: [c]\n", "c.yaml": "after: [a]\n", "d.yaml": "after: [a]\n"},
    )
    chains = {e.split(":")[0]: e.split("cycle: ")[1].split(",")[0] for e in errors if "cycle: " in e}
    assert chains == {
        "specs/a.yaml": "a -> b -> c -> a",
        "specs/b.yaml": "b -> c -> a -> b",
        "specs/c.yaml": "c -> a -> b -> c",
    }
    # At the list each one waits on.
    assert [e.split(": ")[0] for e in errors if "cycle: " in e] == [
        "specs/a.yaml:2:8",
        "specs/b.yaml:2:12",
        "specs/c.yaml:2:8",
    ]
    # d waits for a, which cannot load now: said once, at d's own line.
    assert [e for e in errors if e.startswith("specs/d.yaml")] == [
        "specs/d.yaml:2:9: 'a' comes only from a spec that has errors (a.yaml): this pipeline would never run "
        "| fix that spec first; its errors are listed with it"
    ]


def test_data_may_not_take_another_pipelines_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    project = _project(tmp_path, {"a.yaml": "", "b.yaml": ""})
    (project.specs_dir / "b.yaml").write_text(f"description: b\ntasks:\n{TASK}    updates: [a]\n")
    (error,) = [str(d) for d in lint_paths([project.specs_dir]).errors]
    assert error.startswith("specs/b.yaml:5:15: 'a' is the DAG id of another pipeline (specs/a.yaml)")


def test_after_and_after_any_are_one_or_the_other(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = _errors(tmp_path, {"a.yaml": "", "b.yaml": "after: [a]\nafter_any: [a]\n"})
    assert errors == [
        "specs/b.yaml:3:1: after and after_any are both set: a pipeline runs after all of some names, or any of them "
        "| keep one: after for all of them, after_any for the first of them"
    ]


# -- what the DAG becomes ---------------------------------------------------------------


def _dags(tmp_path: Path, specs: dict[str, str], runtime: str) -> dict:
    from factory.compile.dag import build_dag

    project = _project(tmp_path, specs)
    shutil.copy2(REPO / "specs" / "_platform.yaml", project.specs_dir)
    checker = SpecChecker.for_runtime(Reader(project), runtime)
    models, errors = checker.check_all(project.spec_files())
    assert errors == {}
    return {spec.dag_id: build_dag(spec, checker.platform, runtime) for spec in models.values()}


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_the_dag_runs_on_assets_and_its_verdict_announces_it(tmp_path: Path, runtime: str) -> None:
    from airflow.sdk import AssetAll

    dags = _dags(tmp_path, {"up.yaml": "", "data.yaml": "", "all.yaml": "after: [up, data]\n"}, runtime)
    verdict = dags["up"].get_task("verdict")
    assert [o.uri for o in verdict.outlets] == ["x-factory://up"]
    assert verdict.trigger_rule == "all_success" and verdict.upstream_task_ids == {"t"}
    timetable = dags["all"].timetable
    # Airflow 3.3's SDK has its own AssetTriggeredTimetable class: the name is the contract.
    assert type(timetable).__name__ == "AssetTriggeredTimetable" and isinstance(timetable.asset_condition, AssetAll)
    assert {a.uri for a in timetable.asset_condition.objects} == {"x-factory://up", "x-factory://data"}


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_any_of_a_clock_and_task_updates(tmp_path: Path, runtime: str) -> None:
    from airflow.sdk import AssetAny
    from airflow.timetables.assets import AssetOrTimeSchedule

    project = _project(
        tmp_path,
        {"up.yaml": "", "any.yaml": "after_any: [up, raw]\n", "clock.yaml": 'after: [up]\nschedule: "@daily"\n'},
    )
    (project.specs_dir / "writer.yaml").write_text(f"description: w\ntasks:\n{TASK}    updates: [raw]\n")
    shutil.copy2(REPO / "specs" / "_platform.yaml", project.specs_dir)
    from factory.compile.dag import build_dag

    checker = SpecChecker.for_runtime(Reader(project), runtime)
    models, errors = checker.check_all(project.spec_files())
    assert errors == {}
    dags = {s.dag_id: build_dag(s, checker.platform, runtime) for s in models.values()}
    assert isinstance(dags["any"].timetable.asset_condition, AssetAny)
    assert [o.uri for o in dags["writer"].get_task("t").outlets] == ["x-factory://raw"]
    clock = dags["clock"].timetable
    assert isinstance(clock, AssetOrTimeSchedule)
    assert clock.timetable.summary == "0 0 * * *"  # @daily, with the plain schedule's data interval
