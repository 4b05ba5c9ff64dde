"""Pipelines that run after others, where users meet it: the scheduler starts a
downstream pipeline's run from the upstream's success (Airflow's assets), through the
real deployment, read back from the REST API.

- the example chain: a manual run of examples.orders_extract waits, deferred, for the
  partner's drop in a real S3 server (SeaweedFS); once the test drops it, the run
  succeeds and starts orders_totals (after the data it updates), whose success starts
  orders_publish;
- a failed run of testbed.flaky runs its `run_if: one_failed` step and starts nothing;
  its next, successful run skips that step and starts testbed.after_flaky once;
- testbed.either (after_any) runs on the first of the two it waits for.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Bed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOWNSTREAM = ("examples.orders_totals", "examples.orders_publish", "testbed.after_flaky", "testbed.either")


def _asset_runs(bed: Bed, dag_id: str) -> list[dict[str, Any]]:
    runs = bed.api.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
    return [r for r in runs if r["run_type"] == "asset_triggered"]


def _finished(bed: Bed, dag_id: str, count: int, timeout: float = 180) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        runs = _asset_runs(bed, dag_id)
        return runs if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs) else None

    return bed.wait(f"{count} asset-triggered run(s) of {dag_id}", done, timeout)


def _deferred_runs(bed: Bed, dag_id: str) -> list[str]:
    runs = bed.api.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
    return [
        r["dag_run_id"]
        for r in runs
        if bed.api.task_instances(dag_id, r["dag_run_id"]).get("wait_for", {}).get("state") == "deferred"
    ]


def test_a_success_starts_the_pipelines_after_it_and_a_failure_does_not(bed: Bed, s3_server: Any) -> None:
    for dag_id in DOWNSTREAM:
        bed.api.unpause(dag_id)

    # A failed upstream run: nothing after it starts.
    failed = bed.run_to_end("testbed.flaky", "2026-11-10T00:00:00Z", conf={"fail": "yes"})
    assert failed["state"] == "failed"
    # Its run_if: one_failed step ran, after the failure, and the run still failed.
    states = bed.api.task_instances("testbed.flaky", failed["dag_run_id"])
    assert {t: states[t]["state"] for t in ("work", "report_failure", "verdict")} == {
        "work": "failed",
        "report_failure": "success",
        "verdict": "upstream_failed",
    }
    log = bed.api.log("testbed.flaky", failed["dag_run_id"], "report_failure", 1)
    assert f"work failed in {failed['dag_run_id']}: telling the team" in log
    time.sleep(15)  # several scheduler loops
    assert _asset_runs(bed, "testbed.after_flaky") == []
    assert _asset_runs(bed, "testbed.either") == []

    # Its next run succeeds: after_flaky runs once, and either (any of) on this first one.
    good = bed.run_to_end("testbed.flaky", "2026-11-11T00:00:00Z", conf={"fail": "no"})
    assert good["state"] == "success"
    # The failure step is skipped, and has no say: the verdict announces the success.
    states = bed.api.task_instances("testbed.flaky", good["dag_run_id"])
    assert {t: states[t]["state"] for t in ("work", "report_failure", "verdict")} == {
        "work": "success",
        "report_failure": "skipped",
        "verdict": "success",
    }
    (after,) = _finished(bed, "testbed.after_flaky", 1)
    assert after["state"] == "success"
    (either,) = _finished(bed, "testbed.either", 1)
    assert either["state"] == "success"

    # The example chain, started by hand at its head, which first waits for the
    # partner's drop in S3 (a real S3 server). Unpausing it also lets the scheduler
    # start its latest daily run, which waits for its own day's drop; Airflow may merge
    # the two updates into one downstream run, so what is counted is "at least one,
    # and every one succeeded".
    s3 = s3_server.client()
    s3.create_bucket(Bucket="partner-drop")
    bed.api.unpause("examples.orders_extract")
    manual = bed.api.trigger("examples.orders_extract", "2026-11-10T00:00:00Z")
    waiting = bed.wait(
        "the head of the chain waiting for its drop, deferred (no worker slot held)",
        lambda: _deferred_runs(bed, "examples.orders_extract"),
        timeout=120,
    )
    time.sleep(10)  # two checks of the wait, with nothing there
    assert _asset_runs(bed, "examples.orders_totals") == []
    runs = bed.api.get("/dags/examples.orders_extract/dagRuns", limit=100)["dag_runs"]
    assert manual in {r["dag_run_id"] for r in runs} and waiting
    for run in runs:  # the partner drops each run's day, half-way through its wait
        s3.put_object(Bucket="partner-drop", Key=f"orders/{run['logical_date'][:10]}/_SUCCESS", Body=b"")
    for run in runs:
        finished = bed.api.wait_for_run("examples.orders_extract", run["dag_run_id"], timeout=180)
        assert finished["state"] == "success", finished
    states = bed.api.task_instances("examples.orders_extract", manual)
    assert states["wait_for"]["state"] == "success" and states["land"]["state"] == "success"
    totals = _finished(bed, "examples.orders_totals", 1)
    assert {r["state"] for r in totals} == {"success"}
    log = bed.api.log("examples.orders_totals", totals[0]["dag_run_id"], "totals", 1)
    assert "totals of the orders landed for" in log
    publish = _finished(bed, "examples.orders_publish", 1)
    assert {r["state"] for r in publish} == {"success"}
    # orders_totals' success counts for `either` too: any of them starts another run.
    assert {r["state"] for r in _finished(bed, "testbed.either", 2)} == {"success"}
    assert len(_asset_runs(bed, "testbed.after_flaky")) == 1
