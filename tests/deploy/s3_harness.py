"""The S3 server of the deploy tests: SeaweedFS identities and a client factory.

Kept out of conftest.py so test modules can import it (tests/ folders are not packages).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.client import BaseClient

REPO = Path(__file__).resolve().parents[2]
FIXTURE_SPECS = Path(__file__).resolve().parent / "project" / "specs"
ADMIN = ("factory-admin", "factory-admin-secret")
READER = ("factory-reader", "factory-reader-secret")


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
            region_name="us-east-1",
        )


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
