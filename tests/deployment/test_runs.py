"""Runs through Airflow's own scheduler and executor, as users start them: from the REST
API with and without a logical date, from `airflow dags trigger`, and on the schedule.
What the tests read is what users read: run and task states from the API, container
output from the task logs, containers from the Docker engine, rows from PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from datetime import datetime

import docker
import pytest
from conftest import QUALITY_GATE_FAILED, Bed

from factory.compile.labels import RUN_ID
from factory.local.api import ApiError
from factory.local.postgres import PASSWORD, USER, bin_dir

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _states(bed: Bed, dag_id: str, run_id: str) -> dict[str, str]:
    return {task: ti["state"] for task, ti in bed.api.task_instances(dag_id, run_id).items()}


def test_hello_runs_to_success_with_its_output_in_the_task_logs_and_no_container_left(
    bed: Bed, docker_engine: docker.APIClient
) -> None:
    run = bed.run_to_end("examples.hello", "2026-11-03T00:00:00Z")
    assert run["state"] == "success"
    assert _states(bed, "examples.hello", run["dag_run_id"]) == dict.fromkeys(
        ("extract", "totals", "publish", "cleanup", "cleanup_done", "verdict"), "success"
    )
    log = bed.api.log("examples.hello", run["dag_run_id"], "extract", 1)
    assert "extracting orders of 2026-11-03 from orders-db.internal:5432/shop" in log
    assert "order-1008 2026-11-03 west   35.50 EUR" in log
    assert "published the digest of 2026-11-03 to #sales-daily" in bed.api.log(
        "examples.hello", run["dag_run_id"], "publish", 1
    )
    # The cleanup teardown removed every container this run started.
    assert docker_engine.containers(all=True, filters={"label": f"{RUN_ID}={run['dag_run_id']}"}) == []


def test_the_quality_gate_fails_the_run_as_designed_and_the_failure_is_in_the_log(bed: Bed) -> None:
    run = bed.run_to_end("examples.quality_gate", "2026-11-03T00:00:00Z")
    assert run["state"] == "failed"
    states = _states(bed, "examples.quality_gate", run["dag_run_id"])
    assert states == QUALITY_GATE_FAILED
    log = bed.api.log("examples.quality_gate", run["dag_run_id"], "check_volume", 1)
    assert "FAILED: 50 orders in total for 2026-11-03, expected at least 500" in log


def test_a_run_triggered_without_a_logical_date_fills_the_date_templates_with_the_time_it_was_asked_for(
    bed: Bed,
) -> None:
    # Airflow 3 allows such runs (API or CLI without a logical date); `{{ ds }}` is then
    # the date of the run's run_after, what the UI's trigger form would have filled in.
    run = bed.run_to_end("examples.hello", None)
    assert run["logical_date"] is None
    assert run["state"] == "success", _states(bed, "examples.hello", run["dag_run_id"])
    day = run["run_after"][:10]
    log = bed.api.log("examples.hello", run["dag_run_id"], "extract", 1)
    assert f"extracting orders of {day} from" in log


def test_airflow_dags_trigger_from_the_cli_runs_to_success(bed: Bed) -> None:
    bed.api.unpause("examples.shell_report")
    done = bed.deployment.airflow("dags", "trigger", "examples.shell_report", "-o", "json")
    # Airflow logs to stdout too: the JSON is the last line.
    (triggered,) = json.loads(done.stdout.strip().splitlines()[-1])
    # Without --logical-date, as Airflow 3's CLI triggers by default.
    assert triggered["logical_date"] is None
    run = bed.api.wait_for_run("examples.shell_report", triggered["dag_run_id"], 240)
    assert run["state"] == "success"
    log = bed.api.log("examples.shell_report", run["dag_run_id"], "weekly_kpis", 1)
    assert "weekly_kpis.sh: report written for leadership" in log


def test_the_scheduler_starts_a_scheduled_run_once_the_dag_is_unpaused(bed: Bed) -> None:
    dag_id = "testbed.scheduled"
    bed.api.unpause(dag_id)
    try:
        runs = bed.wait(
            "a scheduled run",
            lambda: bed.api.get(f"/dags/{dag_id}/dagRuns", run_type="scheduled")["dag_runs"],
            timeout=120,
        )
        run = bed.api.wait_for_run(dag_id, runs[0]["dag_run_id"], 240)
    finally:
        bed.api.patch(f"/dags/{dag_id}", {"is_paused": True})
    assert run["run_type"] == "scheduled" and run["state"] == "success"
    # catchup is off: the latest complete interval, whose logical date is its start.
    day = run["logical_date"][:10]
    assert f"scheduled run for {day}" in bed.api.log(dag_id, run["dag_run_id"], "tick", 1)


def test_a_spec_secret_is_masked_in_the_log_and_absent_from_rendered_fields_and_the_database(bed: Bed) -> None:
    value = f"tb-{uuid.uuid4().hex}"
    # On-prem, a spec secret named /testbed/api-token is the Airflow Variable testbed/api-token.
    try:
        bed.api.post("/variables", {"key": "testbed/api-token", "value": value})
    except Exception:  # noqa: BLE001 - left by an earlier test in this deployment
        bed.api.patch("/variables/testbed%2Fapi-token", {"key": "testbed/api-token", "value": value})
    run = bed.run_to_end("testbed.secret", "2026-11-03T00:00:00Z")
    log = bed.api.log("testbed.secret", run["dag_run_id"], "show", 1)
    assert run["state"] == "success", log
    assert "token is ***" in log
    assert f"length {len(value)}" in log  # the container did get the value
    assert value not in log

    ti = bed.api.get(f"/dags/testbed.secret/dagRuns/{run['dag_run_id']}/taskInstances/show")
    assert ti["rendered_fields"], "rendered fields are stored"
    assert value not in json.dumps(ti["rendered_fields"])
    assert value not in json.dumps(bed.api.get(f"/dags/testbed.secret/dagRuns/{run['dag_run_id']}"))

    # The whole metadata database, as a dump: the Variable is Fernet-encrypted, and the
    # value is nowhere in plain text (not in rendered fields, XComs or logs tables).
    dump = subprocess.run(
        [str(bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(bed.deployment.pg_port), "-U", USER, "airflow"],
        capture_output=True,
        text=True,
        env={"PGPASSWORD": PASSWORD},
        check=True,
    ).stdout
    assert "testbed/api-token" in dump  # the dump does hold the Variable's row...
    assert value not in dump  # ...but never the value in clear
    assert not re.search(re.escape(value[3:]), dump)


def test_a_run_marked_failed_while_a_task_waits_for_its_retry_stays_failed(bed: Bed) -> None:
    # With the cleanup as an Airflow teardown this run ended *successful* on Airflow 3.3.2:
    # marking skipped every unfinished task, and the teardown, run afterwards, let the
    # scheduler compute the state again from skipped leaves (docs/onprem.md).
    dag_id = "testbed.retry_wait"
    bed.api.unpause(dag_id)
    run_id = bed.api.trigger(dag_id, "2026-11-05T00:00:00Z")
    bed.wait("flaky waiting for its retry", lambda: _states(bed, dag_id, run_id).get("flaky") == "up_for_retry", 120)
    answer = bed.api.patch(f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
    assert answer["state"] == "failed"
    # Give the scheduler several loops to change its mind; it must not.
    time.sleep(10)
    run = bed.api.run(dag_id, run_id)
    assert run["state"] == "failed", _states(bed, dag_id, run_id)
    states = _states(bed, dag_id, run_id)
    assert states["flaky"] in ("skipped", "failed") and states["after"] == "skipped", states


def test_run_parameters_reach_the_container_and_are_checked_against_their_types(bed: Bed) -> None:
    """testbed.params: a manual run with params gets them in its env and command; one
    without gets the defaults; a value of the wrong type is refused by Airflow itself."""
    asked = bed.run_to_end("testbed.params", "2026-11-20T00:00:00Z", conf={"region": "apac", "since": "2026-11-01"})
    assert asked["state"] == "success", asked
    log = bed.api.log("testbed.params", asked["dag_run_id"], "reprocess", 1)
    assert "reprocessing apac since 2026-11-01, at most 100 rows" in log
    plain = bed.run_to_end("testbed.params", "2026-11-21T00:00:00Z")
    log = bed.api.log("testbed.params", plain["dag_run_id"], "reprocess", 1)
    assert "reprocessing eu since 2024-01-01, at most 100 rows" in log
    # The trigger is refused, not the run: the form and the REST API check the schema.
    with pytest.raises(ApiError) as refused:
        bed.api.trigger("testbed.params", "2026-11-22T00:00:00Z", {"region": "mars"})
    assert refused.value.status in (400, 422) and "region" in refused.value.body


def test_a_fan_out_runs_a_container_per_item_at_most_at_once_and_its_downstream_once_after_all(bed: Bed) -> None:
    """testbed.fan_out: a manual run asks for three regions; each copy runs its own
    container with its item, named by it in the UI, at most two at once, and the summary
    runs once, after every copy."""
    dag_id = "testbed.fan_out"
    run = bed.run_to_end(dag_id, "2026-11-25T00:00:00Z", conf={"regions": ["eu", "us", "apac"]}, timeout=300)
    assert run["state"] == "success", run
    run_id = run["dag_run_id"]
    copies = bed.api.mapped_task_instances(dag_id, run_id, "per_region")
    assert [(c["map_index"], c["rendered_map_index"], c["state"]) for c in copies] == [
        (0, "eu", "success"),
        (1, "us", "success"),
        (2, "apac", "success"),
    ]
    for copy in copies:
        log = bed.api.log(dag_id, run_id, "per_region", 1, map_index=copy["map_index"])
        region = copy["rendered_map_index"]
        assert f"processing {region} for 2026-11-25" in log and f"done with {region}" in log
    spans = [(_time(c["start_date"]), _time(c["end_date"])) for c in copies]
    # at_once: 2. Never three at the same time: the third started after one had ended.
    assert max(sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans) <= 2
    summary = bed.api.task_instances(dag_id, run_id)["summary"]
    assert summary["state"] == "success" and summary["try_number"] == 1
    assert _time(summary["start_date"]) >= max(end for _, end in spans)
    assert "every region of 2026-11-25 is done" in bed.api.log(dag_id, run_id, "summary", 1)
    # Scheduled runs (and runs without conf) get the default items.
    plain = bed.run_to_end(dag_id, "2026-11-26T00:00:00Z", timeout=300)
    assert [
        c["rendered_map_index"] for c in bed.api.mapped_task_instances(dag_id, plain["dag_run_id"], "per_region")
    ] == [
        "eu",
        "us",
    ]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("dag_id", "first_run"),
    [
        # 02:30 does not exist in Paris on 29 March 2026 (02:00 CET -> 03:00 CEST): the run
        # is at 03:30 CEST, 01:30 UTC (a summer day's 02:30 would be 00:30 UTC).
        ("testbed.paris_spring", "2026-03-29T01:30:00+00:00"),
        # 02:30 happens twice on 25 October 2026 (03:00 CEST -> 02:00 CET): it runs once, at
        # the second, winter-time one, 01:30 UTC (the first would be 00:30 UTC).
        ("testbed.paris_autumn", "2026-10-25T01:30:00+00:00"),
    ],
)
def test_a_paris_schedule_runs_at_the_right_utc_time_on_the_days_the_clocks_change(
    bed: Bed, dag_id: str, first_run: str
) -> None:
    """What the scheduler computed for the DAG (paused, so nothing waits for the clock),
    as the REST API and the UI show it."""
    details = bed.wait(f"{dag_id}'s next run", lambda: bed.api.get(f"/dags/{dag_id}").get("next_dagrun_logical_date"))
    assert _time(details) == _time(first_run)
    assert bed.api.get(f"/dags/{dag_id}")["timetable_summary"] == "30 2 * * *"
