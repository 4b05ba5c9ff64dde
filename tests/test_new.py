"""`factory new`: on real files in a throwaway project. Every spec it writes lints clean
and compiles into a DAG on both runtimes; it never overwrites, and refuses names that
cannot be DAG ids, saying why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spec_projects import compiled, spec_project

from factory.cli import main
from factory.load.layout import Project
from factory.load.yaml import load_file

SALES_DEFAULTS = "owner: sales-analytics\nstart_date: 2024-01-01\ntags: [sales]\nretries: 2\ntimezone: Europe/Paris\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    spec_project(tmp_path, {"sales/_defaults.yaml": SALES_DEFAULTS})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _new(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["new", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


CASES = {
    "plain": ["specs/sales/weekly.yaml"],
    "options": [
        "specs/sales/weekly.yaml",
        "--image",
        "ghcr.io/acme/report:1.2.0",
        "--command",
        "python report.py --day '{{ ds }}' --title 'a b'",
        "--schedule",
        "*/15 6-18 * * 1-5",
        "--description",
        "Weekly report: #1 for the sales team",
    ],
    "new-folder-no-defaults": ["specs/marketing/deep/attribution-v2.yaml", "--image", "busybox:1.36"],
    "top-level": ["specs/solo.yaml"],
}


@pytest.mark.parametrize("argv", CASES.values(), ids=CASES.keys())
def test_every_spec_it_writes_lints_and_builds_a_dag(project: Path, capsys, argv: list[str]) -> None:
    status, out, err = _new(capsys, *argv)
    assert status == 0, err
    path = project / argv[0]
    assert f"wrote {argv[0]}" in out
    assert main(["lint", argv[0]]) == 0, capsys.readouterr().out
    capsys.readouterr()
    for runtime in ("onprem", "mwaa"):
        dags, _ = compiled(Project.at(project), runtime)
        dag_id = ".".join(Path(argv[0]).relative_to("specs").with_suffix("").parts)
        assert dag_id in dags
        assert "main" in dags[dag_id].task_dict
    # The modeline points at the schema from the file's depth: editors find it.
    first = path.read_text().splitlines()[0]
    schema = first.removeprefix("# yaml-language-server: $schema=")
    assert (path.parent / schema).resolve() == (project / "schemas" / "spec.schema.json").resolve()


def test_options_reach_the_spec_as_written(project: Path, capsys) -> None:
    status, _, err = _new(capsys, *CASES["options"])
    assert status == 0, err
    data = load_file(str(project / "specs/sales/weekly.yaml")).data
    task = data["tasks"]["main"]
    assert task["image"] == "ghcr.io/acme/report:1.2.0"
    assert task["command"] == ["python", "report.py", "--day", "{{ ds }}", "--title", "a b"]
    assert data["schedule"] == "*/15 6-18 * * 1-5"
    assert data["description"] == "Weekly report: #1 for the sales team"


def test_keys_the_defaults_give_are_left_out_and_named(project: Path, capsys) -> None:
    assert _new(capsys, "specs/sales/weekly.yaml")[0] == 0
    path = project / "specs/sales/weekly.yaml"
    data = load_file(str(path)).data
    assert set(data) == {"description", "tasks"}  # owner, start_date, tags, retries: from _defaults
    text = path.read_text()
    assert "#   owner: sales-analytics  (specs/sales/_defaults.yaml)" in text
    assert "cron expression in Europe/Paris" in text  # the folder's timezone, not UTC


def test_without_defaults_it_writes_what_a_spec_must_have(project: Path, capsys) -> None:
    assert _new(capsys, "specs/marketing/attribution.yaml", "--owner", "growth")[0] == 0
    data = load_file(str(project / "specs/marketing/attribution.yaml")).data
    assert data["owner"] == "growth"
    assert "start_date" in data


def test_it_never_overwrites(project: Path, capsys) -> None:
    assert _new(capsys, "specs/sales/weekly.yaml")[0] == 0
    path = project / "specs/sales/weekly.yaml"
    path.write_text("# mine\n")
    status, _, err = _new(capsys, "specs/sales/weekly.yaml")
    assert status == 2
    assert "already exists" in err and "never overwrites" in err
    assert path.read_text() == "# mine\n"


REFUSED = {
    "specs/sales/weekly.report.yaml": "'weekly.report' cannot be part of a DAG id",
    "specs/sales team/weekly.yaml": "'sales team' cannot be part of a DAG id",
    "specs/sales/weekly.yml": "spec files end in '.yaml'",
    "specs/sales/_weekly.yaml": "names starting with '_' or '.' are not specs",
    "elsewhere/weekly.yaml": "is not inside a specs/ folder",
    f"specs/sales/{'x' * 245}.yaml": "Airflow allows 250",
    f"specs/sales/{'x' * 300}.yaml": "File name too long",
}


@pytest.mark.parametrize(("name", "why"), REFUSED.items(), ids=range(len(REFUSED)))
def test_names_that_cannot_be_dag_ids_are_refused_saying_why(project: Path, capsys, name: str, why: str) -> None:
    status, _, err = _new(capsys, name)
    assert status == 2
    assert why in err and "Traceback" not in err
    assert not os.path.exists(project / name)


def test_a_spec_that_would_not_lint_is_not_left_behind(project: Path, capsys) -> None:
    status, _, err = _new(capsys, "specs/ops/nightly.yaml", "--schedule", "61 * * * *")
    assert status == 1
    assert "specs/ops/nightly.yaml:" in err and "error: invalid cron schedule" in err
    assert "not written" in err
    assert not (project / "specs/ops").exists()
