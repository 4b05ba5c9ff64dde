"""`factory explain`: each value's origin at every level of a real project on disk: the
spec's own line, the innermost _defaults.yaml that sets it, the spec's top level for what
every task inherits, and the built-in defaults (held here to what the model builds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spec_projects import spec_project

from factory.cli import main
from factory.model.build import build_spec
from factory.review.explain import PIPELINE_BUILTINS, TASK_BUILTINS

OUTER = """\
owner: platform
start_date: 2024-01-01
retries: 1
tags: [all]
"""
INNER = """\
# the team's
owner: sales
retry_delay: 15m
timezone: Europe/Paris
"""
SPEC = """\
description: Orders
schedule: "0 3 * * *"
retries: 4
tasks:
  extract:
    image: reg.example.com/extract:1
    cpu: 0.3
    memory: 700MiB
  load:
    image: reg.example.com/load:1
    retries: 0
    depends_on: [extract]
    secrets: {DB_PASSWORD: /prod/db}
"""


@pytest.fixture
def explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> dict:
    spec_project(tmp_path, {"_defaults.yaml": OUTER, "sales/_defaults.yaml": INNER, "sales/orders.yaml": SPEC})
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "specs/sales/orders.yaml", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _rows(rows: list[dict]) -> dict[str, dict]:
    return {row["key"]: row for row in rows}


def _at(row: dict) -> tuple[str, int] | str:
    origin = row["origin"]
    return "built-in" if origin.get("built_in") else (origin["file"], origin["line"])


def test_pipeline_values_name_the_file_and_line_they_came_from(explained: dict) -> None:
    top = _rows(explained["pipeline"])
    assert explained["dag_id"] == "sales.orders"
    assert _at(top["description"]) == ("specs/sales/orders.yaml", 1)
    assert _at(top["schedule"]) == ("specs/sales/orders.yaml", 2)
    assert _at(top["retries"]) == ("specs/sales/orders.yaml", 3)  # the spec beats both defaults
    assert (top["owner"]["value"], _at(top["owner"])) == ("sales", ("specs/sales/_defaults.yaml", 2))  # inner wins
    assert _at(top["start_date"]) == ("specs/_defaults.yaml", 2)
    assert _at(top["tags"]) == ("specs/_defaults.yaml", 4)
    assert _at(top["timezone"]) == ("specs/sales/_defaults.yaml", 4)
    assert (top["catchup"]["value"], _at(top["catchup"])) == (False, "built-in")
    assert (top["max_active_runs"]["value"], _at(top["max_active_runs"])) == (1, "built-in")


def test_task_values_name_their_own_line_the_pipeline_s_or_the_built_in(explained: dict) -> None:
    extract, load = _rows(explained["tasks"]["extract"]), _rows(explained["tasks"]["load"])
    assert _at(extract["image"]) == ("specs/sales/orders.yaml", 6)
    assert _at(load["retries"]) == ("specs/sales/orders.yaml", 11)  # its own 0
    assert extract["retries"]["value"] == 4 and extract["retries"]["origin"]["inherited"]
    assert _at(extract["retries"]) == ("specs/sales/orders.yaml", 3)
    assert _at(extract["retry_delay"]) == ("specs/sales/_defaults.yaml", 3)  # inherited from a defaults file
    assert (extract["run_if"]["value"], _at(extract["run_if"])) == ("all_succeeded", "built-in")
    assert _at(load["cpu"]) == "built-in" and load["cpu"]["value"] == 0.25


def test_what_values_become_on_each_runtime(explained: dict) -> None:
    extract, load = _rows(explained["tasks"]["extract"]), _rows(explained["tasks"]["load"])
    # 0.3 vCPU and 700MiB: Fargate's smallest size with at least both is 0.5 vCPU, 1 GiB.
    assert extract["cpu"]["on"]["mwaa"] == "Fargate size 0.5 vCPU, 1 GiB (rounded up)"
    assert extract["memory"]["on"]["onprem"] == "Docker memory limit 700m"
    assert extract["run_if"]["on"]["both"] == "Airflow trigger_rule all_success"
    assert "SSM parameter /prod/db" in load["secrets"]["on"]["mwaa"]
    assert "Airflow Variable prod/db" in load["secrets"]["on"]["onprem"]


def test_the_text_form_shows_the_same_origins(tmp_path: Path, monkeypatch, capsys) -> None:
    spec_project(tmp_path, {"_defaults.yaml": OUTER, "sales/_defaults.yaml": INNER, "sales/orders.yaml": SPEC})
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "specs/sales/orders.yaml"]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "owner sales specs/sales/_defaults.yaml:2" in lines
    assert "catchup false built-in default" in lines
    assert "retries 4 specs/sales/orders.yaml:3 (the pipeline's, for every task)" in lines


def test_built_in_defaults_are_what_the_model_builds_without_them() -> None:
    """Writing every built-in default out changes nothing: the table cannot drift from build_spec."""
    base = {"description": "d", "owner": "o", "start_date": "2024-01-01"}
    task = {"image": "i:1"}
    written_task = {k: v for k, v in TASK_BUILTINS.items() if v is not None}
    written_top = {k: v for k, v in PIPELINE_BUILTINS.items() if v is not None}
    bare = build_spec("t.s", "t/s.yaml", {**base, "tasks": {"a": task}})
    full = build_spec("t.s", "t/s.yaml", {**base, **written_top, "tasks": {"a": {**task, **written_task}}})
    assert bare == full
    unset = build_spec("t.s", "t/s.yaml", {**base, "tasks": {"a": task}})
    assert unset.schedule is None and unset.max_active_tasks is None
    assert unset.tasks[0].command is None and unset.tasks[0].timeout is None and unset.tasks[0].pool is None


def test_bad_input_is_a_clean_verdict(tmp_path: Path, monkeypatch, capsys) -> None:
    spec_project(tmp_path, {"sales/orders.yaml": "description: x\ntasks:\n  a:\n    image: i:1\n    cpu: lots\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "specs/sales/orders.yaml"]) == 1
    err = capsys.readouterr().err
    assert "specs/sales/orders.yaml:5:10: error:" in err and "Traceback" not in err
    assert main(["explain", "specs/sales/missing.yaml"]) == 2
    assert "no such spec file" in capsys.readouterr().err


def test_new_explain_and_lint_never_import_airflow(tmp_path: Path) -> None:
    """Analysts' tools start fast and run where Airflow is not installed."""
    import subprocess
    import sys

    spec_project(tmp_path, {"sales/_defaults.yaml": INNER + "start_date: 2024-01-01\n"})
    script = (
        "import sys\nfrom factory.cli import main\n"
        "assert main(['new', 'specs/sales/x.yaml']) == 0\n"
        "assert main(['explain', 'specs/sales/x.yaml']) == 0\n"
        "assert main(['lint', 'specs']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'boto3', 'botocore'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
