"""Waiting for data (factory/validate/waits.py, factory/compile/waits.py,
factory/operators/s3wait.py): the checks with their positions, the sensors the DAG
gets on each runtime, and what a timed-out wait does. The waits themselves, against a
real S3 server, run on the test bed (tests/deployment/test_waits_on_s3.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_projects import compiled, spec_project

from factory.lint import lint_paths
from factory.load.layout import Project

TASKS = 'tasks:\n  load:\n    image: "busybox:1"\n  report:\n    image: "busybox:1"\n    depends_on: [load]\n'
DROP = "s3://partner-drop/{{ ds }}/_SUCCESS"


def _project(tmp_path: Path, body: str, defaults: str = "") -> Project:
    defaults = f"owner: o\nstart_date: 2024-01-01\n{defaults}"
    return spec_project(tmp_path, {"_defaults.yaml": defaults, "drop.yaml": f"description: d\n{body}"})


def _errors(tmp_path: Path, body: str, defaults: str = "") -> list[str]:
    project = _project(tmp_path, body, defaults)
    return [f"{d.line}:{d.column}: {d.message}" for d in lint_paths([project.specs_dir]).errors]


def test_a_clean_wait_lints_clean(tmp_path: Path) -> None:
    body = f"wait_for:\n  s3: {DROP}\n  timeout: 6h\n  on_timeout: skip\n  check_every: 30s\n{TASKS}"
    assert _errors(tmp_path, body) == []


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        # The schema: a bucket written out, a key matched exactly, a timeout always.
        ("  s3: s3://Partner_Drop/x\n  timeout: 1h\n", "3:7: 'wait_for.s3': 's3://Partner_Drop/x' is not valid"),
        (
            "  s3: s3://partner-drop/day=*/_SUCCESS\n  timeout: 1h\n",
            "3:7: 'wait_for.s3': 's3://partner-drop/day=*/_SUCCESS' is not valid",
        ),
        ("  s3: partner-drop/x\n  timeout: 1h\n", "3:7: 'wait_for.s3': 'partner-drop/x' is not valid"),
        (f"  s3: {DROP}\n", "3:3: 'wait_for' is missing the required key 'timeout'"),
        (
            f"  s3: {DROP}\n  timeout: 1h\n  on_timeout: retry\n",
            "5:15: 'wait_for.on_timeout': 'retry' is not one of fail, skip",
        ),
        (f"  s3: {DROP}\n  timeout: 1h\n  poke: 5m\n", "5:3: unknown key 'poke'"),
        # What the schema cannot say.
        ("  s3: s3://partner-drop/{{ dss }}/_SUCCESS\n  timeout: 1h\n", "3:7: 'dss' is not in the template context"),
        ("  s3: s3://partner-drop/{{ var.value.day }}\n  timeout: 1h\n", "3:7: a spec may not read Airflow Variables"),
        (f"  s3: {DROP}\n  timeout: 1h\n  check_every: 1s\n", "5:16: check_every '1s' is shorter than 5s"),
        (f"  s3: {DROP}\n  timeout: 1m\n  check_every: 5m\n", "5:16: check_every '5m' is longer than the timeout '1m'"),
        (f"  s3: {DROP}\n  timeout: 0s\n", "4:12: timeout must be longer than zero"),
        (f"  s3: {DROP}\n  timeout: 400d\n", "4:12: timeout '400d' is longer than the 365d a wait may take"),
    ],
)
def test_a_bad_wait_is_an_error_at_its_line(tmp_path: Path, wait: str, expected: str) -> None:
    errors = _errors(tmp_path, f"wait_for:\n{wait}{TASKS}")
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_task_wait_checks_the_same_way_at_the_task(tmp_path: Path) -> None:
    body = TASKS + "    wait_for:\n      s3: s3://partner-drop/{{ dss }}\n      timeout: 1h\n"
    assert _errors(tmp_path, body) == ["9:11: 'dss' is not in the template context of a run"]


def test_the_sensor_name_may_not_be_a_task_of_the_spec(tmp_path: Path) -> None:
    body = (
        'tasks:\n  load:\n    image: "busybox:1"\n    wait_for: {s3: "s3://partner-drop/x", timeout: 1h}\n'
        '  wait_for_load:\n    image: "busybox:1"\n'
    )
    (error,) = _errors(tmp_path, body)
    assert error.startswith("5:5: the wait compiles to a task named 'wait_for_load', and the spec has a task")


def test_a_wait_is_not_a_team_default(tmp_path: Path) -> None:
    project = _project(tmp_path, TASKS, defaults=f"wait_for: {{s3: '{DROP}', timeout: 1h}}\n")
    errors = [f"{Path(e.path).name}:{e.line}: {e.message}" for e in lint_paths([project.specs_dir]).errors]
    assert "_defaults.yaml:3: unknown key 'wait_for'" in errors, errors


# -- what the DAG becomes ---------------------------------------------------------------


def _dag(tmp_path: Path, body: str, runtime: str):
    dags, platform = compiled(_project(tmp_path, body), runtime)
    return dags["drop"], platform


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_the_pipeline_wait_comes_before_every_task_and_a_task_wait_before_its_task(
    tmp_path: Path, runtime: str
) -> None:
    body = (
        f"wait_for: {{s3: '{DROP}', timeout: 6h}}\n"
        + TASKS
        + "    wait_for: {s3: 's3://partner-drop/{{ ds }}/extra/', timeout: 2h, on_timeout: skip, check_every: 10s}\n"
    )
    dag, platform = _dag(tmp_path, body, runtime)
    pipeline, task_wait = dag.get_task("wait_for"), dag.get_task("wait_for_report")
    assert type(pipeline).__name__ == type(task_wait).__name__ == "FactoryS3WaitSensor"
    assert dag.get_task("load").upstream_task_ids == {"wait_for"}
    # The task's wait runs beside what the task depends on, after the pipeline's wait.
    assert dag.get_task("report").upstream_task_ids == {"load", "wait_for_report"}
    assert task_wait.upstream_task_ids == {"wait_for"} and pipeline.upstream_task_ids == set()
    # Deferred, so no worker slot is held; through the runtime's AWS connection.
    conn = platform.mwaa.aws_conn_id if runtime == "mwaa" else platform.onprem.aws_conn_id
    assert all(s.deferrable and s.aws_conn_id == conn for s in (pipeline, task_wait))
    assert (pipeline.bucket_key, pipeline.wildcard_match, pipeline.timeout, pipeline.poke_interval) == (
        DROP,
        False,
        6 * 3600,
        60,
    )
    # A prefix is any object under it.
    assert (task_wait.bucket_key, task_wait.wildcard_match) == ("s3://partner-drop/{{ ds }}/extra/*", True)
    assert (task_wait.timeout, task_wait.poke_interval, task_wait.on_timeout) == (7200, 10, "skip")
    # The verdict still follows the spec's tasks only: a skipped wait skips it.
    assert dag.get_task("verdict").upstream_task_ids == {"load", "report"}


def test_a_spec_without_waits_has_no_sensor(tmp_path: Path) -> None:
    dag, _ = _dag(tmp_path, TASKS, "onprem")
    assert not [t for t in dag.task_ids if t.startswith("wait_for")]


# -- what a timed-out wait does ----------------------------------------------------------


def _sensor(on_timeout: str):
    from factory.compile.airflow_compat import DAG
    from factory.operators.s3wait import FactoryS3WaitSensor

    with DAG("w", schedule=None):
        return FactoryS3WaitSensor(task_id="wait_for", bucket_key=DROP, timeout=60, on_timeout=on_timeout)


@pytest.mark.parametrize("error", ["Trigger timeout", "Trigger/execution timeout"])  # Airflow 3's, Airflow 2's
def test_a_timeout_skips_or_fails_as_the_spec_says(error: str) -> None:
    from factory.operators.s3wait import AirflowSensorTimeout, AirflowSkipException

    with pytest.raises(AirflowSkipException, match=r"did not appear within 0:01:00: skipped"):
        _sensor("skip").resume_execution("__fail__", {"error": error}, {})
    with pytest.raises(AirflowSensorTimeout, match=r"_SUCCESS did not appear within 0:01:00: failed"):
        _sensor("fail").resume_execution("__fail__", {"error": error}, {})


def test_an_error_that_is_not_a_timeout_fails_even_when_timeouts_skip() -> None:
    from factory.operators.s3wait import AirflowSensorTimeout, AirflowSkipException

    with pytest.raises(Exception) as raised:
        _sensor("skip").resume_execution("__fail__", {"error": "Trigger failure"}, {})
    assert not isinstance(raised.value, (AirflowSkipException, AirflowSensorTimeout))
