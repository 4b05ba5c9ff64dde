"""Waits for S3 objects that time out, where users meet them: the real deployment
(scheduler, triggerer, executor), a real S3 server (SeaweedFS) holding nothing for
them, read back from the REST API. (A wait that is satisfied half-way is the head of
the example chain, in test_pipelines_run_after.py.)

- testbed.drop_skip waits for a prefix with `on_timeout: skip`: its run succeeds with
  its tasks skipped, and testbed.after_drop_skip, which runs after it, does not start;
- testbed.drop_fail has one task wait for a key with the default `on_timeout: fail`:
  the run fails, the wait is not retried, the task beside it has run.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Bed

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _states(bed: Bed, dag_id: str, run_id: str) -> dict[str, str]:
    return {task: ti["state"] for task, ti in bed.api.task_instances(dag_id, run_id).items()}


def test_a_wait_that_times_out_skips_or_fails_as_its_spec_says(bed: Bed, s3_server: Any) -> None:
    s3_server.client().create_bucket(Bucket="factory-testbed")
    bed.api.unpause("testbed.after_drop_skip")
    for dag_id in ("testbed.drop_skip", "testbed.drop_fail"):
        bed.api.unpause(dag_id)
    skip_run = bed.api.trigger("testbed.drop_skip", "2026-11-10T00:00:00Z")
    fail_run = bed.api.trigger("testbed.drop_fail", "2026-11-10T00:00:00Z")
    # Both wait deferred, in the triggerer: no worker slot is held while they wait.
    bed.wait(
        "both waits deferred",
        lambda: (
            _states(bed, "testbed.drop_skip", skip_run).get("wait_for") == "deferred"
            and _states(bed, "testbed.drop_fail", fail_run).get("wait_for_load") == "deferred"
        ),
        timeout=120,
    )

    # 15 s of waiting, then the scheduler's trigger-timeout check (every 15 s).
    skipped = bed.api.wait_for_run("testbed.drop_skip", skip_run, timeout=180)
    assert skipped["state"] == "success"
    assert _states(bed, "testbed.drop_skip", skip_run) == {
        "wait_for": "skipped",
        "load": "skipped",
        "verdict": "skipped",
        "cleanup": "success",
        "cleanup_done": "success",
    }
    log = bed.api.log("testbed.drop_skip", skip_run, "wait_for", 1)
    assert "s3://factory-testbed/never/2026-11-10/ (any object under it) did not appear within 0:00:15: skipped" in log

    failed = bed.api.wait_for_run("testbed.drop_fail", fail_run, timeout=180)
    assert failed["state"] == "failed"
    instances = bed.api.task_instances("testbed.drop_fail", fail_run)
    assert {task: ti["state"] for task, ti in instances.items()} == {
        "wait_for_load": "failed",
        "prepare": "success",
        "load": "upstream_failed",
        "verdict": "upstream_failed",
        "cleanup": "success",
        "cleanup_done": "success",
    }
    assert instances["wait_for_load"]["try_number"] == 1  # a timeout is not retried
    log = bed.api.log("testbed.drop_fail", fail_run, "wait_for_load", 1)
    assert "s3://factory-testbed/never/2026-11-10/_SUCCESS did not appear within 0:00:15: failed" in log

    # A skipped day announces nothing: the pipeline after it has not started.
    time.sleep(10)  # several scheduler loops
    runs = bed.api.get("/dags/testbed.after_drop_skip/dagRuns", limit=10)["dag_runs"]
    assert runs == []
