"""When and how tasks run (factory/validate/runs.py, factory/compile/task_args.py): run_if,
depends_on_past, retry_backoff, pool, priority and max_active_tasks, checked with their
positions and compiled alike on both runtimes. A `run_if: one_failed` step on the real
deployment is in tests/deployment/test_pipelines_run_after.py (testbed.flaky)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from spec_projects import compiled, spec_project

from factory.lint import lint_paths
from factory.load.layout import Project

TASKS = 'tasks:\n  load:\n    image: "busybox:1"\n  report:\n    image: "busybox:1"\n    depends_on: [load]\n'


def _project(tmp_path: Path, body: str, defaults: str = "") -> Project:
    defaults = f"owner: o\nstart_date: 2024-01-01\n{defaults}"
    return spec_project(tmp_path, {"_defaults.yaml": defaults, "s.yaml": f"description: d\n{body}"})


def _errors(tmp_path: Path, body: str, defaults: str = "") -> list[str]:
    project = _project(tmp_path, body, defaults)
    return [f"{Path(d.path).name}:{d.line}:{d.column}: {d.message}" for d in lint_paths([project.specs_dir]).errors]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (TASKS + "    run_if: sometimes\n", "s.yaml:8:13: 'run_if' of task 'report': 'sometimes' is not one of"),
        (
            'tasks:\n  alone:\n    image: "busybox:1"\n    run_if: one_failed\n',
            "s.yaml:5:13: run_if: one_failed decides on the tasks this one depends on, and task 'alone' depends on",
        ),
        (
            TASKS + "    max_retry_delay: 1h\n",
            "s.yaml:8:22: max_retry_delay only applies with retry_backoff: exponential",
        ),
        ("max_retry_delay: 1h\n" + TASKS, "s.yaml:2:18: max_retry_delay only applies with retry_backoff: exponential"),
        (
            "retry_backoff: exponential\nretry_delay: 10m\nmax_retry_delay: 5m\n" + TASKS,
            "s.yaml:4:18: max_retry_delay '5m' is shorter than the retry_delay it grows from",
        ),
        (TASKS + "    pool: 'two words'\n", "s.yaml:8:11: 'pool' of task 'report': 'two words' is not valid"),
        (TASKS + "    priority: 0\n", "s.yaml:8:15: 'priority' of task 'report': 0 is less than the minimum of 1"),
        ("max_active_tasks: 0\n" + TASKS, "s.yaml:2:19: 'max_active_tasks': 0 is less than the minimum of 1"),
        (TASKS + "    depends_on_past: 'true'\n", "s.yaml:8:22: 'depends_on_past' of task 'report'"),
    ],
)
def test_a_misuse_is_an_error_at_its_line(tmp_path: Path, body: str, expected: str) -> None:
    errors = _errors(tmp_path, body)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_team_default_backoff_ceiling_is_no_error_for_a_spec_that_backs_off_fixed(tmp_path: Path) -> None:
    defaults = "retry_backoff: exponential\nmax_retry_delay: 1h\n"
    assert _errors(tmp_path, "retry_backoff: fixed\n" + TASKS, defaults) == []


def _dag(tmp_path: Path, body: str, runtime: str, defaults: str = ""):
    return compiled(_project(tmp_path, body, defaults), runtime)[0]["s"]


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_every_key_compiles_to_airflow_s_own_argument_on_both_runtimes(tmp_path: Path, runtime: str) -> None:
    body = (
        "max_active_tasks: 3\nretry_backoff: exponential\nmax_retry_delay: 2h\nretries: 4\n"
        "tasks:\n"
        '  load:\n    image: "busybox:1"\n    priority: 10\n    depends_on_past: true\n'
        '  tidy:\n    image: "busybox:1"\n    depends_on: [load]\n    run_if: all_done\n    retry_backoff: fixed\n'
        '  alert:\n    image: "busybox:1"\n    depends_on: [load]\n    run_if: one_failed\n    pool: alerts\n'
    )
    dag = _dag(tmp_path, body, runtime, defaults="pool: warehouse\n")
    load, tidy, alert = (dag.get_task(t) for t in ("load", "tidy", "alert"))
    assert dag.max_active_tasks == 3
    assert (load.trigger_rule, tidy.trigger_rule, alert.trigger_rule) == ("all_success", "all_done", "one_failed")
    assert (load.depends_on_past, tidy.depends_on_past) == (True, False)
    assert (load.priority_weight, tidy.priority_weight) == (10, 1)
    # The team's pool, unless the task names its own.
    assert (load.pool, tidy.pool, alert.pool) == ("warehouse", "warehouse", "alerts")
    # Doubling, on this Airflow's terms (3.3: a multiplier of 2), with its ceiling.
    assert (load.retries, load.retry_exponential_backoff, load.max_retry_delay) == (4, 2.0, timedelta(hours=2))
    assert not tidy.retry_exponential_backoff
    # The failure step has no say in the verdict: a good run still announces itself.
    assert dag.get_task("verdict").upstream_task_ids == {"load", "tidy"}


def test_exponential_backoff_doubles_the_delay_on_this_airflow(tmp_path: Path) -> None:
    """Airflow's own retry arithmetic (TaskInstance.next_retry_datetime) on the compiled
    task: with `retry_exponential_backoff=True`, 3.3 would not back off at all."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils import timezone

    body = "retry_backoff: exponential\nretry_delay: 1m\nmax_retry_delay: 10m\n" + TASKS
    task = _dag(tmp_path, body, "onprem").get_task("load")
    delays = []
    ended = timezone.utcnow()
    for try_number in (1, 2, 3, 6):
        # Just what the method reads of a task instance (a real one needs its DB rows).
        ti = SimpleNamespace(
            task=task, try_number=try_number, end_date=ended, retry_delay_override=None, logical_date=ended,
            dag_id="s", task_id="load", run_id="r", map_index=-1, log=logging.getLogger("ti"),
        )  # fmt: skip
        delays.append((TaskInstance.next_retry_datetime(ti) - ended).total_seconds())
    # Airflow waits between the doubled delay and twice it (a hash spreads retries), then
    # no longer than the ceiling.
    assert 60 <= delays[0] < 120 and 120 <= delays[1] < 240 and 240 <= delays[2] < 480, delays
    assert delays[3] == 600, delays
