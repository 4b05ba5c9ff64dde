"""A run a person marks failed stays failed, whatever its tasks were doing.

Airflow 3.3 keeps a run that has an unfinished teardown running when it is marked
failed, skips its other unfinished tasks, and once the teardown has run computes the
run's state again from those skipped tasks: success. The factory's DAGs have no
teardown for that reason (factory/compile/onprem.py). These checks replay what a
deployment does, on the metadata DB and with Airflow's own code: the REST API's
`patch_dag_run_state` (what PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id} calls), then
the scheduler's `DagRun.update_state` until the run ends. No container runs.

`mark_failed_over_rest` is the same check against a running deployment, for the test
bed that has one.
"""

from __future__ import annotations

from typing import Any

from onprem_harness import EXAMPLE_IMAGE, SpecProject

# A task that waits for its retry, with work after it: the run a person gave up on.
RETRY_WAIT_TASKS = {
    "flaky": {"image": EXAMPLE_IMAGE, "command": ["sh", "-c", "exit 1"], "retries": 1, "retry_delay": "30m"},
    "after": {"image": EXAMPLE_IMAGE, "command": ["true"], "depends_on": ["flaky"]},
}


def mark_failed_by_hand(dag: Any, states: dict[str, str], mark: str = "failed") -> tuple[str, str, dict[str, str]]:
    """Put a run of `dag` in the metadata DB with its tasks in `states` (the others not
    started yet), mark the run `mark` as the REST API does, then let the scheduler go on
    until the run ends. Returns the run's state right after marking, its final state and
    the final task states.

    Tasks the scheduler starts after the marking are taken to succeed: a run's state
    must not depend on what they do. The API and the scheduler use the DAG Airflow
    stored, which dag.test() builds from the dags folder (FACTORY_HOME: the project),
    not `dag` itself.
    """
    from airflow.api_fastapi.core_api.datamodels.dag_run import DagRunMutableStates
    from airflow.api_fastapi.core_api.services.public.dag_run import patch_dag_run_state
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    # Stores the DAG and creates the run and its task instances; runs no task.
    run_id = dag.test(mark_success_pattern=".*").run_id
    with create_session() as session:
        dag_run = _dag_run(session, dag.dag_id, run_id)
        dag_run.set_state(DagRunState.RUNNING)
        for ti in dag_run.get_task_instances(session=session):
            ti.state = TaskInstanceState(states[ti.task_id]) if ti.task_id in states else None
            ti.end_date = None
    with create_session() as session:
        dag_run = _dag_run(session, dag.dag_id, run_id)
        scheduler_dag = DBDagBag().get_dag_for_run(dag_run, session=session)
        patch_dag_run_state(dag=scheduler_dag, dag_run=dag_run, state=DagRunMutableStates(mark), session=session)
    with create_session() as session:
        answered = _name(_dag_run(session, dag.dag_id, run_id).state)
    for _ in range(20):  # the scheduler looks only at running runs
        with create_session() as session:
            dag_run = _dag_run(session, dag.dag_id, run_id)
            if dag_run.state != DagRunState.RUNNING:
                break
            dag_run.dag = DBDagBag().get_dag_for_run(dag_run, session=session)
            schedulable, _ = dag_run.update_state(session=session, execute_callbacks=False)
            for ti in schedulable:
                ti.set_state(TaskInstanceState.SUCCESS, session=session)
    with create_session() as session:
        dag_run = _dag_run(session, dag.dag_id, run_id)
        final = {ti.task_id: _name(ti.state) for ti in dag_run.get_task_instances(session=session)}
        return answered, _name(dag_run.state), final


def _name(state: Any) -> str:
    return str(getattr(state, "value", state))


def _dag_run(session: Any, dag_id: str, run_id: str) -> Any:
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    return session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()


def test_a_run_marked_failed_while_a_task_waits_for_its_retry_stays_failed(project: SpecProject) -> None:
    project.write_spec("retry_wait", RETRY_WAIT_TASKS)
    answered, final, states = mark_failed_by_hand(project.dag("retry_wait"), {"flaky": "up_for_retry"})

    assert answered == final == "failed", states
    assert states["flaky"] == states["after"] == "skipped"


def test_a_run_marked_failed_while_a_task_with_work_after_it_runs_stays_failed(project: SpecProject) -> None:
    project.write_spec(
        "running",
        {
            "slow": {"image": EXAMPLE_IMAGE, "command": ["sleep", "600"]},
            "after": {"image": EXAMPLE_IMAGE, "command": ["true"], "depends_on": ["slow"]},
        },
    )
    answered, final, states = mark_failed_by_hand(project.dag("running"), {"slow": "running"})

    assert answered == final == "failed", states
    assert states["slow"] == "failed"  # stopped: its operator stops the container when Airflow kills it


def test_a_run_marked_failed_after_its_work_while_the_cleanup_runs_stays_failed(project: SpecProject) -> None:
    project.write_spec("cleaning", {"work": {"image": EXAMPLE_IMAGE, "command": ["true"]}})
    answered, final, _ = mark_failed_by_hand(
        project.dag("cleaning"), {"work": "success", "verdict": "success", "cleanup": "running"}
    )

    assert answered == final == "failed"


def test_a_run_marked_successful_still_ends_successful(project: SpecProject) -> None:
    project.write_spec("retry_wait", RETRY_WAIT_TASKS)
    answered, final, states = mark_failed_by_hand(project.dag("retry_wait"), {"flaky": "up_for_retry"}, "success")

    assert answered == final == "success", states


def test_no_task_of_an_onprem_dag_is_a_teardown(project: SpecProject) -> None:
    # A teardown anywhere in the DAG brings the problem back: keep it from returning.
    project.write_spec("shape", RETRY_WAIT_TASKS)
    dag = project.dag("shape")
    assert [task.task_id for task in dag.tasks if task.is_teardown] == []
