"""The CeleryExecutor with Redis and a separate Celery worker process, as MWAA runs
tasks: the same specs run through the scheduler, the broker and the worker."""

from __future__ import annotations

import docker
import pytest
from conftest import QUALITY_GATE_FAILED, Bed

from factory.compile.labels import RUN_ID

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_hello_runs_to_success_on_a_celery_worker_with_its_output_in_the_task_log(
    celery_bed: Bed, docker_engine: docker.APIClient
) -> None:
    assert celery_bed.deployment.executor == "celery"
    run = celery_bed.run_to_end("examples.hello", "2026-11-04T00:00:00Z")
    tis = celery_bed.api.task_instances("examples.hello", run["dag_run_id"])
    assert run["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    # Each task went through the broker to the worker process: its log names every one
    # (but the two empty tasks, which the scheduler completes without a worker).
    worker_log = (celery_bed.deployment.logs / "celery-worker.log").read_text()
    for task_id in set(tis) - {"cleanup_done", "verdict"}:
        assert f"task_id='{task_id}', dag_id='examples.hello', run_id='{run['dag_run_id']}'" in worker_log, task_id
    log = celery_bed.api.log("examples.hello", run["dag_run_id"], "extract", 1)
    assert "extracting orders of 2026-11-04 from orders-db.internal:5432/shop" in log
    assert docker_engine.containers(all=True, filters={"label": f"{RUN_ID}={run['dag_run_id']}"}) == []


def test_the_quality_gate_fails_as_designed_on_a_celery_worker(celery_bed: Bed) -> None:
    run = celery_bed.run_to_end("examples.quality_gate", "2026-11-04T00:00:00Z")
    assert run["state"] == "failed"
    states = {
        t: ti["state"] for t, ti in celery_bed.api.task_instances("examples.quality_gate", run["dag_run_id"]).items()
    }
    assert states == QUALITY_GATE_FAILED
    log = celery_bed.api.log("examples.quality_gate", run["dag_run_id"], "check_volume", 1)
    assert "FAILED: 50 orders in total for 2026-11-04, expected at least 500" in log
