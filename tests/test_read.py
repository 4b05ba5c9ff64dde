"""Loading good specs: defaults, units, and the frozen model they become."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from factory.load.layout import Project
from factory.model.units import parse_duration, parse_memory_mib
from factory.read import Reader


def _write(root: Path, files: dict[str, str]) -> Project:
    for name, text in files.items():
        path = root / "specs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Project.containing(root / "specs")


def test_nearer_defaults_win_and_the_spec_wins_over_both(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        {
            "_defaults.yaml": "owner: platform\nstart_date: 2023-01-01\nretries: 1\ntags: [all]\n",
            "sales/_defaults.yaml": "owner: sales\nretries: 3\n",
            "sales/eu/nightly.yaml": (
                "description: d\nretries: 5\ntasks:\n"
                "  a: {image: 'img:1'}\n  b: {image: 'img:1', retries: 0, depends_on: [a]}\n"
            ),
        },
    )
    spec = Reader(project).read_spec(project.specs_dir / "sales/eu/nightly.yaml")
    assert spec.dag_id == "sales.eu.nightly"
    assert spec.owner == "sales"
    assert spec.start_date == date(2023, 1, 1)
    assert spec.tags == ("all",)
    assert [t.retries for t in spec.tasks] == [5, 0]
    assert spec.tasks[1].depends_on == ("a",)


def test_task_values_are_normalised(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        {
            "job.yaml": (
                "description: d\nowner: o\nstart_date: 2024-01-01\ntimeout: 1h30m\n"
                "tasks:\n  a:\n    image: img:1\n    command: echo 'hello world' --n 3\n"
                "    env: {N: '3', DEBUG: 'NO', RATE: '1.50'}\n    cpu: 2\n    memory: 1.5GiB\n"
            )
        },
    )
    (task,) = Reader(project).read_spec(project.specs_dir / "job.yaml").tasks
    assert task.command == ("echo", "hello world", "--n", "3")
    # Exactly the characters written (unquoted, YAML would make them 3, false and 1.5:
    # lint refuses that, see tests/bad_specs/specs/yaml11_scalars.yaml).
    assert dict(task.env) == {"N": "3", "DEBUG": "NO", "RATE": "1.50"}
    assert (task.cpu, task.memory_mib) == (2.0, 1536)
    assert task.timeout == timedelta(hours=1, minutes=30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.image = "other"  # type: ignore[misc]


def test_dag_ids_map_to_paths_both_ways(tmp_path: Path) -> None:
    project = Project.at(tmp_path)
    path = project.specs_dir / "sales" / "daily_rollup.yaml"
    assert project.dag_id(path) == "sales.daily_rollup"
    assert project.spec_path("sales.daily_rollup") == path


def test_underscore_files_and_folders_are_not_specs(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        {
            "_platform.yaml": "{}\n",
            "_drafts/wip.yaml": "x: 1\n",
            "a/_defaults.yaml": "owner: x\n",
            "a/job.yaml": "description: d\n",
            ".hidden.yaml": "x: 1\n",
        },
    )
    assert [p.relative_to(project.specs_dir).as_posix() for p in project.spec_files()] == ["a/job.yaml"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("1h30m", timedelta(minutes=90)), ("2d", timedelta(days=2))],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("text", "mib"), [("512MiB", 512), ("1GiB", 1024), ("0.5GiB", 512), ("1.1MiB", 2)])
def test_memory_rounds_up_to_whole_mib(text: str, mib: int) -> None:
    assert parse_memory_mib(text) == mib


def test_repository_examples_lint_clean(repo: Path, capsys) -> None:
    from factory.cli import main

    assert main(["lint", str(repo / "specs")]) == 0, capsys.readouterr().out
