"""Time zones and end dates (factory/validate/timezones.py, factory/compile/dag.py): the
checks with their positions, and the run times Airflow's scheduler computes from the
compiled DAG across a daylight-saving change (the scheduler's own timetable, from the
serialized DAG: computed, not waited for)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from spec_projects import compiled, spec_project

from factory.lint import lint_paths
from factory.load.layout import Project

TASKS = 'tasks:\n  a:\n    image: "busybox:1"\n'
JAN = "start_date: 2026-01-01\n"


def _project(tmp_path: Path, body: str, defaults: str = "") -> Project:
    files = {"_defaults.yaml": f"owner: o\n{defaults}", "s.yaml": f"description: d\n{body}{TASKS}"}
    return spec_project(tmp_path, files)


def _errors(tmp_path: Path, body: str, defaults: str = "") -> list[str]:
    project = _project(tmp_path, body, defaults)
    return [
        f"{Path(d.path).name}:{d.line}:{d.column}: {d.message} | {d.hint}"
        for d in lint_paths([project.specs_dir]).errors
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "start_date: 2026-01-01\ntimezone: Europe/Pariss\n",
            "s.yaml:3:11: unknown time zone 'Europe/Pariss' | did you mean 'Europe/Paris'?",
        ),
        (
            "start_date: 2026-01-01\ntimezone: Mars/Olympus\n",
            "s.yaml:3:11: unknown time zone 'Mars/Olympus' | an IANA name",
        ),
        ("start_date: 2026-01-01\nend_date: 2026-02-30\n", "s.yaml:3:11: '2026-02-30' is not a real date"),
        (
            "start_date: 2026-06-01\nend_date: 2026-05-31\n",
            "s.yaml:3:11: end_date 2026-05-31 is before start_date 2026-06-01",
        ),
    ],
)
def test_a_bad_zone_or_end_is_an_error_at_its_line(tmp_path: Path, body: str, expected: str) -> None:
    errors = _errors(tmp_path, body)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_team_zone_from_defaults_is_checked_where_it_is_written(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "start_date: 2026-01-01\n", defaults="timezone: Europe/Lodnon\n")
    assert errors == ["_defaults.yaml:2:11: unknown time zone 'Europe/Lodnon' | did you mean 'Europe/London'?"]


def _scheduler_timetable(tmp_path: Path, body: str, defaults: str = ""):
    """The DAG's timetable as the scheduler holds it: from the serialized DAG."""
    from airflow.serialization.serialized_objects import DagSerialization

    dag = compiled(_project(tmp_path, body, defaults), "onprem")[0]["s"]
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)), dag


def _runs(serialized, count: int) -> list[str]:
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=serialized.start_date, latest=serialized.end_date, catchup=True)
    found, last = [], None
    for _ in range(count):
        info = serialized.timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            break
        found.append(info.run_after.isoformat())
        last = info.data_interval
    return found


def test_a_paris_schedule_stays_at_three_in_paris_across_the_spring_change(tmp_path: Path) -> None:
    # 2026-03-29: Paris goes from UTC+1 to UTC+2 at 02:00 local time.
    body = 'start_date: 2026-03-27\nend_date: 2026-03-30\nschedule: "0 3 * * *"\n'
    serialized, dag = _scheduler_timetable(tmp_path, body, defaults="timezone: Europe/Paris\n")
    assert _runs(serialized, 10) == [
        "2026-03-27T02:00:00+00:00",
        "2026-03-28T02:00:00+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T01:00:00+00:00",
    ]  # and none after the end date
    assert dag.start_date == datetime.fromisoformat("2026-03-26T23:00:00+00:00")  # midnight in Paris


def test_an_autumn_change_and_a_clock_beside_after(tmp_path: Path) -> None:
    # 2026-10-25: back to UTC+1. With `after`, the clock half of the schedule keeps the zone.
    body = 'start_date: 2026-10-23\nschedule: "30 6 * * *"\ntimezone: Europe/Paris\nafter: [s]\n'
    project = _project(tmp_path, body)
    (project.specs_dir / "s.yaml").rename(project.specs_dir / "t.yaml")
    (project.specs_dir / "s.yaml").write_text(f"description: upstream\nstart_date: 2026-01-01\n{TASKS}")
    from airflow.serialization.serialized_objects import DagSerialization

    dag = compiled(project, "onprem")[0]["t"]
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    clock = serialized.timetable.timetable  # AssetOrTimeSchedule's time half
    from airflow.timetables.base import DataInterval

    start = datetime.fromisoformat("2026-10-23T04:30:00+00:00")
    first = DataInterval(start, datetime.fromisoformat("2026-10-24T04:30:00+00:00"))
    after = clock.next_dagrun_info(last_automated_data_interval=first, restriction=_restriction(serialized))
    assert after.data_interval.end.isoformat() == "2026-10-25T05:30:00+00:00"  # 06:30 in Paris, now UTC+1


def _restriction(serialized):
    from airflow.timetables.base import TimeRestriction

    return TimeRestriction(earliest=serialized.start_date, latest=None, catchup=True)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 02:30 does not exist on 29 March in Paris: that day it runs at 03:30 (01:30 UTC).
        ("2026-03-28", ["2026-03-28T01:30:00+00:00", "2026-03-29T01:30:00+00:00", "2026-03-30T00:30:00+00:00"]),
        # 02:30 happens twice on 25 October: it runs once, at the second (01:30 UTC).
        ("2026-10-24", ["2026-10-24T00:30:00+00:00", "2026-10-25T01:30:00+00:00", "2026-10-26T01:30:00+00:00"]),
    ],
)
def test_a_local_time_that_is_skipped_or_repeated_by_the_change(
    tmp_path: Path, start: str, expected: list[str]
) -> None:
    body = f'start_date: {start}\nschedule: "30 2 * * *"\ntimezone: Europe/Paris\n'
    serialized, _ = _scheduler_timetable(tmp_path, body)
    assert _runs(serialized, 3) == expected
