"""Images that need a login: a private registry through an Airflow Docker connection, and
ECR through a fresh token per run.

Real: Debian's docker-registry with htpasswd basic auth, the Docker engine pulling from
it, moto serving ECR's token API over HTTP, Airflow running the DAGs.
Not real: ECR's registry itself, which this machine cannot reach. The ECR test therefore
checks what the factory controls: a token fetched from the AWS connection while the task
runs (never while the DAG is parsed), once per run, and carried by the engine's pull
request, which a relay in front of the engine records. The pull then fails, as any pull
from amazonaws.com does here, and the test checks that the error says so clearly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import docker
import pytest
from onprem_harness import (
    EXAMPLE_IMAGE,
    DockerRelay,
    Registry,
    SpecProject,
    forget_image,
    push,
    task_states,
)

pytestmark = pytest.mark.docker

ACCOUNT, REGION = "123456789012", "eu-west-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture(scope="module")
def private_image(registry: Registry, docker_client: docker.APIClient) -> str:
    return push(docker_client, registry, "analytics/hello", "1")


def _docker_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, registry: Registry, password: str) -> None:
    host, port = registry.host.split(":")
    connection = {"conn_type": "docker", "host": host, "port": int(port), "login": registry.user, "password": password}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def test_a_private_image_is_pulled_with_the_docker_connections_login(
    project: SpecProject,
    registry: Registry,
    private_image: str,
    docker_client: docker.APIClient,
    monkeypatch: pytest.MonkeyPatch,
    task_log: Callable[[], str],
) -> None:
    forget_image(docker_client, private_image)  # so the task must pull it
    _docker_connection(monkeypatch, "registry_ok", registry, registry.password)
    project.write_spec(
        "private_ok",
        {
            "hello": {
                "image": private_image,
                "command": ["echo", "hello from the private registry"],
                "onprem": {"docker_conn_id": "registry_ok"},
            }
        },
    )
    dag_run = project.dag("private_ok").test()
    output = task_log()

    assert task_states(dag_run) == {
        "hello": "success",
        "cleanup": "success",
        "cleanup_done": "success",
        "verdict": "success",
    }
    assert f"Pulling image {private_image}" in output
    assert "hello from the private registry" in output
    assert docker_client.inspect_image(private_image)["Id"] == docker_client.inspect_image(EXAMPLE_IMAGE)["Id"]
    assert registry.password not in output


def test_wrong_credentials_fail_clearly(
    project: SpecProject,
    registry: Registry,
    private_image: str,
    docker_client: docker.APIClient,
    monkeypatch: pytest.MonkeyPatch,
    task_log: Callable[[], str],
) -> None:
    forget_image(docker_client, private_image)
    _docker_connection(monkeypatch, "registry_bad", registry, "not-the-password")
    project.write_spec(
        "private_bad",
        {"hello": {"image": private_image, "command": ["true"], "onprem": {"docker_conn_id": "registry_bad"}}},
    )
    dag_run = project.dag("private_bad").test()
    output = task_log()

    assert task_states(dag_run)["hello"] == "failed"
    assert "Could not log in to the registry of Airflow connection 'registry_bad'" in output
    assert "unauthorized" in output.lower()
    assert not docker_client.images(name=private_image)


def test_a_private_image_without_a_connection_fails_with_a_hint(
    project: SpecProject,
    private_image: str,
    docker_client: docker.APIClient,
    task_log: Callable[[], str],
) -> None:
    forget_image(docker_client, private_image)
    project.write_spec("private_anonymous", {"hello": {"image": private_image, "command": ["true"]}})
    dag_run = project.dag("private_anonymous").test()
    output = task_log()

    assert task_states(dag_run)["hello"] == "failed"
    assert f"Could not pull image {private_image}" in output
    assert "If the registry needs a login, name an Airflow Docker connection" in output


# -- ECR -----------------------------------------------------------------------------------------


class _RequestCounter(logging.Handler):
    """Counts the requests moto's HTTP server answers, from its werkzeug request log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "HTTP/1.1" in message:
            self.lines.append(message)


@pytest.fixture
def moto_ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[_RequestCounter]:
    """ECR's token API served by moto over HTTP on a free loopback port, reached through the
    AWS connection `aws_default` as a worker would reach AWS."""
    from moto.core.base_backend import BackendDict
    from moto.server import ThreadedMotoServer

    werkzeug = logging.getLogger("werkzeug")
    counter, level, propagate = _RequestCounter(), werkzeug.level, werkzeug.propagate
    werkzeug.addHandler(counter)
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False  # count, do not print
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "AKIAFACTORYTESTS",
                "password": "factory-tests-secret-key",
                "extra": {"endpoint_url": f"http://{host}:{port}", "region_name": REGION},
            }
        ),
    )
    try:
        yield counter
    finally:
        server.stop()
        BackendDict.reset()
        werkzeug.removeHandler(counter)
        werkzeug.setLevel(level)
        werkzeug.propagate = propagate


def test_ecr_images_get_a_fresh_token_from_the_aws_connection_at_each_run(
    project: SpecProject, moto_ecr: _RequestCounter, task_log: Callable[[], str]
) -> None:
    relay = DockerRelay()
    try:
        project.docker_url = relay.url
        project.write_platform()
        image = f"{ECR_HOST}/analytics/hello:1.4.2"
        project.write_spec("ecr", {"hello": {"image": image, "command": ["echo", "hello from ECR"]}})
        dag = project.dag("ecr")
        assert moto_ecr.lines == []  # compiling the DAG asked ECR nothing

        for run in (1, 2):
            dag_run = dag.test()
            output = task_log()

            # One token per run, fetched while the task ran...
            assert len(moto_ecr.lines) == run, moto_ecr.lines
            assert f"Got an ECR token for {ECR_HOST}" in output
            # ...and carried by the engine's pull request: AWS/<the token moto issued for
            # this account> for the image's registry, as `docker login` would send it.
            pulls = relay.pulls()
            assert len(pulls) == run
            path, auth = pulls[-1]
            assert "fromImage=" + ECR_HOST in path.replace("%2F", "/")
            assert auth == {"username": "AWS", "password": f"{ACCOUNT}-auth-token", "serveraddress": ECR_HOST}
            assert f"{ACCOUNT}-auth-token" not in output
            # The real ECR is out of reach here: the pull fails, and says why.
            assert task_states(dag_run)["hello"] == "failed"
            assert f"Could not pull image {image}: " in output
    finally:
        relay.close()
