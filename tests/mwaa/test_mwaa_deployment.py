"""The core promise on MWAA's own packages, in a deployment run as MWAA runs it.

For MWAA 3.0.6 and 3.3.1 (their exact packages, mwaa_venvs.py): PostgreSQL as the
metadata DB; `api-server`, `scheduler`, `dag-processor` and `triggerer` as separate
processes; the CeleryExecutor with Redis and a Celery worker, as MWAA runs tasks. It is
`factory.local.Deployment`, the code of `factory up` and tests/deployment, given that
version's Python. The dags folder is what `factory sync` uploads to the MWAA bucket
(dags, specs, schemas and the package together), and the runtime is recognised from
AIRFLOW_ENV_NAME, which MWAA sets.

Beside the example specs sit a spec with a key typo and a file of garbage YAML. With
them present, every example DAG must be listed, not stale, and run through the
scheduler and the worker: each task an ECS task.

What is simulated, and why: ECS, CloudWatch Logs, SSM and IAM cannot run offline, so
they are moto in server mode over HTTP (conftest.py), with aws_harness.py playing the
ECS agent. The agent runs the example images for real on this machine's Docker engine
(`container_program`): what a container prints and how it exits is the container's own.
The sales, finance and marketing images do not exist here, so their containers are
Programs that print what the spec gave them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import mwaa_venvs
import pytest
import scenarios
from aws_harness import REGION, REPO, AwsWorld, EcsSimulator, Program, airflow_environment, container_program
from needs import EXAMPLE_IMAGE
from needs import need as _need

from factory.deploy.bundle import build_bundle
from factory.load.layout import REPORTER_FILE, Project
from factory.local.api import AirflowApi
from factory.local.deployment import Deployment
from factory.local.processes import ServiceError, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

VERSIONS = ("3.0.6", "3.3.1")
PARSE_INTERVAL = 5
BROKEN = "examples/broken_key.yaml"
GARBAGE = "examples/garbage.yaml"
# Each version's runs on their own day: ECS tasks are found again by startedBy, which
# derives from the run, so two versions' runs must never share one.
LOGICAL_DATE = {"3.0.6": "2024-06-03", "3.3.1": "2024-07-01"}
MARKETING_TOKEN = "/prod/marketing/ads-api-token"
ARTIFACTS = REPO / "tests" / "deployment" / "artifacts"


def example_dag_ids() -> set[str]:
    project = Project.at(REPO)
    return {project.dag_id(path) for path in project.spec_files()}


@dataclass
class MwaaBed:
    version: str
    deployment: Deployment
    api: AirflowApi
    dags: Path  # the dags folder: as synced to the bucket

    def wait(self, what: str, check: Any, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"MWAA {self.version}: {what}: not seen within {timeout:.0f}s")
            time.sleep(1)

    def reporter_errors(self) -> list[str]:
        errors = [e for e in self.api.import_errors() if e["filename"].endswith(REPORTER_FILE)]
        return errors[0]["stack_trace"].splitlines() if errors else []


@pytest.fixture(scope="module")
def programs(aws: AwsWorld, ecs: EcsSimulator, docker_engine: docker.APIClient) -> EcsSimulator:
    """What each image does in the simulated ECS (see the module's docstring)."""
    ecs.program(EXAMPLE_IMAGE, container_program(docker_engine, EXAMPLE_IMAGE))
    scenarios.install_programs(ecs)  # the sales and finance images
    for name in ("ads-fetch:3.2.0", "web-events:1.8.1", "attribution:0.9.4"):
        ecs.program(
            f"registry.internal.example.com/marketing/{name}",
            Program(lambda cmd, env, name=name: [f"{name.split(':')[0]}: {' '.join(cmd)}"]),
        )
    aws.client("ssm").put_parameter(Name=MARKETING_TOKEN, Value="ads-t0ken-77", Type="SecureString", Overwrite=True)
    aws.set_variable("ecs_cluster", aws.cluster)
    return ecs


def lay_out_bucket(root: Path) -> Path:
    """The dags folder exactly as `factory sync` uploads it, plus the two broken files."""
    dags = root / "dags"
    for item in build_bundle(REPO).files:
        target = dags / item.key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data)
    (dags / "specs" / BROKEN).write_text(scenarios.BROKEN_SPEC.format(command="comand"))
    (dags / "specs" / GARBAGE).write_text(scenarios.GARBAGE_SPEC)
    return dags


@pytest.fixture(scope="module", params=VERSIONS)
def mwaa_bed(
    request: pytest.FixtureRequest, programs: EcsSimulator, aws: AwsWorld, deployment_slot: Any
) -> Iterator[MwaaBed]:
    version: str = request.param
    for tool in ("redis-server", "runuser"):
        if not shutil.which(tool):
            _need(f"{tool} is not installed; run scripts/setup")
    venv = mwaa_venvs.ensure(version)
    # Not pytest's tmp_path: its folders are private to root, and PostgreSQL runs as its own user.
    root = Path(tempfile.mkdtemp(prefix=f"factory-mwaa-{version}-"))
    root.chmod(0o755)
    dags = lay_out_bucket(root)
    env = airflow_environment(aws, dags)
    # The runtime and the project are found as on MWAA: from the variables MWAA sets,
    # and beside the loader file.
    for key in ("FACTORY_RUNTIME", "FACTORY_HOME"):
        env.pop(key)
    env.update({"AIRFLOW_ENV_NAME": "factory-testbed", "AWS_EXECUTION_ENV": f"Amazon_MWAA_{version}"})
    deployment = Deployment(
        root / "state",
        dags,
        executor="celery",
        api_port=free_port(),
        parse_interval=PARSE_INTERVAL,
        extra_env=env,
        python=venv.python,
        dags_folder=dags,
    )
    deployment_slot.claim(f"tests/mwaa ({version})", deployment.stop)
    started = time.monotonic()
    try:
        deployment.start()
    except ServiceError as exc:
        pytest.fail(f"the MWAA {version} test bed did not start: {exc}")
    api = AirflowApi(deployment.url, "admin", deployment.password())
    bed = MwaaBed(version, deployment, api, dags)
    bed.wait("every example spec's DAG in the REST API", lambda: example_dag_ids() <= api.dag_ids(), timeout=180)
    print(f"MWAA {venv.describe()}: test bed up in {time.monotonic() - started:.0f}s")
    try:
        yield bed
    finally:
        deployment_slot.release()
        # Every component's log and the task logs, kept as test artifacts (git-ignored).
        artifacts = ARTIFACTS / f"mwaa-{version}-logs"
        shutil.rmtree(artifacts, ignore_errors=True)
        shutil.copytree(deployment.logs, artifacts, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)


def test_broken_specs_hide_no_example_dag_and_are_reported_with_their_lines(mwaa_bed: MwaaBed) -> None:
    lines = mwaa_bed.wait(
        "both broken specs reported", lambda: len(mwaa_bed.reporter_errors()) >= 3 and mwaa_bed.reporter_errors()
    )
    expected = example_dag_ids()
    assert lines[0] == (
        f"SpecErrors: 2 of {len(expected) + 2} spec files have errors and are not loaded: they have no DAG until "
        f"fixed. The other {len(expected)} are loaded as usual."
    )
    typo = f"specs/{BROKEN}:{scenarios.TYPO_LINE}:5: unknown key 'comand' in task 'greet' (did you mean 'command'?)"
    assert typo in lines
    assert any(re.match(rf"specs/{re.escape(GARBAGE)}:\d+:\d+: invalid YAML", line) for line in lines), lines
    # Only the reporter has an import error; the loader, which holds every DAG, has none.
    assert [Path(e["filename"]).name for e in mwaa_bed.api.import_errors()] == [REPORTER_FILE]
    # One more parse of the loader file with the broken files present, then look again.
    time.sleep(PARSE_INTERVAL + 2)
    assert expected <= mwaa_bed.api.dag_ids()
    for dag_id in sorted(expected):
        details = mwaa_bed.api.get(f"/dags/{dag_id}")
        assert (details["is_stale"], details["has_import_errors"]) == (False, False), dag_id
        assert "runtime:mwaa" in {t["name"] for t in details["tags"]}, dag_id


def test_every_example_dag_runs_on_ecs_through_the_scheduler_and_a_celery_worker(
    mwaa_bed: MwaaBed, aws: AwsWorld
) -> None:
    api, day = mwaa_bed.api, LOGICAL_DATE[mwaa_bed.version]
    confs = {"finance.monthly_close": {"period": day[:7]}}
    dag_ids = sorted(example_dag_ids())
    runs = {}
    for dag_id in dag_ids:
        api.unpause(dag_id)
        runs[dag_id] = api.trigger(dag_id, f"{day}T00:00:00Z", confs.get(dag_id))
    with ThreadPoolExecutor(len(runs) + 1) as pool:
        # The head of the orders chain waits for the partner's drop in S3 (moto's, as
        # the rest of AWS here): the partner drops each run's day once it is waiting.
        stop = threading.Event()
        dropper = pool.submit(_drop_orders_when_waited_for, api, aws, stop)
        try:
            waited = pool.map(lambda d: api.wait_for_run(d, runs[d], 420), dag_ids)
            finished = dict(zip(dag_ids, waited, strict=True))
        finally:
            stop.set()
        assert runs["examples.orders_extract"] in dropper.result()
    states = {d: {t: ti["state"] for t, ti in api.task_instances(d, runs[d]).items()} for d in dag_ids}

    # As designed: the quality gate fails (its data is always too thin), the rest succeed.
    for dag_id in dag_ids:
        if dag_id == "examples.quality_gate":
            assert finished[dag_id]["state"] == "failed", states[dag_id]
            assert states[dag_id] == {
                "check_volume": "failed",
                "publish": "upstream_failed",
                "tell_the_team": "success",  # run_if: one_failed
                "verdict": "upstream_failed",
            }
        else:
            assert finished[dag_id]["state"] == "success", (dag_id, states[dag_id])
            assert set(states[dag_id].values()) == {"success"}, (dag_id, states[dag_id])

    # Every task went from the scheduler through Redis to the worker process.
    worker_log = (mwaa_bed.deployment.logs / "celery-worker.log").read_text()
    for dag_id in dag_ids:
        for task_id in states[dag_id]:
            if states[dag_id][task_id] != "upstream_failed":
                assert f"task_id='{task_id}', dag_id='{dag_id}'" in worker_log, (dag_id, task_id)

    # The containers' own output, read back from CloudWatch into the task log, with the
    # templates the analyst wrote rendered for the run.
    log = api.log("examples.hello", runs["examples.hello"], "extract", 1)
    assert f"extracting orders of {day} from orders-db.internal:5432/shop" in log
    assert "extracted 8 orders" in log
    log = api.log("examples.quality_gate", runs["examples.quality_gate"], "check_volume", 1)
    assert f"FAILED: 50 orders in total for {day}, expected at least 500" in log
    log = api.log("sales.daily_rollup", runs["sales.daily_rollup"], "extract", 1)
    assert f"extract: reading orders for {day}" in log
    assert f"DB_PASSWORD received ({len(aws.secret_value)} characters)" in log
    assert aws.secret_value not in log
    log = api.log("finance.monthly_close", runs["finance.monthly_close"], "close_ledger", 1)
    assert f"ledger: closing period {day[:7]}" in log


def _drop_orders_when_waited_for(api: AirflowApi, aws: AwsWorld, stop: threading.Event) -> set[str]:
    """Put examples.orders_extract's drop for each run whose wait is deferred; those runs."""
    s3 = aws.client("s3")
    try:  # one moto for both versions' beds
        s3.create_bucket(Bucket="partner-drop", CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    dropped: set[str] = set()
    while not stop.wait(2):
        for run in api.get("/dags/examples.orders_extract/dagRuns", limit=100)["dag_runs"]:
            wait = api.task_instances("examples.orders_extract", run["dag_run_id"]).get("wait_for", {})
            if run["dag_run_id"] not in dropped and wait.get("state") == "deferred":
                s3.put_object(Bucket="partner-drop", Key=f"orders/{run['logical_date'][:10]}/_SUCCESS", Body=b"")
                dropped.add(run["dag_run_id"])
    return dropped


def test_fixing_the_broken_spec_brings_its_dag_and_clears_the_error(mwaa_bed: MwaaBed) -> None:
    (mwaa_bed.dags / "specs" / BROKEN).write_text(scenarios.BROKEN_SPEC.format(command="command"))
    (mwaa_bed.dags / "specs" / GARBAGE).unlink()
    dag_id = BROKEN.removesuffix(".yaml").replace("/", ".")
    mwaa_bed.wait("the fixed spec's DAG", lambda: dag_id in mwaa_bed.api.dag_ids(), timeout=2 * PARSE_INTERVAL + 30)
    mwaa_bed.wait("the import error cleared", lambda: not mwaa_bed.reporter_errors(), timeout=2 * PARSE_INTERVAL + 30)
    assert example_dag_ids() <= mwaa_bed.api.dag_ids()
