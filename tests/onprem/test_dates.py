"""Date templates render in a run without a logical date, from the run's run_after, and a
real logical date is never overridden (FactoryDockerOperator; the ECS operator's twin is
in tests/mwaa/test_operator.py). No engine needed: only rendering happens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pendulum
import pytest
from task_context import runtime_context

from factory.compile.airflow_compat import DAG
from factory.operators.dates import DATE_KEYS, fill_dates_from_run_after
from factory.operators.docker import FactoryDockerOperator

RUN_AFTER = datetime(2026, 5, 10, 12, 30, 15, 250000, tzinfo=UTC)
COMMAND = ["report", "{{ ds }}", "{{ ds_nodash }}", "{{ ts }}", "{{ ts_nodash }}", "{{ ts_nodash_with_tz }}"]


def _docker_task(schedule: Any = None) -> FactoryDockerOperator:
    with DAG("onprem.dates", schedule=schedule, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
        return FactoryDockerOperator(
            task_id="report",
            image="busybox:1",
            command=list(COMMAND),
            environment={"DAY": "{{ ds }}", "FROM": "{{ data_interval_start }}", "AT": "{{ logical_date }}"},
        )


def test_a_run_without_a_logical_date_renders_its_dates_from_run_after() -> None:
    task = _docker_task()
    context = runtime_context(task, run_after=RUN_AFTER)
    assert not set(DATE_KEYS) & set(context)  # what Airflow 3.3 gives such a run

    task.render_template_fields(context)

    assert task.command == [
        "report",
        "2026-05-10",
        "20260510",
        "2026-05-10T12:30:15.250000+00:00",
        "20260510T123015",
        "20260510T123015.250000+0000",
    ]
    # schedule None: the manual data interval is the instant itself, as the trigger API gives it.
    assert task.environment == {
        "DAY": "2026-05-10",
        "FROM": "2026-05-10 12:30:15.250000+00:00",
        "AT": "2026-05-10 12:30:15.250000+00:00",
    }
    assert isinstance(context["logical_date"], pendulum.DateTime)
    assert context["data_interval_start"] == context["data_interval_end"] == RUN_AFTER


def test_a_real_logical_date_and_data_interval_are_kept() -> None:
    task = _docker_task()
    logical = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)
    interval = (datetime(2024, 1, 1, 3, 0, tzinfo=UTC), logical)
    context = runtime_context(task, run_after=RUN_AFTER, logical_date=logical, data_interval=interval)
    airflow_values = {key: context[key] for key in DATE_KEYS}

    task.render_template_fields(context)

    assert {key: context[key] for key in DATE_KEYS} == airflow_values
    assert task.command[1:3] == ["2024-01-02", "20240102"]
    assert task.environment["FROM"] == "2024-01-01 03:00:00+00:00"


def test_the_data_interval_is_the_one_the_api_would_give_a_cron_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    # With data intervals for cron schedules, a manual run covers the last whole period.
    monkeypatch.setenv("AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS", "True")
    task = _docker_task(schedule="0 3 * * *")
    context = runtime_context(task, run_after=RUN_AFTER)

    task.render_template_fields(context)

    assert context["data_interval_start"] == datetime(2026, 5, 9, 3, 0, tzinfo=UTC)
    assert context["data_interval_end"] == datetime(2026, 5, 10, 3, 0, tzinfo=UTC)
    assert task.command[1] == "2026-05-10"  # ds is the logical date the UI would have filled in


def test_keys_a_context_already_has_are_kept_and_a_run_without_run_after_is_left_alone() -> None:
    class Run:
        run_after = RUN_AFTER
        data_interval_start = data_interval_end = None

    context: dict[str, Any] = {"dag_run": Run(), "ds": "given"}
    fill_dates_from_run_after(context)
    assert context["ds"] == "given"
    assert context["ts"] == "2026-05-10T12:30:15.250000+00:00"

    bare: dict[str, Any] = {"dag_run": object()}
    fill_dates_from_run_after(bare)
    assert bare == {"dag_run": bare["dag_run"]}
