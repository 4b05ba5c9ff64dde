"""Deadlines (factory/compile/deadline.py, the late event of factory/validate/notify.py
and factory/operators/notify.py): the checks, the Deadline Alert each runtime's DAG
gets on this Airflow (3.3), the located error of an Airflow without Deadline Alerts, and
the late message as a real SMTP server (aiosmtpd) receives it. A missed deadline through
the scheduler and the triggerer is on the test bed (tests/deployment/test_notify_on_failure.py);
the error on MWAA 3.0.6 and 2.x in tests/mwaa/test_mwaa_versions.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from notify_sinks import SmtpSink, smtp_sink, text_of
from spec_projects import compiled, spec_project

from factory.check import SpecChecker
from factory.diagnostics import SpecError
from factory.lint import lint_paths
from factory.load.layout import Project
from factory.read import Reader

TASKS = 'tasks:\n  load:\n    image: "busybox:1"\n'
LATE = "notify:\n  - email: team@example.com\n    when: [failure, late]\n"


def _project(tmp_path: Path, body: str, defaults: str = "") -> Project:
    files = {"_defaults.yaml": f"owner: o\nstart_date: 2024-01-01\n{defaults}", "job.yaml": f"description: d\n{body}"}
    return spec_project(tmp_path, files)


def _errors(project: Project) -> list[str]:
    return [f"{d.path.split('/')[-1]}:{d.line}:{d.column}: {d.message}" for d in lint_paths([project.specs_dir]).errors]


def test_a_deadline_with_someone_told_of_late_lints_clean(tmp_path: Path) -> None:
    assert _errors(_project(tmp_path, f"deadline: {{within: 2h}}\n{LATE}{TASKS}")) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"deadline: {{within: 2h}}\n{TASKS}",
         "job.yaml:2:1: nobody is told when a run misses this deadline: no notify target is told of late"),
        (f"deadline: {{within: 2h}}\nnotify:\n  - email: a@example.com\n{TASKS}",
         "job.yaml:2:1: nobody is told when a run misses this deadline: no notify target is told of late"),
        (f"deadline: {{within: 0s}}\n{LATE}{TASKS}", "job.yaml:2:20: within must be longer than zero"),
        (f"deadline: {{within: 2 hours}}\n{LATE}{TASKS}", "job.yaml:2:20: 'deadline.within': '2 hours' is not valid"),
        (f"deadline: {{}}\n{LATE}{TASKS}", "job.yaml:2:11: 'deadline' is missing the required key 'within'"),
    ],
)  # fmt: skip
def test_a_bad_deadline_is_an_error_at_its_line(tmp_path: Path, body: str, expected: str) -> None:
    assert _errors(_project(tmp_path, body)) == [expected]


def test_a_team_sets_the_deadline_and_who_is_told_once(tmp_path: Path) -> None:
    project = _project(tmp_path, TASKS, defaults=f"deadline: {{within: 90m}}\n{LATE}")
    assert _errors(project) == []
    spec = Reader(project).read_spec(project.specs_dir / "job.yaml")
    assert spec.deadline == timedelta(minutes=90)


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_the_dag_gets_a_deadline_alert_on_when_the_run_was_due(tmp_path: Path, runtime: str) -> None:
    body = f"deadline: {{within: 2h}}\n{LATE}  - sns: arn:aws:sns:eu-west-1:123456789012:alerts\n{TASKS}"
    dags, _ = compiled(_project(tmp_path, body), runtime)
    deadline = dags["job"].deadline
    [alert] = deadline if isinstance(deadline, list) else [deadline]
    # When the run was queued: its due time (a scheduled run is created then), which
    # every run has, unlike a logical date (see factory/compile/deadline.py).
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert alert.interval == timedelta(hours=2)
    assert alert.callback.path == "factory.operators.notify.run_is_late"
    # Only the targets told of late; the rest is plain JSON, as it is stored.
    assert alert.callback.kwargs["targets"] == [["email", "team@example.com"]]
    assert alert.callback.kwargs["within"] == "2h"
    assert json.loads(json.dumps(alert.callback.kwargs))["settings"]["email_from"] == "factory@example.com"


def test_the_loader_refuses_a_deadline_where_airflow_has_no_deadline_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, f"deadline: {{within: 2h}}\n{LATE}{TASKS}")
    checker = SpecChecker.for_runtime(Reader(project), "mwaa")
    checker.check(project.specs_dir / "job.yaml")  # 3.3 has them
    monkeypatch.setattr("factory.check.deadline_unsupported", lambda: "Airflow 3.0.6")  # as MWAA 3.0.6
    with pytest.raises(SpecError) as raised:
        checker.check(project.specs_dir / "job.yaml")
    [problem] = raised.value.diagnostics
    assert (problem.path, problem.line, problem.column) == ("specs/job.yaml", 2, 1)
    assert problem.message == ("deadline needs Airflow 3.1 or later (Deadline Alerts); this is Airflow 3.0.6 (mwaa)")


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with smtp_sink() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_SINK", json.dumps(server.connection()))
        yield server


def test_a_missed_deadline_tells_its_targets(sink: SmtpSink) -> None:
    from factory.operators.notify import run_is_late

    # What the scheduler gives a deadline callback (airflow/models/deadline.py, handle_miss).
    context = {
        "dag_run": {
            "dag_id": "sales.daily_rollup",
            "dag_run_id": "scheduled__2026-12-01T06:00:00+00:00",
            "logical_date": "2026-12-01T06:00:00Z",
            "state": "running",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-12-01T08:00:00Z"},
    }
    settings = {"email": True, "smtp_conn_id": "smtp_sink", "email_from": "factory@example.com"}
    targets = [["email", "late@example.com"]]
    asyncio.run(run_is_late(context, targets, settings, "specs/sales/daily_rollup.yaml", "2h"))
    [mail] = sink.to("late@example.com")
    assert mail["Subject"] == "[factory] sales.daily_rollup: run is late (not done 2h after it was due)"
    body = text_of(mail).splitlines()
    assert "Run: scheduled__2026-12-01T06:00:00+00:00" in body
    assert "Deadline: 2026-12-01T08:00:00Z (2h after it was due)" in body
    assert "State then: running" in body
