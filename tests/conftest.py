"""Shared test set-up: a private AIRFLOW_HOME, the repository paths, an Airflow DB.

Airflow reads its configuration when first imported, so the environment is set
here, before any test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="factory-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ.pop("FACTORY_RUNTIME", None)
os.environ.pop("FACTORY_HOME", None)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB (what dag.test() and the CLI need), once per session."""
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _HOME


class DeploymentSlot:
    """Room for one running Airflow deployment (tests/deployment, tests/mwaa): two at once
    would share this machine's two cores and starve each other's heartbeats, so claiming
    the slot stops whoever held it."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self._stop: Callable[[], None] | None = None

    def claim(self, holder: str, stop: Callable[[], None]) -> None:
        if self.holder != holder:
            self.release()
        self.holder, self._stop = holder, stop

    def release(self) -> None:
        stop, self.holder, self._stop = self._stop, None, None
        if stop is not None:
            stop()


@pytest.fixture(scope="session")
def deployment_slot() -> Iterator[DeploymentSlot]:
    slot = DeploymentSlot()
    yield slot
    slot.release()


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    """This machine's Docker engine, holding the example image (tests/deployment, tests/mwaa)."""
    import docker
    from needs import EXAMPLE_IMAGE, need

    try:
        client = docker.APIClient(base_url="unix://var/run/docker.sock", version="auto", timeout=60)
        client.ping()
        client.inspect_image(EXAMPLE_IMAGE)
    except Exception as exc:  # noqa: BLE001 - any failure means: no engine to test on
        need(f"no Docker engine with {EXAMPLE_IMAGE} ({exc}); run scripts/services docker-engine example-image")
    return client


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3 server (SeaweedFS) for the session: tests/seaweedfs.py."""
    from seaweedfs import seaweedfs

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) for the session, keeping what it is sent: tests/notify_sinks.py."""
    from notify_sinks import smtp_sink

    with smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def sns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's SNS (and SQS, to read what a topic sends) in a process of its own: nothing
    real serves SNS offline. tests/notify_sinks.py."""
    from notify_sinks import moto_process

    with moto_process(tmp_path_factory.mktemp("sns") / "moto.log") as server:
        yield server
