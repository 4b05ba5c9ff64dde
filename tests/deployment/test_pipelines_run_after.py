"""Pipelines that run after others, where users meet it: the scheduler starts a
downstream pipeline's run from the upstream's success (Airflow's assets), through the
real deployment, read back from the REST API.

- the example chain: a manual run of examples.orders_extract starts orders_totals
  (after the data it updates), whose success starts orders_publish;
- a failed run of testbed.flaky starts nothing; its next, successful run starts
  testbed.after_flaky once;
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


def test_a_success_starts_the_pipelines_after_it_and_a_failure_does_not(bed: Bed) -> None:
    for dag_id in DOWNSTREAM:
        bed.api.unpause(dag_id)

    # A failed upstream run: nothing after it starts.
    failed = bed.run_to_end("testbed.flaky", "2026-11-10T00:00:00Z", conf={"fail": "yes"})
    assert failed["state"] == "failed"
    time.sleep(15)  # several scheduler loops
    assert _asset_runs(bed, "testbed.after_flaky") == []
    assert _asset_runs(bed, "testbed.either") == []

    # Its next run succeeds: after_flaky runs once, and either (any of) on this first one.
    assert bed.run_to_end("testbed.flaky", "2026-11-11T00:00:00Z", conf={"fail": "no"})["state"] == "success"
    (after,) = _finished(bed, "testbed.after_flaky", 1)
    assert after["state"] == "success"
    (either,) = _finished(bed, "testbed.either", 1)
    assert either["state"] == "success"

    # The example chain, started by hand at its head. (Unpausing it also lets the
    # scheduler start its latest daily run; Airflow may merge the two updates into one
    # downstream run, so what is counted is "at least one, and every one succeeded".)
    assert bed.run_to_end("examples.orders_extract", "2026-11-10T00:00:00Z")["state"] == "success"
    totals = _finished(bed, "examples.orders_totals", 1)
    assert {r["state"] for r in totals} == {"success"}
    log = bed.api.log("examples.orders_totals", totals[0]["dag_run_id"], "totals", 1)
    assert "totals of the orders landed for" in log
    publish = _finished(bed, "examples.orders_publish", 1)
    assert {r["state"] for r in publish} == {"success"}
    # orders_totals' success counts for `either` too: any of them starts another run.
    assert {r["state"] for r in _finished(bed, "testbed.either", 2)} == {"success"}
    assert len(_asset_runs(bed, "testbed.after_flaky")) == 1
