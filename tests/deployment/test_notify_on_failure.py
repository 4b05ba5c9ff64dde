"""Notifications on the test bed: a failing task tells its targets through Airflow's own
task runner, as a deployment runs it (scheduler, executor, a worker process per try).

testbed.notify fails until a run is triggered with fail=false. Its email target hears of
failures and recoveries, through the platform's SMTP connection, which reaches a real
SMTP server (aiosmtpd) started by the session. Its SNS target hears of retries and
failures, through the platform's AWS connection, whose SNS is moto's (in a process of
its own: nothing real serves SNS offline); an SQS queue subscribed to the topic, in moto
too, reads what a subscriber would get.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from conftest import Bed
from notify_sinks import text_of

DAG_ID = "testbed.notify"
TOPIC = "testbed-alerts"  # the spec's arn:aws:sns:eu-west-1:123456789012:testbed-alerts


def test_a_failing_task_tells_email_and_sns_and_the_next_good_run_is_a_recovery(
    bed: Bed, smtp_server: Any, sns_server: Any
) -> None:
    _, queue = sns_server.topic_with_queue(TOPIC)
    failed = bed.run_to_end(DAG_ID, "2026-11-10T00:00:00Z", timeout=300)
    assert failed["state"] == "failed"
    run_id = failed["dag_run_id"]
    states = {task: ti["state"] for task, ti in bed.api.task_instances(DAG_ID, run_id).items()}
    assert states["load"] == "failed"

    # SNS: the retry and the failure (a queue need not keep their order), each with the
    # container's last lines.
    published = bed.wait("the retry and the failure on SNS", lambda: _collect(sns_server, queue, 2), timeout=60)
    assert sorted(p["Subject"] for p in published) == [
        f"[factory] {DAG_ID}: task load failed",
        f"[factory] {DAG_ID}: task load failed (try 1 of 2), will retry",
    ]
    for message in published:
        assert "ERROR: the partner file for 2026-11-10 is missing" in message["Message"]
        assert f"Run: {run_id}" in message["Message"]

    # Email: only the failure (it did not ask for retries), with the log of the try that failed.
    [mail] = bed.wait("the failure mail", lambda: smtp_server.to("oncall@example.com"), timeout=60)
    assert mail["Subject"] == f"[factory] {DAG_ID}: task load failed"
    body = text_of(mail)
    assert f"Pipeline: {DAG_ID} (specs/testbed/notify.yaml)" in body
    assert "Task: load (try 2 of 2)" in body
    log_line = next(line for line in body.splitlines() if line.startswith("Log: "))
    assert log_line.startswith(f"Log: {bed.deployment.url}/dags/{DAG_ID}/runs/")
    assert log_line.endswith("/tasks/load?try_number=2")
    assert "exited with code 3" in body
    assert "ERROR: the partner file for 2026-11-10 is missing" in body

    # The next run succeeds: the email target hears of the recovery, SNS (no recovery asked) nothing.
    good = bed.run_to_end(DAG_ID, "2026-11-11T00:00:00Z", timeout=300, conf={"fail": False})
    assert good["state"] == "success"
    mails = bed.wait("the recovery mail", lambda: smtp_server.to("oncall@example.com")[1:], timeout=60)
    assert [m["Subject"] for m in mails] == [f"[factory] {DAG_ID}: run succeeded after a failed run"]
    assert f"Run page: {bed.deployment.url}/dags/{DAG_ID}/runs/" in text_of(mails[0])
    assert sns_server.received(queue) == []


_seen: dict[str, list[dict[str, str]]] = {}


def _collect(sns_server: Any, queue: str, count: int) -> list[dict[str, str]] | None:
    found = _seen.setdefault(queue, [])
    found.extend(sns_server.received(queue))
    return found if len(found) >= count else None


def test_a_run_past_its_deadline_tells_who_asked_and_still_finishes(bed: Bed, smtp_server: Any) -> None:
    """testbed.late should be done 10 s after its scheduled time and takes about 40 s:
    Airflow's scheduler sees the deadline pass and its triggerer runs the factory's
    callback, which mails the late target while the task still runs."""
    dag_id = "testbed.late"
    bed.api.unpause(dag_id)
    now = datetime.now(UTC).replace(microsecond=0)
    run_id = bed.api.trigger(dag_id, now.isoformat())
    [mail] = bed.wait("the late mail", lambda: smtp_server.to("late@example.com"), timeout=120)
    assert mail["Subject"] == f"[factory] {dag_id}: run is late (not done 10s after it was due)"
    body = text_of(mail)
    assert f"Run: {run_id}" in body
    assert f"Pipeline: {dag_id} (specs/testbed/late.yaml)" in body
    # Told while the run was still going; the deadline does not stop it.
    assert bed.api.task_instances(dag_id, run_id)["slow"]["state"] in ("running", "queued", "scheduled", "success")
    assert bed.api.wait_for_run(dag_id, run_id, timeout=180)["state"] == "success"
    assert len(smtp_server.to("late@example.com")) == 1
