"""What the on-prem tests stand on: the real Docker engine, a small project whose specs
compile to DAGs, a private registry, and a recording relay in front of the engine.

Nothing here replaces Airflow or an operator: DAGs run with `dag.test()`, containers
on the machine's real engine.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from docker.errors import APIError, NotFound

REPO = Path(__file__).resolve().parents[2]
ENGINE_URL = "unix://var/run/docker.sock"
EXAMPLE_IMAGE = "factory-examples/busybox:1.35"
LABEL_DAG_ID = "dev.factory.dag_id"


def unavailable(reason: str) -> None:
    """Skip loudly on a developer's machine; fail under CI, where the engine must be there."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} -- CI is set, so the on-prem tests must run, not skip")
    pytest.skip(f"ON-PREM TESTS NOT RUN: {reason}")


def engine() -> docker.APIClient:
    return docker.APIClient(base_url=ENGINE_URL, version="auto", timeout=120)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def containers_of(client: docker.APIClient, dag_id: str) -> list[dict[str, Any]]:
    return client.containers(all=True, filters={"label": f"{LABEL_DAG_ID}={dag_id}"})


def remove_containers(client: docker.APIClient, containers: list[dict[str, Any]]) -> None:
    for container in containers:
        try:
            client.remove_container(container["Id"], force=True, v=True)
        except NotFound:
            pass


def build_image(client: docker.APIClient, tag: str, files: dict[str, tuple[str, int]], dockerfile: str) -> str:
    """Build an image from the local example image, offline; returns its id."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, (content, mode) in {"Dockerfile": (dockerfile, 0o644), **files}.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    for event in client.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, decode=True, pull=False):
        if "error" in event:
            raise RuntimeError(f"building {tag}: {event['error']}")
    return client.inspect_image(tag)["Id"]


# -- a project of specs, compiled and run by Airflow --------------------------------------


@dataclass
class SpecProject:
    """A throwaway project (specs/ + schemas/) whose specs compile with the real compiler.

    FACTORY_HOME points the repository's DAG loader at it, so the DAG that `dag.test()`
    syncs to the metadata DB is the one compiled from these specs.
    """

    root: Path
    docker_url: str = ENGINE_URL
    platform_extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.root / "specs").mkdir(parents=True, exist_ok=True)
        if not (self.root / "schemas").exists():
            (self.root / "schemas").symlink_to(REPO / "schemas")
        self.write_platform()

    def write_platform(self) -> None:
        onprem = {"docker_url": self.docker_url, "network_mode": "bridge", **self.platform_extra}
        (self.root / "specs" / "_platform.yaml").write_text(yaml.safe_dump({"onprem": onprem}))

    def write_spec(self, name: str, tasks: dict[str, Any], **fields: Any) -> Path:
        spec = {
            "description": f"on-prem test {name}",
            "owner": "tests",
            "start_date": "2024-01-01",
            "schedule": None,
            **fields,
            "tasks": tasks,
        }
        path = self.root / "specs" / "onprem" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    def dag(self, name: str) -> Any:
        from factory.compile.dag import build_dag
        from factory.load.layout import Project
        from factory.read import Reader

        reader = Reader(Project.at(self.root))
        spec = reader.read_spec(self.root / "specs" / "onprem" / f"{name}.yaml")
        return build_dag(spec, reader.read_platform(), "onprem")


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def rendered_fields(dag_id: str, run_id: str) -> str:
    """Everything Airflow stored as rendered template fields for one run, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(RenderedTaskInstanceFields).where(
                RenderedTaskInstanceFields.dag_id == dag_id, RenderedTaskInstanceFields.run_id == run_id
            )
        ).all()
        return json.dumps([row.rendered_fields for row in rows], default=str)


def xcom_values(dag_id: str, run_id: str) -> str:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)).all()
        return json.dumps([row.value for row in rows], default=str)


# -- a private registry -----------------------------------------------------------------------------


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT, which the engine treats as an insecure (plain HTTP) registry
    user: str
    password: str
    process: subprocess.Popen[bytes]


def start_registry(root: Path, user: str, password: str) -> Registry:
    """Debian's docker-registry with htpasswd basic auth on a free loopback port."""
    htpasswd = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True)
    (root / "htpasswd").write_text(htpasswd.stdout)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "factory-tests"},
        "auth": {"htpasswd": {"realm": "factory-tests", "path": str(root / "htpasswd")}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
    }
    (root / "config.yml").write_text(yaml.safe_dump(config))
    log = open(root / "registry.log", "wb")  # noqa: SIM115 -- lives as long as the process
    process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {(root / 'registry.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for credentials as configured
                return Registry(f"127.0.0.1:{port}", user, password, process)
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("docker-registry did not answer within 30 s")


def push(client: docker.APIClient, registry: Registry, repository: str, tag: str) -> str:
    """Put the example image into the registry as registry/repository:tag; returns the reference."""
    reference = f"{registry.host}/{repository}"
    client.tag(EXAMPLE_IMAGE, reference, tag)
    auth = {"username": registry.user, "password": registry.password}
    for event in client.push(reference, tag=tag, auth_config=auth, stream=True, decode=True):
        if "error" in event:
            raise RuntimeError(f"push {reference}:{tag}: {event['error']}")
    return f"{reference}:{tag}"


def forget_image(client: docker.APIClient, reference: str) -> None:
    """Drop a tag from the engine so the next task must pull it (the image stays under
    its other tags)."""
    try:
        client.remove_image(reference)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409:
            raise


# -- a recording relay in front of the engine --------------------------------------------------


class DockerRelay:
    """A TCP endpoint that passes every byte to the real engine's socket and keeps a copy of
    what clients sent, so a test can read the requests (e.g. the registry credentials a
    pull carried). It answers nothing itself: every response is the engine's."""

    def __init__(self, socket_path: str = "/var/run/docker.sock") -> None:
        self._socket_path = socket_path
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self._server.getsockname()[1]}"
        self._sent: list[bytearray] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self._socket_path)
            record = bytearray()
            with self._lock:
                self._sent.append(record)
            threading.Thread(target=self._pump, args=(client, upstream, record), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        try:
            while data := source.recv(65536):
                if record is not None:
                    record.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def requests(self) -> Iterator[tuple[str, str, dict[str, str]]]:
        """(method, path, headers) of every HTTP request the clients sent so far."""
        with self._lock:
            streams = [bytes(record) for record in self._sent]
        for stream in streams:
            for match in re.finditer(rb"(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/1\.[01]\r\n(.*?)\r\n\r\n", stream, re.S):
                headers = {}
                for line in match.group(3).decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                yield match.group(1).decode(), match.group(2).decode("latin-1"), headers

    def pulls(self) -> list[tuple[str, dict[str, Any] | None]]:
        """(query path, decoded X-Registry-Auth or None) of each image pull request."""
        found = []
        for method, path, headers in self.requests():
            if method == "POST" and "/images/create" in path:
                auth = headers.get("x-registry-auth")
                decoded = json.loads(base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))) if auth else None
                found.append((path, decoded))
        return found

    def close(self) -> None:
        self._closed = True
        self._server.close()
