"""The test bed: Airflow as it is deployed, started by the tests themselves.

PostgreSQL (Debian) as the metadata DB; `api-server`, `scheduler`, `dag-processor` and
`triggerer` as separate processes; the LocalExecutor, or the CeleryExecutor with Redis
and a Celery worker (how MWAA runs tasks). It is `factory.local.Deployment`, the same
code as `factory up`. Tasks run containers on this machine's real Docker engine.

The deployment serves a copy of the repository's specs/, schemas/ and dags/ plus the
specs in tests/deployment/specs/, so tests can break and fix specs freely. The platform's
AWS connection points at a real S3 server (SeaweedFS), where the specs' waits look, and
its SMTP connection at a real SMTP server (aiosmtpd). One deployment runs at a time (two
would share two cores): asking for the other executor stops the first. Nothing here is a
stand-in but SNS, which is moto's (in its own process; nothing real serves SNS offline):
what the tests read comes from Airflow's REST API, its task logs, the Docker engine, the
PostgreSQL database and the mail the SMTP server received.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from needs import need as _need

from factory.load.layout import Project
from factory.local.api import AirflowApi
from factory.local.deployment import Deployment
from factory.local.processes import ServiceError, free_port

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PARSE_INTERVAL = 5  # seconds between two parses of each DAG file (Airflow's default: 30)
# examples.quality_gate's run, as designed: the gate fails, the publish never runs, the
# team is told, the cleanup still does, and the verdict fails the run.
QUALITY_GATE_FAILED = {
    "check_volume": "failed",
    "publish": "upstream_failed",
    "tell_the_team": "success",  # run_if: one_failed
    "cleanup": "success",
    "cleanup_done": "success",
    "verdict": "upstream_failed",
}


@dataclass
class Bed:
    """A running deployment and what the tests do with it."""

    deployment: Deployment
    api: AirflowApi
    project: Path

    @property
    def specs(self) -> Path:
        return self.project / "specs"

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
        """Poll `check` until it returns something truthy; that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not seen within {timeout:.0f}s")
            time.sleep(1)

    def run_to_end(
        self, dag_id: str, logical_date: str | None, timeout: float = 240, conf: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Trigger a run through the REST API and wait for its final state."""
        self.api.unpause(dag_id)
        run_id = self.api.trigger(dag_id, logical_date, conf)
        return self.api.wait_for_run(dag_id, run_id, timeout)

    def factory_errors(self) -> list[dict[str, Any]]:
        return [e for e in self.api.import_errors() if e["filename"].endswith("factory_spec_errors.py")]


class Beds:
    """At most one deployment at a time, started on first use, for the whole session."""

    def __init__(self, root: Path, slot: Any, s3: Any, smtp: Any, moto: Any) -> None:
        self.root = root
        self.slot = slot  # tests/conftest.py's DeploymentSlot
        self.s3 = s3  # tests/seaweedfs.py's S3Server: where the specs' waits look
        self.smtp = smtp  # tests/notify_sinks.py's SmtpSink: where the specs' mail goes
        self.moto = moto  # tests/notify_sinks.py's MotoProcess: the specs' SNS topics
        self.current: Bed | None = None
        self.executor: str | None = None

    def get(self, executor: str) -> Bed:
        if self.current is not None and self.executor == executor and self.slot.holder == self._name(executor):
            return self.current
        self.close()
        self.slot.claim(self._name(executor), self.close)
        project = self.root / f"project-{executor}"
        shutil.rmtree(project, ignore_errors=True)
        for folder in ("specs", "schemas", "dags"):
            shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(HERE / "specs", project / "specs", dirs_exist_ok=True)
        deployment = Deployment(
            self.root / f"state-{executor}",
            project,
            executor=executor,
            api_port=free_port(),
            parse_interval=PARSE_INTERVAL,
            extra_env={
                # The platform's AWS connection (specs/_platform.yaml: aws_default) reaches
                # the real S3 server, as a production one reaches S3; its SNS, moto's.
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(self._aws_connection()),
                # The platform's SMTP connection (notifications.email) reaches the sink.
                "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(self.smtp.connection()),
            },
        )
        try:
            deployment.start()
        except ServiceError as exc:
            pytest.fail(f"the {executor} test bed did not start: {exc}")
        api = AirflowApi(deployment.url, "admin", deployment.password())
        bed = Bed(deployment, api, project)
        layout = Project.at(project)
        expected = {layout.dag_id(p) for p in layout.spec_files()}
        bed.wait("every spec's DAG in the REST API", lambda: expected <= api.dag_ids(), timeout=120)
        self.current, self.executor = bed, executor
        return bed

    def _aws_connection(self) -> dict[str, Any]:
        connection = self.s3.connection()
        connection["extra"]["service_config"] = {"sns": {"endpoint_url": self.moto.endpoint}}
        return connection

    def close(self) -> None:
        if self.current is not None:
            self.current.deployment.stop()
        self.current = self.executor = None

    @staticmethod
    def _name(executor: str) -> str:
        return f"tests/deployment ({executor})"


@pytest.fixture(scope="session")
def beds(
    docker_engine: docker.APIClient, deployment_slot: Any, s3_server: Any, smtp_server: Any, sns_server: Any
) -> Iterator[Beds]:
    for tool in ("redis-server", "runuser"):
        if not shutil.which(tool):
            _need(f"{tool} is not installed; run scripts/setup")
    # Not pytest's tmp_path: its folders are private to root, and PostgreSQL runs as its own user.
    root = Path(tempfile.mkdtemp(prefix="factory-testbed-"))
    root.chmod(0o755)
    manager = Beds(root, deployment_slot, s3_server, smtp_server, sns_server)
    yield manager
    manager.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bed(beds: Beds) -> Bed:
    """The LocalExecutor deployment."""
    return beds.get("local")


@pytest.fixture
def celery_bed(beds: Beds) -> Bed:
    """The CeleryExecutor deployment, with Redis and a Celery worker."""
    return beds.get("celery")
