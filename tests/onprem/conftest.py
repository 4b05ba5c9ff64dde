"""Fixtures of the on-prem tests: the real Docker engine, the example image, a project of
test specs, a private registry and a derived image with a shell script.

Without an engine these tests skip with a loud reason on a developer's machine and fail
under CI (CI=true), where `.ci/run` starts one.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, NotFound
from onprem_harness import (
    ENGINE_URL,
    EXAMPLE_IMAGE,
    Registry,
    SpecProject,
    build_image,
    containers_of,
    engine,
    remove_containers,
    start_registry,
    unavailable,
)


@pytest.fixture(scope="session")
def docker_client() -> docker.APIClient:
    """The machine's engine, with the example image on it."""
    try:
        client = engine()
        client.ping()
    except DockerException as exc:
        unavailable(f"no Docker engine at {ENGINE_URL} ({exc}); start one with `scripts/services docker-engine`")
    try:
        client.inspect_image(EXAMPLE_IMAGE)
    except NotFound:
        unavailable(f"the example image {EXAMPLE_IMAGE} is missing; build it with `scripts/services example-image`")
    return client


@pytest.fixture
def project(
    tmp_path: Path, airflow_db: Path, docker_client: docker.APIClient, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SpecProject]:
    """A fresh project for one test; the repository's DAG loader reads it (FACTORY_HOME).

    Whatever containers its DAGs leave (tests that keep them to inspect them) are removed
    afterwards.
    """
    monkeypatch.setenv("FACTORY_HOME", str(tmp_path))
    monkeypatch.setenv("FACTORY_RUNTIME", "onprem")
    spec_project = SpecProject(tmp_path)
    yield spec_project
    for spec in (tmp_path / "specs" / "onprem").glob("*.yaml"):
        remove_containers(docker_client, containers_of(docker_client, f"onprem.{spec.stem}"))


@pytest.fixture(scope="session")
def script_image(docker_client: docker.APIClient) -> Iterator[str]:
    """An image that ships a shell script, as analysts' images do: /app/bin/report.sh."""
    tag = "factory-tests/scripted:1"
    script = '#!/bin/sh\nset -e\necho "report.sh ran with: $*"\necho "report.sh: REGION=$REGION"\n'
    build_image(
        docker_client,
        tag,
        {"report.sh": (script, 0o755)},
        f"FROM {EXAMPLE_IMAGE}\nCOPY report.sh /app/bin/report.sh\n",
    )
    yield tag
    try:
        docker_client.remove_image(tag)
    except DockerException:
        pass


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.APIClient) -> Iterator[Registry]:
    """Debian's docker-registry with htpasswd basic auth, for the login path."""
    import shutil

    if not (shutil.which("docker-registry") and shutil.which("htpasswd")):
        unavailable("docker-registry or htpasswd is not installed (Debian packages docker-registry, apache2-utils)")
    running = start_registry(tmp_path_factory.mktemp("registry"), "analyst", f"pw-{uuid.uuid4().hex[:12]}")
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(timeout=10)


@pytest.fixture
def task_log(capfd: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What the tasks of a dag.test() run logged (INFO and up); call it after the run.

    The suite runs Airflow at WARNING (tests/conftest.py); container output is logged at
    INFO, so the task loggers are let through at INFO for the length of one test.
    """
    tries = []
    for name in ("airflow.sdk._shared.logging.structlog", "airflow._shared.logging.structlog"):
        try:
            tries.append(importlib.import_module(name).PER_LOGGER_LEVELS)
        except ImportError:
            continue
    saved = [(levels, levels.get("airflow.task")) for levels in tries]
    for levels in tries:
        levels["airflow.task"] = logging.INFO
    capfd.readouterr()  # start from an empty capture
    try:
        yield lambda: "".join(capfd.readouterr())
    finally:
        for levels, level in saved:
            if level is None:
                levels.pop("airflow.task", None)
            else:
                levels["airflow.task"] = level
