"""The cleanup task on the real engine: it removes exactly this run's containers and
the dangling images they leave, runs when tasks failed, does not decide the run's state,
and runs with the interpreter of the worker that runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from onprem_harness import EXAMPLE_IMAGE, REPO, SpecProject, build_image, containers_of, remove_containers, task_states

pytestmark = pytest.mark.docker


def _stopped_container(client: docker.APIClient, labels: dict[str, str]) -> str:
    container = client.create_container(EXAMPLE_IMAGE, command=["true"], labels=labels)
    client.start(container["Id"])
    client.wait(container["Id"])
    return container["Id"]


def _cleanup(docker_url: str, dag_id: str, run_id: str) -> subprocess.CompletedProcess[str]:
    """The cleanup command, as the DAG's cleanup task runs it on a worker whose interpreter is this one."""
    command = [sys.executable, "-m", "factory.cleanup", "--docker-url", docker_url, "--dag-id", dag_id]
    return subprocess.run([*command, "--run-id", run_id], capture_output=True, text=True, cwd=REPO)


def test_cleanup_removes_the_runs_containers_and_leaves_everyone_elses(
    project: SpecProject, docker_client: docker.APIClient
) -> None:
    project.write_spec(
        "scope",
        {
            "first": {"image": EXAMPLE_IMAGE, "command": ["echo", "one"]},
            "second": {"image": EXAMPLE_IMAGE, "command": ["echo", "two"], "depends_on": ["first"]},
        },
    )
    bystanders = {
        "no labels at all": _stopped_container(docker_client, {}),
        "another DAG's": _stopped_container(
            docker_client,
            {"dev.factory.managed": "true", "dev.factory.dag_id": "onprem.other", "dev.factory.run_id": "r1"},
        ),
        "another run of this DAG": _stopped_container(
            docker_client,
            {"dev.factory.managed": "true", "dev.factory.dag_id": "onprem.scope", "dev.factory.run_id": "older-run"},
        ),
        "this DAG's labels but not the factory's": _stopped_container(docker_client, {"dev.factory.dag_id": "x"}),
    }
    try:
        dag_run = project.dag("scope").test()

        assert task_states(dag_run) == {
            "first": "success",
            "second": "success",
            "cleanup": "success",
            "cleanup_done": "success",
            "verdict": "success",
        }
        left = {c["Id"] for c in containers_of(docker_client, "onprem.scope")}
        assert left == {bystanders["another run of this DAG"]}  # this run's two are gone
        for why, container_id in bystanders.items():
            assert docker_client.inspect_container(container_id)["State"]["Status"] == "exited", why
    finally:
        remove_containers(docker_client, [{"Id": container_id} for container_id in bystanders.values()])


def test_cleanup_removes_the_dangling_images_its_containers_leave(
    project: SpecProject, docker_client: docker.APIClient
) -> None:
    tag = "factory-tests/moving:latest"
    old = build_image(docker_client, tag, {}, f"FROM {EXAMPLE_IMAGE}\nLABEL build={uuid.uuid4().hex}\n")
    keep = _stopped_container(docker_client, {})  # an unrelated container: never touched
    project.write_spec("dangling", {"use": {"image": tag, "command": ["echo", "on the old image"]}})
    dag_run = project.dag("dangling").test(mark_success_pattern="cleanup")
    # A newer build takes the tag while the run's stopped container still holds the old
    # image: that one is now dangling, as after a `docker pull` of a moved `:latest`.
    new = build_image(docker_client, tag, {}, f"FROM {EXAMPLE_IMAGE}\nLABEL build={uuid.uuid4().hex}\n")
    assert docker_client.inspect_image(old)["RepoTags"] == []
    try:
        done = _cleanup(project.docker_url, "onprem.dangling", dag_run.run_id)
        assert done.returncode == 0, done.stderr
        assert "removed container" in done.stdout and "(task use, exited (0)" in done.stdout
        assert f"removed dangling image {old[:19]} (was {tag})" in done.stdout
        assert "removed 1 container(s) and 1 dangling image(s)" in done.stdout
        assert containers_of(docker_client, "onprem.dangling") == []
        assert not docker_client.images(name=old, all=True) and old not in {i["Id"] for i in docker_client.images()}
        assert docker_client.inspect_image(tag)["Id"] == new  # the tagged image stays
        assert docker_client.inspect_container(keep)["State"]["Status"] == "exited"
    finally:
        remove_containers(docker_client, [{"Id": keep}])
        docker_client.remove_image(tag)


def test_cleanup_exits_non_zero_when_it_cannot_reach_the_engine() -> None:
    done = _cleanup("unix:///nonexistent/docker.sock", "d", "r")
    assert done.returncode == 1
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock" in done.stderr


def test_a_failed_task_fails_the_run_even_though_the_cleanup_succeeded(
    project: SpecProject, docker_client: docker.APIClient
) -> None:
    project.write_spec(
        "task_fails",
        {
            "ok": {"image": EXAMPLE_IMAGE, "command": ["true"]},
            "broken": {"image": EXAMPLE_IMAGE, "command": ["sh", "-c", "exit 2"]},
        },
    )
    dag_run = project.dag("task_fails").test()

    assert task_states(dag_run) == {
        "ok": "success",
        "broken": "failed",
        "cleanup": "success",
        "cleanup_done": "success",
        "verdict": "upstream_failed",
    }
    assert str(dag_run.state.value) == "failed"
    assert containers_of(docker_client, "onprem.task_fails") == []  # the cleanup ran all the same


def test_a_failed_cleanup_does_not_fail_a_run_whose_work_succeeded(
    project: SpecProject, docker_client: docker.APIClient
) -> None:
    project.write_spec("cleanup_fails", {"work": {"image": EXAMPLE_IMAGE, "command": ["echo", "done"]}})
    dag = project.dag("cleanup_fails")
    cleanup = dag.task_dict["cleanup"]
    # A real failure of the real cleanup: the last --docker-url wins and names no engine.
    cleanup.bash_command += " --docker-url unix:///nonexistent/docker.sock"
    cleanup.retries = 0  # its one retry would wait Airflow's default 5 minutes in dag.test()
    dag_run = dag.test()

    assert task_states(dag_run) == {
        "work": "success",
        "cleanup": "failed",
        "cleanup_done": "success",
        "verdict": "success",
    }
    assert str(dag_run.state.value) == "success"


def _stored(model: Any, dag_id: str, run_id: str, task_id: str) -> list[Any]:
    """The rows Airflow stored for one task of one run (rendered fields, XComs)."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(
                select(model).where(model.dag_id == dag_id, model.run_id == run_id, model.task_id == task_id)
            ).all()
        )


def test_the_cleanup_runs_with_the_interpreter_of_the_worker_and_stores_no_path_and_no_xcom(
    project: SpecProject, docker_client: docker.APIClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel

    project.write_spec("interpreter", {"work": {"image": EXAMPLE_IMAGE, "command": ["echo", "done"]}})
    dag = project.dag("interpreter")  # parsed here, by this interpreter
    parse_time_python = sys.executable
    # The worker's interpreter is somewhere else (another image, another host): one that
    # records that it ran, then is this one.
    calls = tmp_path / "calls"
    worker_python = tmp_path / "worker-image" / "bin" / "python3"
    worker_python.parent.mkdir(parents=True)
    worker_python.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {parse_time_python} "$@"\n')
    worker_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(worker_python))

    dag_run = dag.test()

    assert task_states(dag_run)["cleanup"] == "success"
    assert containers_of(docker_client, "onprem.interpreter") == []  # the cleanup did its work
    assert "-m factory.cleanup --docker-url" in calls.read_text()  # with the worker's interpreter
    (rendered,) = _stored(RenderedTaskInstanceFields, dag_run.dag_id, dag_run.run_id, "cleanup")
    stored = json.dumps(rendered.rendered_fields)
    assert '\\"$FACTORY_PYTHON\\" -m factory.cleanup' in stored
    for path in (parse_time_python, str(worker_python), str(REPO)):
        assert path not in stored
    assert _stored(XComModel, dag_run.dag_id, dag_run.run_id, "cleanup") == []
