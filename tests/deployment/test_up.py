"""`factory up` and `factory down` as the README gives them: a real Airflow serving the
project's specs, a printed login that works, live specs, and a down that stops exactly
what up started."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, Beds

from factory.load.layout import Project
from factory.local.api import AirflowApi
from factory.local.deployment import Deployment
from factory.local.processes import free_port, port_open

pytestmark = [pytest.mark.docker, pytest.mark.slow]
FACTORY = str(Path(sys.executable).parent / "factory")


def _factory(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACTORY, *args], cwd=cwd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def test_up_serves_the_specs_with_a_printed_login_live_specs_and_down_stops_exactly_what_up_started(
    beds: Beds, tmp_path: Path
) -> None:
    beds.close()  # one Airflow at a time on two cores
    project = beds.root / "project-up"
    shutil.rmtree(project, ignore_errors=True)
    for folder in ("specs", "schemas", "dags"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    up = _factory("up", "--port", str(port), cwd=project)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        login = re.search(rf"Airflow is up: (http://localhost:{port})  \(user admin, password (\S+)\)", up.stdout)
        assert login, up.stdout
        spec_count = len(Project.at(REPO).spec_files())
        assert f"DAGs:    {spec_count} from specs; no spec has errors" in up.stdout
        assert "stop:    factory down" in up.stdout
        started = Deployment.recorded(project / ".cache" / "up")
        assert {p.name for p in started} == {"postgres", "api-server", "dag-processor", "scheduler", "triggerer"}
        for process in started:
            assert f"{process.name} (pid {process.pid})" in up.stdout

        api = AirflowApi(login.group(1), "admin", login.group(2))  # the printed login works
        assert "examples.hello" in api.dag_ids()
        again = _factory("up", "--port", str(port), cwd=project)
        assert again.returncode == 1 and "already running" in again.stderr

        # The specs folder is live.
        (project / "specs" / "examples" / "added.yaml").write_text(
            "description: added while up\ntasks:\n  a:\n    image: factory-examples/busybox:1.35\n"
            "    command: [echo, hi]\n"
        )
        deadline = time.monotonic() + 60
        while "examples.added" not in api.dag_ids():
            assert time.monotonic() < deadline, "the new spec did not show up"
            time.sleep(1)
    finally:
        down = _factory("down", cwd=project)
    assert down.returncode == 0
    assert down.stdout.startswith("factory down: stopped ")
    for process in started:
        assert not process.alive(), process
    assert not port_open(port)
    assert _factory("down", cwd=project).stdout.strip() == "factory down: nothing was running"
