"""Compiled on-prem DAGs run by Airflow (`dag.test()`) on the real Docker engine.

Each test writes a spec, compiles it with the real compiler and lets Airflow run it;
the containers' output is read from the task log (what dag.test() prints), and the
containers themselves from the engine.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable

import docker
import pytest
from onprem_harness import EXAMPLE_IMAGE, SpecProject, containers_of, rendered_fields, task_states, xcom_values

pytestmark = pytest.mark.docker

SECRET_NAME = "/tests/onprem/db-password"
SECRET_VALUE = "hunter2-Xq9-7c1f0e"  # long enough for Airflow's masker (more than 5 characters)


def _secret_env(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Provide a secret the way a worker can: an AIRFLOW_VAR_* variable, read by Airflow's
    environment secrets backend. The key is the secret name without its leading '/'."""
    monkeypatch.setenv(f"AIRFLOW_VAR_{name.removeprefix('/').upper()}", value)


def test_commands_env_and_secrets_reach_the_container_and_the_secret_never_shows(
    project: SpecProject,
    script_image: str,
    monkeypatch: pytest.MonkeyPatch,
    task_log: Callable[[], str],
) -> None:
    _secret_env(monkeypatch, SECRET_NAME, SECRET_VALUE)
    project.write_spec(
        "reach",
        {
            "inspect": {
                "image": EXAMPLE_IMAGE,
                "command": [
                    "sh",
                    "-ec",
                    'echo "greeting=$GREETING day=$DAY arg=$0"; '
                    'printf %s "$DB_PASSWORD" | sha256sum; '
                    # A careless program printing its secret: the log must show *** instead.
                    'echo "connecting with password $DB_PASSWORD"',
                    "{{ ds }}",
                ],
                "env": {"GREETING": "hello", "DAY": "{{ ds }}"},
                "secrets": {"DB_PASSWORD": SECRET_NAME},
            },
            # A command whose first element is a script ending in .sh runs as written;
            # the stock DockerOperator would look it up as a Jinja template file.
            "script": {
                "image": script_image,
                "command": ["/app/bin/report.sh", "--date", "{{ ds }}"],
                "env": {"REGION": "eu"},
                "depends_on": ["inspect"],
            },
        },
    )
    dag_run = project.dag("reach").test()
    output = task_log()

    assert task_states(dag_run) == {
        "inspect": "success",
        "script": "success",
        "cleanup": "success",
        "cleanup_done": "success",
        "verdict": "success",
    }
    day = dag_run.logical_date.strftime("%Y-%m-%d")
    assert f"greeting=hello day={day} arg={day}" in output
    assert hashlib.sha256(SECRET_VALUE.encode()).hexdigest() in output  # the container had the secret
    assert "connecting with password ***" in output
    assert f"report.sh ran with: --date {day}" in output
    assert "report.sh: REGION=eu" in output
    # The secret's value is nowhere Airflow keeps or shows things.
    assert SECRET_VALUE not in output
    assert SECRET_VALUE not in rendered_fields(dag_run.dag_id, dag_run.run_id)
    assert SECRET_VALUE not in xcom_values(dag_run.dag_id, dag_run.run_id)


def test_a_missing_secret_fails_the_task_naming_the_secret(
    project: SpecProject, docker_client: docker.APIClient, task_log: Callable[[], str]
) -> None:
    project.write_spec(
        "missing_secret",
        {"use": {"image": EXAMPLE_IMAGE, "command": ["true"], "secrets": {"API_TOKEN": "/tests/onprem/not-set"}}},
    )
    dag_run = project.dag("missing_secret").test()
    output = task_log()

    assert task_states(dag_run)["use"] == "failed"
    assert "Secret '/tests/onprem/not-set' (for $API_TOKEN) was not found" in output
    assert "no Airflow Variable 'tests/onprem/not-set'" in output
    assert containers_of(docker_client, "onprem.missing_secret") == []  # no container was started


def test_cpu_and_memory_are_real_limits_and_an_oom_kill_fails_the_task_clearly(
    project: SpecProject, docker_client: docker.APIClient, task_log: Callable[[], str]
) -> None:
    project.write_spec(
        "limits",
        {
            # The kernel's own view of the limits, from inside the container (cgroup v1 or v2).
            "measure": {
                "image": EXAMPLE_IMAGE,
                "command": [
                    "sh",
                    "-c",
                    "echo cpu=$(cat /sys/fs/cgroup/cpu.max 2>/dev/null "
                    "|| echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)); "
                    "echo mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null "
                    "|| cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
                ],
                "cpu": 0.5,
                "memory": "48MiB",
            },
            # dd's 64 MiB block buffer does not fit in 16 MiB.
            "hog": {
                "image": EXAMPLE_IMAGE,
                "command": ["sh", "-ec", "echo allocating; dd if=/dev/zero of=/dev/null bs=64M count=1; echo done"],
                "memory": "16MiB",
            },
        },
    )
    # Keep the containers (no cleanup) to read their limits from the engine.
    dag_run = project.dag("limits").test(mark_success_pattern="cleanup")
    output = task_log()

    assert task_states(dag_run)["measure"] == "success"
    assert task_states(dag_run)["hog"] == "failed"
    quota = re.search(r"cpu=(\d+) (\d+)", output)
    assert quota is not None, output
    assert int(quota.group(1)) / int(quota.group(2)) == pytest.approx(0.5)
    assert f"mem={48 * 2**20}" in output
    assert "was killed (exit code 137) because it used more than its memory limit of 16 MiB (OOMKilled)" in output
    assert "allocating" in output.split("OOMKilled")[1]  # the last lines are in the error

    by_task = {c["Labels"]["dev.factory.task_id"]: c for c in containers_of(docker_client, "onprem.limits")}
    measured = docker_client.inspect_container(by_task["measure"]["Id"])
    assert measured["HostConfig"]["NanoCpus"] == 500_000_000
    assert measured["HostConfig"]["Memory"] == measured["HostConfig"]["MemorySwap"] == 48 * 2**20
    assert measured["Config"]["Labels"]["dev.factory.run_id"] == dag_run.run_id
    hog = docker_client.inspect_container(by_task["hog"]["Id"])
    assert hog["State"]["OOMKilled"] is True
    assert hog["State"]["ExitCode"] == 137


def test_a_non_zero_exit_fails_the_task_with_the_last_twenty_lines(
    project: SpecProject, task_log: Callable[[], str]
) -> None:
    project.write_spec(
        "exit_code",
        {
            "load": {
                "image": EXAMPLE_IMAGE,
                # Docker reads stdout and stderr through separate pipes, so their relative
                # order is only kept when time separates them.
                "command": [
                    "sh",
                    "-c",
                    'for i in $(seq 1 30); do echo "row $i"; done; sleep 0.5; echo "giving up" >&2; exit 3',
                ],
            },
            "after": {"image": EXAMPLE_IMAGE, "command": ["true"], "depends_on": ["load"]},
        },
    )
    dag_run = project.dag("exit_code").test()
    output = task_log()

    assert task_states(dag_run) == {
        "load": "failed",
        "after": "upstream_failed",
        "cleanup": "success",
        "cleanup_done": "success",
        "verdict": "upstream_failed",
    }
    error = output[output.index("exited with code 3") :]
    assert "Last 20 line(s) of its output:" in error
    assert "row 12" in error and "giving up" in error
    assert "row 11\n" not in error  # only the last twenty: rows 12..30 and the stderr line


def test_the_timeout_stops_the_container_not_just_the_task(
    project: SpecProject, docker_client: docker.APIClient, task_log: Callable[[], str]
) -> None:
    # `sleep` as PID 1 ignores SIGTERM, so this also shows the SIGKILL after the grace period.
    project.write_spec("timeout", {"slow": {"image": EXAMPLE_IMAGE, "command": ["sleep", "300"], "timeout": "3s"}})
    started = time.monotonic()
    dag_run = project.dag("timeout").test(mark_success_pattern="cleanup")
    elapsed = time.monotonic() - started
    output = task_log()

    assert task_states(dag_run)["slow"] == "failed"
    assert "AirflowTaskTimeout" in output
    (container,) = containers_of(docker_client, "onprem.timeout")
    state = docker_client.inspect_container(container["Id"])["State"]
    assert state["Running"] is False
    assert state["ExitCode"] == 137  # killed, long before `sleep 300` would have ended
    assert elapsed < 60


def test_date_templates_render_in_a_run_without_a_logical_date(
    project: SpecProject, task_log: Callable[[], str]
) -> None:
    # As `airflow dags trigger` or the REST API without a logical date start a run on Airflow 3.
    project.write_spec(
        "no_logical_date",
        {"dated": {"image": EXAMPLE_IMAGE, "command": ["echo", "day={{ ds }} stamp={{ ts_nodash }}"]}},
    )
    dag_run = project.dag("no_logical_date").test(logical_date=None)
    output = task_log()

    assert dag_run.logical_date is None
    assert task_states(dag_run)["dated"] == "success"
    # The dates the UI's trigger form would have given it: the time the run was asked for.
    assert f"day={dag_run.run_after:%Y-%m-%d} stamp={dag_run.run_after:%Y%m%dT%H%M%S}" in output
