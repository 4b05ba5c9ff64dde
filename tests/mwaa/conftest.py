"""Fixtures of the MWAA tests: moto in server mode, the platform's AWS set-up, and the
simulated ECS of aws_harness.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aws_harness import AWS_ENV, AwsWorld, EcsSimulator, create_account


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto over HTTP on a free loopback port, for this test module only (another module
    using moto's in-memory mocks would reset its state)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        from moto.core.base_backend import BackendDict

        BackendDict.reset()  # leave no AWS state to the next module that uses moto


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> Iterator[AwsWorld]:
    """The platform team's set-up: VPC, cluster, log group, roles, and the Variables and
    secret in SSM Parameter Store."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        yield create_account(moto_endpoint)


@pytest.fixture(scope="module")
def ecs(aws: AwsWorld) -> Iterator[EcsSimulator]:
    sim = EcsSimulator()
    with pytest.MonkeyPatch.context() as patch:
        sim.install(patch)
        try:
            yield sim
        finally:
            sim.uninstall()
