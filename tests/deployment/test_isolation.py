"""The core promise where users meet it: in a real deployment, a broken spec hides no
other DAG. Everything is read from Airflow's REST API, as the UI reads it."""

from __future__ import annotations

import time

import pytest
from conftest import PARSE_INTERVAL, QUALITY_GATE_FAILED, Bed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TYPO = "description: a typo\ntasks:\n  a:\n    image: img:1\n    comand: [run]\n"
FIXED = "description: fixed\ntasks:\n  a:\n    image: img:1\n    command: [run]\n"
GARBAGE = "tasks: [\n"
# A change is seen at the next parse of each file, and Airflow's DAG processor parses
# a file at most once per interval: one interval, plus the parse itself and the DB write.
ONE_PARSE_CYCLE = 2 * PARSE_INTERVAL + 15


def _report_lines(bed: Bed) -> list[str]:
    errors = bed.factory_errors()
    return errors[0]["stack_trace"].splitlines() if errors else []


def test_broken_specs_leave_every_good_dag_listed_and_runnable_and_are_reported_with_their_lines(bed: Bed) -> None:
    good = bed.api.dag_ids()
    typo = bed.specs / "examples" / "zz_typo.yaml"
    garbage = bed.specs / "zz_garbage.yaml"
    typo.write_text(TYPO)
    garbage.write_text(GARBAGE)
    try:
        lines = bed.wait("both broken specs reported", lambda: len(_report_lines(bed)) >= 3 and _report_lines(bed))
        assert lines[0] == (
            f"SpecErrors: 2 of {len(good) + 2} spec files have errors and are not loaded: they have no DAG until "
            f"fixed. The other {len(good)} are loaded as usual."
        )
        assert "specs/examples/zz_typo.yaml:5:5: unknown key 'comand' in task 'a' (did you mean 'command'?)" in lines
        assert any(line.startswith("specs/zz_garbage.yaml:2:1: invalid YAML") for line in lines), lines
        # Only the reporter has an import error; the loader, which holds the DAGs, has none.
        assert [e["filename"] for e in bed.api.import_errors()] == ["factory_spec_errors.py"]
        # Give the loader file one more parse with the broken specs present, then look again.
        time.sleep(PARSE_INTERVAL + 2)
        assert bed.api.dag_ids() == good
        for dag_id in sorted(good):
            details = bed.api.get(f"/dags/{dag_id}")
            assert (details["is_stale"], details["has_import_errors"]) == (False, False), dag_id
        # Still triggerable, and they run: every example whose image this machine has (the
        # sales, finance and marketing ones name registries that exist only in production;
        # tests/mwaa/test_mwaa_deployment.py runs all of them on the simulated ECS).
        examples = ("examples.hello", "examples.shell_report", "examples.quality_gate")
        runs = {d: bed.api.trigger(d, "2026-11-02T00:00:00Z") for d in examples}
        for dag_id in examples:
            bed.api.unpause(dag_id)
        states = {d: bed.api.wait_for_run(d, run_id, 240)["state"] for d, run_id in runs.items()}
        assert states == {
            "examples.hello": "success",
            "examples.shell_report": "success",
            "examples.quality_gate": "failed",
        }
        gate = bed.api.task_instances("examples.quality_gate", runs["examples.quality_gate"])
        assert {t: ti["state"] for t, ti in gate.items()} == QUALITY_GATE_FAILED
    finally:
        typo.unlink(missing_ok=True)
        garbage.unlink(missing_ok=True)
    bed.wait("the import error cleared", lambda: not bed.factory_errors(), ONE_PARSE_CYCLE)


def test_fixing_a_spec_clears_its_error_and_brings_its_dag_back_within_one_parse_cycle(bed: Bed) -> None:
    spec = bed.specs / "examples" / "zz_fixme.yaml"
    spec.write_text(TYPO)
    try:
        bed.wait("the typo reported", lambda: any("zz_fixme.yaml:5:5" in line for line in _report_lines(bed)))
        assert "examples.zz_fixme" not in bed.api.dag_ids()

        spec.write_text(FIXED)
        fixed_at = time.monotonic()
        bed.wait("the fixed DAG listed", lambda: "examples.zz_fixme" in bed.api.dag_ids(), ONE_PARSE_CYCLE)
        bed.wait("the import error cleared", lambda: not bed.factory_errors(), ONE_PARSE_CYCLE)
        took = time.monotonic() - fixed_at
        assert took <= ONE_PARSE_CYCLE, f"{took:.0f}s"
    finally:
        spec.unlink(missing_ok=True)
    # Deleting a spec removes its DAG: Airflow deactivates a DAG that is gone from its file
    # in a periodic scan, once it has gone unparsed for the stale threshold.
    within = ONE_PARSE_CYCLE + 2 * bed.deployment.cleanup_interval
    bed.wait("the deleted spec's DAG gone", lambda: "examples.zz_fixme" not in bed.api.dag_ids(), within)


def test_a_broken_platform_file_is_reported_once_and_recovers(bed: Bed) -> None:
    platform = bed.specs / "_platform.yaml"
    original = platform.read_text()
    platform.write_text(original + "surprise: 1\n")
    try:
        lines = bed.wait("the platform error", lambda: _report_lines(bed), ONE_PARSE_CYCLE)
        assert lines[0] == "SpecErrors: No spec can be loaded until this is fixed, so there are no factory DAGs:"
        assert any(line.startswith("specs/_platform.yaml:") and "surprise" in line for line in lines), lines
    finally:
        platform.write_text(original)
    bed.wait("every DAG back", lambda: "examples.hello" in bed.api.dag_ids() and not bed.factory_errors(), 60)
