"""Date templates in a run that has no logical date.

Airflow 3 lets a run be triggered without a logical date (the REST API or
`airflow dags trigger` without one); its template context then has no `ds`, `ts`,
`logical_date` or data interval, and every command using `{{ ds }}` fails with
UndefinedError. The UI's trigger form would have filled in the time of the request,
which is the run's `run_after`. The factory's operators fill the missing date keys
from it, so the same spec renders in every run. A run that has a logical date (every
run on Airflow 2, every scheduled run) keeps Airflow's own values untouched.

The values are built as Airflow's task runner builds them for a real logical date
(`airflow/sdk/execution_time/task_runner.py`, `get_template_context`), with the data
interval the API would give that logical date (`infer_manual_data_interval`).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

import pendulum

log = logging.getLogger(__name__)

DATE_KEYS = (
    "logical_date",
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "data_interval_start",
    "data_interval_end",
)


def fill_dates_from_run_after(context: MutableMapping[str, Any]) -> None:
    """Give a context without a logical date the date keys of a run whose logical date
    is its `run_after`; keys already there are kept. A no-op when the run has a logical date."""
    if context.get("logical_date") is not None:
        return
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if run_after is None:
        return  # nothing to date the run by: Airflow's own error stays the honest one
    logical_date = _aware(run_after)
    start, end = _data_interval(dag_run, context.get("dag"), logical_date)
    ds = logical_date.strftime("%Y-%m-%d")
    ts = logical_date.isoformat()
    values = {
        "logical_date": logical_date,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": ts,
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
        "data_interval_start": start,
        "data_interval_end": end,
    }
    for key, value in values.items():
        if context.get(key) is None:
            context[key] = value


def _aware(value: datetime) -> pendulum.DateTime:
    # As Airflow's coerce_datetime: a pendulum DateTime, UTC when the value is naive.
    return pendulum.instance(value if value.tzinfo else value.replace(tzinfo=pendulum.UTC))


def _data_interval(
    dag_run: Any, dag: Any, logical_date: pendulum.DateTime
) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    start, end = getattr(dag_run, "data_interval_start", None), getattr(dag_run, "data_interval_end", None)
    if start is not None and end is not None:
        return _aware(start), _aware(end)
    try:
        interval = _timetable(dag).infer_manual_data_interval(run_after=logical_date)
        return _aware(interval.start), _aware(interval.end)
    except Exception:  # the interval is a convenience: it must not fail a task that may not use it
        log.warning("Could not infer the data interval of this run; using its run_after for both ends", exc_info=True)
        return logical_date, logical_date


def _timetable(dag: Any) -> Any:
    timetable = getattr(dag, "timetable", None)
    if hasattr(timetable, "infer_manual_data_interval"):
        return timetable  # Airflow 2 and 3.0: the DAG holds a core timetable
    # Airflow 3.3: the Task SDK's timetables only describe a schedule; the core one
    # computes intervals, as dag.test() and the trigger API use it.
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(timetable)
