"""The deploy tests: the S3 server is tests/conftest.py's `s3_server` (SeaweedFS). Each test
gets its own bucket, with versioning on as MWAA requires, and its own copy of a small
project, so the tests do not depend on the evolving example specs.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from botocore.client import BaseClient
from s3_harness import ADMIN, FIXTURE_SPECS, REPO, S3Server

from factory.load.shards import LOADER_FILES


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
    for name in (*LOADER_FILES, "factory_spec_errors.py", ".airflowignore"):
        shutil.copy2(REPO / "dags" / name, root / "dags" / name)
    return root
