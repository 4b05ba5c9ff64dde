"""`factory run SPEC` as an analyst runs it: a subprocess, the real engine, Airflow's own
dag.test() on a project-local metadata DB set up on first use."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import pytest
from onprem_harness import EXAMPLE_IMAGE, REPO, containers_of

EXAMPLES = sorted(p for p in (REPO / "specs" / "examples").glob("*.yaml") if not p.name.startswith("_"))
# The example that demonstrates a failed run; every other example must succeed.
FAILING_EXAMPLES = {"quality_gate"}


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home for this module's runs: the first run migrates it, the others reuse it."""
    return tmp_path_factory.mktemp("factory-run-home")


def factory_run(
    *args: str, home: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "factory", "run", *args]
    if home is not None:
        command += ["--airflow-home", str(home)]
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment, timeout=300)


@pytest.mark.docker
@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_factory_run_on_each_example(spec: Path, airflow_home: Path, docker_client: object) -> None:
    # An example that waits for a partner's S3 object runs with --no-wait here; the
    # waits themselves are the tests below, against a real S3 server.
    waits = "wait_for:" in spec.read_text()
    done = factory_run(str(spec.relative_to(REPO)), *(["--no-wait"] if waits else []), home=airflow_home)
    out = done.stdout
    assert "wait_for" not in out, out

    # Every task of the spec and the factory's own appear in the summary, in the spec's order.
    tasks = re.findall(r"^(\w+)\s+(success|failed|upstream_failed)\s+[\d.]+s$", out, re.M)
    assert [task for task, _ in tasks][-3:] == ["cleanup", "cleanup_done", "verdict"], out
    assert dict(tasks)["cleanup"] == "success", out
    if spec.stem in FAILING_EXAMPLES:
        assert done.returncode == 1, out + done.stderr
        assert "FAIL check_volume: Container " in out and "exited with code 1." in out
        # The container's last lines are in the failure, not just somewhere in the log.
        failure = out[out.index("FAIL check_volume") :]
        assert "Last 20 line(s) of its output:" in failure
        assert "FAILED: 50 orders in total" in failure
        assert dict(tasks)["publish"] == dict(tasks)["verdict"] == "upstream_failed"
        assert "failed (3 task(s) did not succeed)" in out
    else:
        assert done.returncode == 0, out + done.stderr
        assert all(state == "success" for _, state in tasks), out
        assert ": succeeded; Airflow's run state: success" in out
    # Each container's output was streamed, prefixed by its task (padded to the longest task id).
    expected = {
        "hello": ("extract", "extracted 8 orders"),
        "shell_report": ("weekly_kpis", "weekly_kpis.sh: report written for leadership"),
        "quality_gate": ("check_volume", "  shop-24: 3 order(s)"),
    }
    if spec.stem in expected:
        task, line = expected[spec.stem]
        assert re.search(rf"^{task} *\| {re.escape(line)}$", out, re.M), out
    # The team's notify (specs/examples/_defaults.yaml) is not used by a try on one's machine.
    assert "tells nobody: a factory run does not notify (email data-platform@example.com in a deployment)" in out
    if spec.stem == "region_reprocess":
        # A fan-out: one container per region of the parameter's default, each with its item.
        assert re.findall(r"^reprocess\[(\w+)\]\s+success\s", out, re.M) == ["eu", "us", "apac"], out
        for region in ("eu", "us", "apac"):
            line = f"reprocessing the orders of {region} since 2024-01-01"
            assert re.search(rf"^reprocess *\| {line}$", out, re.M), out


@pytest.mark.docker
def test_factory_run_masks_secrets_it_was_given(tmp_path: Path, airflow_home: Path, docker_client: object) -> None:
    secret = "tok-Zx81-0b5e2d9f"
    project = _project(tmp_path)
    (project / "specs" / "team").mkdir()
    (project / "specs" / "team" / "notify.yaml").write_text(
        "description: Post the daily summary to the team chat\n"
        "owner: team\n"
        "start_date: 2024-01-01\n"
        "tasks:\n"
        "  post:\n"
        f"    image: {EXAMPLE_IMAGE}\n"
        '    command: [sh, -ec, \'echo "token is $CHAT_TOKEN"; printf %s "$CHAT_TOKEN" | wc -c\']\n'
        "    secrets: {CHAT_TOKEN: /team/chat-token}\n"
    )
    variables = tmp_path / "variables.json"
    variables.write_text(json.dumps({"team/chat-token": secret}))

    spec = project / "specs" / "team" / "notify.yaml"
    done = factory_run(str(spec), "--variables", str(variables), home=airflow_home)

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^post +\| token is \*\*\*$", done.stdout, re.M), done.stdout
    assert re.search(rf"^post +\| {len(secret)}$", done.stdout, re.M)  # the container had the whole value
    assert secret not in done.stdout + done.stderr
    log = re.search(r"Airflow's log: (\S+)\)", done.stdout)
    assert log is not None
    assert secret not in Path(log.group(1)).read_text()  # an absolute path: the home is outside the cwd


@pytest.mark.docker
def test_secrets_come_from_ssm_parameter_store_under_the_same_name_as_on_mwaa(
    tmp_path: Path, airflow_home: Path, docker_client: docker.APIClient
) -> None:
    """The documented set-up: Airflow's SSM backend with `variables_prefix: ""` reads the
    spec's secret `/team/api-key` from the parameter `/team/api-key`, the one the MWAA
    runtime's ECS tasks read. SSM is moto over HTTP; everything else is real."""
    import boto3
    from moto.core.base_backend import BackendDict
    from moto.server import ThreadedMotoServer

    secret = "ssm-Qv72-1f9e4c"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
    try:
        ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="eu-west-1", **_boto_keys(aws))
        ssm.put_parameter(Name="/team/api-key", Value=secret, Type="SecureString")
        project = _project(tmp_path)
        spec = project / "specs" / "sync.yaml"
        spec.write_text(
            "description: Sync the CRM export to the partner's API\n"
            "owner: team\n"
            "start_date: 2024-01-01\n"
            "tasks:\n"
            "  push:\n"
            f"    image: {EXAMPLE_IMAGE}\n"
            '    command: [sh, -ec, \'echo "using key $API_KEY"; printf %s "$API_KEY" | wc -c\']\n'
            "    secrets: {API_KEY: /team/api-key}\n"
        )
        backend = "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend"
        settings = {"variables_prefix": "", "endpoint_url": endpoint, "region_name": "eu-west-1"}
        env = {
            **aws,
            "AIRFLOW__SECRETS__BACKEND": backend,
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(settings),
        }
        done = factory_run(str(spec), home=airflow_home, env=env)
    finally:
        server.stop()
        BackendDict.reset()

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^push +\| using key \*\*\*$", done.stdout, re.M), done.stdout
    assert re.search(rf"^push +\| {len(secret)}$", done.stdout, re.M)
    assert secret not in done.stdout + done.stderr


def _boto_keys(aws: dict[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": aws["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"]}


@pytest.mark.docker
def test_ctrl_c_stops_the_container_and_removes_the_runs_containers(
    tmp_path: Path, airflow_home: Path, docker_client: docker.APIClient
) -> None:
    project = _project(tmp_path)
    spec = project / "specs" / "long.yaml"
    spec.write_text(
        "description: A long job someone gives up waiting for\n"
        "owner: tests\n"
        "start_date: 2024-01-01\n"
        "tasks:\n"
        "  crunch:\n"
        f"    image: {EXAMPLE_IMAGE}\n"
        # A well-behaved program: it exits on SIGTERM.
        "    command: [sh, -c, 'trap \"exit 143\" TERM; echo ready; sleep 300 & wait']\n"
        "  publish:\n"
        f"    image: {EXAMPLE_IMAGE}\n"
        "    command: [echo, never]\n"
        "    depends_on: [crunch]\n"
    )
    command = [sys.executable, "-m", "factory", "run", str(spec), "--airflow-home", str(airflow_home)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        # As in a terminal: SIGINT raises KeyboardInterrupt even if this test's own
        # parent ignores it (background jobs of a non-interactive shell do).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    watchdog = threading.Timer(120, process.kill)  # never wait for the 300 s sleep
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if re.match(r"crunch +\| ready$", line):
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=120)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    out = "".join(seen) + rest

    assert process.returncode == 130, out
    assert "FAIL crunch: interrupted (its container was stopped)" in out
    assert "removed container" in out and "(task crunch, exited (143)" in out
    assert "publish |" not in out  # nothing else ran
    assert containers_of(docker_client, "long") == []


def test_factory_run_says_how_to_start_an_engine_when_there_is_none(tmp_path: Path) -> None:
    project = _project(tmp_path, docker_url="unix:///nonexistent/docker.sock")
    spec = project / "specs" / "hello.yaml"
    shutil.copy(REPO / "specs" / "examples" / "hello.yaml", spec)
    (spec.parent / "_defaults.yaml").write_text("owner: tests\nstart_date: 2024-01-01\n")

    done = factory_run(str(spec))

    assert done.returncode == 2
    assert "no Docker engine reachable at unix:///nonexistent/docker.sock" in done.stderr
    assert "scripts/services docker-engine" in done.stderr
    assert not (project / ".cache").exists()  # nothing set up for a run that cannot happen


def test_factory_run_reports_spec_errors_like_lint(tmp_path: Path) -> None:
    project = _project(tmp_path)
    spec = project / "specs" / "broken.yaml"
    spec.write_text("description: broken\nowner: me\nstart_date: 2024-01-01\ntasks:\n  a:\n    imgae: x\n")

    done = factory_run(str(spec))

    assert done.returncode == 1
    assert "specs/broken.yaml:6:5" in done.stderr
    assert "imgae" in done.stderr


def _project(root: Path, docker_url: str = "unix://var/run/docker.sock") -> Path:
    (root / "specs").mkdir(parents=True)
    (root / "schemas").symlink_to(REPO / "schemas")
    (root / "specs" / "_platform.yaml").write_text(f"onprem:\n  docker_url: {docker_url}\n")
    return root


# -- waiting for an S3 object (SeaweedFS: a real S3 server) -----------------------------


def _waiting_spec(project: Path, bucket: str, timeout: str, on_timeout: str) -> Path:
    spec = project / "specs" / "drop.yaml"
    spec.write_text(
        "description: Load the partner's drop of the day\n"
        "owner: team\n"
        "start_date: 2024-01-01\n"
        f"wait_for: {{s3: 's3://{bucket}/{{{{ ds }}}}/_SUCCESS', timeout: {timeout}, check_every: 5s, "
        f"on_timeout: {on_timeout}}}\n"
        "tasks:\n"
        "  load:\n"
        f"    image: {EXAMPLE_IMAGE}\n"
        "    command: [sh, -ec, 'echo \"loading the drop of {{ ds }}\"']\n"
    )
    return spec


def _s3_connections(tmp_path: Path, s3_server: Any) -> Path:
    connections = tmp_path / "connections.json"
    connections.write_text(json.dumps({"aws_default": s3_server.connection()}))
    return connections


@pytest.mark.docker
def test_factory_run_waits_for_the_object_a_partner_drops_half_way(
    tmp_path: Path, airflow_home: Path, docker_client: object, s3_server: Any
) -> None:
    s3, bucket = s3_server.client(), f"drop-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    spec = _waiting_spec(_project(tmp_path), bucket, timeout="3m", on_timeout="fail")
    command = [sys.executable, "-m", "factory", "run", str(spec), "--airflow-home", str(airflow_home)]
    command += ["--connections", str(_s3_connections(tmp_path, s3_server))]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "NO_COLOR": "1"}
    )
    try:
        assert process.stdout is not None
        header = ""
        while "waits up to" not in header and process.poll() is None:
            header += process.stdout.readline()
        assert "waits up to 0:03:00 for s3://" in header, header
        # The wait has started looking (its first look is at once): only a while later
        # does the partner drop the object.
        while "wait wait_for: looking for s3://" not in header:
            assert process.poll() is None, header
            header += process.stdout.readline()
        time.sleep(7)
        dropped = time.monotonic()
        for day in _today_and_yesterday():  # a manual run's {{ ds }} is its logical date: now
            s3.put_object(Bucket=bucket, Key=f"{day}/_SUCCESS", Body=b"")
        out = header + process.communicate(timeout=180)[0]
    finally:
        process.kill()
    assert process.returncode == 0, out
    assert time.monotonic() - dropped < 60  # found at a check 5 s apart, not at the timeout
    waited = float(re.search(r"^wait_for\s+success\s+([\d.]+)s$", out, re.M).group(1))
    assert waited >= 7, out
    tasks = dict(re.findall(r"^(\w+)\s+(success|failed|skipped|upstream_failed)\s+[\d.]+s$", out, re.M))
    assert tasks == dict.fromkeys(["wait_for", "load", "cleanup", "cleanup_done", "verdict"], "success"), out
    (day,) = re.findall(r"^load +\| loading the drop of (\S+)$", out, re.M)
    assert day in _today_and_yesterday()


@pytest.mark.docker
def test_factory_run_ends_a_wait_that_times_out_as_the_spec_says(
    tmp_path: Path, airflow_home: Path, docker_client: object, s3_server: Any
) -> None:
    s3, bucket = s3_server.client(), f"drop-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    connections = str(_s3_connections(tmp_path, s3_server))
    project = _project(tmp_path / "project")
    # Skip: the run succeeds, with nothing run and nothing announced.
    spec = _waiting_spec(project, bucket, timeout="12s", on_timeout="skip")
    done = factory_run(str(spec), "--connections", connections, home=airflow_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded, 3 task(s) skipped (wait_for, load, verdict)" in done.stdout
    assert re.search(
        rf"^skip wait_for: s3://{bucket}/\S+/_SUCCESS did not appear within 0:00:12: skipped", done.stdout, re.M
    )
    # Fail: the run fails, saying what did not appear.
    spec = _waiting_spec(project, bucket, timeout="12s", on_timeout="fail")
    done = factory_run(str(spec), "--connections", connections, home=airflow_home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(rf"FAIL wait_for: s3://{bucket}/\S+/_SUCCESS did not appear within 0:00:12: failed", done.stdout)
    assert re.search(r"^load\s+upstream_failed", done.stdout, re.M)


def _today_and_yesterday() -> list[str]:
    today = datetime.now(UTC).date()
    return [today.isoformat(), (today - timedelta(days=1)).isoformat()]
