"""What the MWAA end-to-end tests run, and what they check, in any Airflow.

Three batches of DAG runs go through `run_dags.py` in a subprocess of some Airflow
(this repository's 3.3 venv, or one of MWAA's pinned versions):

  batch 1: sales.daily_rollup twice (register, then reuse), checks.exit_code (a
           non-zero exit), checks.timeout (a container that hangs),
           finance.monthly_close (a task definition its team registered by hand) and
           checks.missing_secret (a secret ECS cannot read);
  batch 2: sales.daily_rollup once more after its ECS task was started by a "previous
           worker", with the cluster Variable changed in SSM in between;
  batch 3: checks.drop, whose S3 object is dropped while its wait is deferred.

The checks are functions so that every Airflow is held to the same ones.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from aws_harness import (
    ACCOUNT,
    FINANCE_FAMILY,
    FINANCE_IMAGE,
    REGION,
    REPO,
    AwsWorld,
    Batch,
    EcsSimulator,
    Program,
    airflow_environment,
    run_dags,
)

SALES_EXTRACT = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sales-extract:1.4.2"
SALES_ROLLUP = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sales-rollup:2.0.0"
LOAD = "factory-tests/load:1"
EXPORT = "factory-tests/export:1"
REPORT = "factory-tests/report:1"
EXTRACT_FAMILY = "factory-sales-daily_rollup-extract"
ROLLUP_FAMILY = "factory-sales-daily_rollup-rollup"
AFTER_DROP = "factory-tests/rollup-after-drop:1"
DROP_BUCKET = "factory-checks-drop"
DROP_AFTER = 20  # seconds

# A spec with a key typo (`{command}` formatted to "comand" breaks it, to "command"
# fixes it), and a file that is not YAML at all.
BROKEN_SPEC = """\
description: One task, with a typo in one of its keys
schedule: null
tasks:
  greet:
    image: factory-examples/busybox:1.35
    {command}: [echo, hello]
"""
TYPO_LINE = 6  # of BROKEN_SPEC, where the key starts at column 5
GARBAGE_SPEC = "tasks: [this is not\n  - yaml: {at all\n\t:::\n"


INACTIVE_ASSET = "AirflowInactiveAssetInInletOrOutletException: Task has the following inactive assets"


def spec_states(run: Any) -> dict[str, str]:
    """The states of the spec's own tasks; the verdict after them (which announces the
    pipeline's success) is checked to follow them: success only when all of them did."""
    states = dict(run.states)
    verdict = states.pop("verdict", None)
    want = "success" if set(states.values()) == {"success"} else "upstream_failed"
    if verdict == "failed" and want == "success" and INACTIVE_ASSET in run.log:
        # A harness limit, not the product's: run_dags.py's dag.test() on Airflow 3.0 does
        # not activate assets as its DAG processor does, and 3.0 then refuses the outlet of
        # a later batch's verdict. In a real 3.0.6 deployment (test_mwaa_deployment.py) the
        # verdict succeeds and its asset starts the pipelines after it.
        return states
    assert verdict == want, (states, verdict, run.log[-4000:])
    return states


def install_programs(ecs: EcsSimulator) -> None:
    """What each image prints and how it ends."""
    ecs.program(
        SALES_EXTRACT,
        Program(
            lambda cmd, env: [
                f"extract: reading orders for {cmd[-1]}",
                # Proves ECS injected the secret, without ever printing it.
                f"extract: DB_PASSWORD received ({len(env.get('DB_PASSWORD', ''))} characters)",
                "extract: wrote 1234 rows",
            ]
        ),
    )
    ecs.program(SALES_ROLLUP, Program(lambda cmd, env: [f"rollup: totals for {cmd[-1]} published"]))
    ecs.program(AFTER_DROP, Program(lambda cmd, env: [f"rollup: the drop of {cmd[-1]} is in"]))
    ecs.program(
        LOAD,
        Program(
            lambda cmd, env: [f"load: chunk {i:02d} of 30" for i in range(1, 31)] + ["ERROR: table orders is locked"],
            exit_code=3,
        ),
    )
    ecs.program(EXPORT, Program(lambda cmd, env: ["export: started, this takes a while"], running_polls=None))
    ecs.program(REPORT, Program(lambda cmd, env: ["report: never printed, ECS cannot start it"]))
    ecs.program(
        FINANCE_IMAGE,
        Program(
            lambda cmd, env: [
                f"ledger: closing period {cmd[-1]}",
                f"ledger: LEDGER_DB_URL {'received' if env.get('LEDGER_DB_URL') else 'MISSING'}",
            ]
        ),
    )


@dataclass(frozen=True)
class Days:
    """The logical dates of one Airflow's runs; distinct per Airflow so their ECS tasks
    (whose startedBy derives from the run id) never meet."""

    first: date

    def at(self, offset: int) -> str:
        return datetime.combine(date.fromordinal(self.first.toordinal() + offset), time(), UTC).isoformat()

    def batch1(self) -> list[dict[str, Any]]:
        return [
            {"dag_id": "sales.daily_rollup", "logical_date": self.at(0)},
            {"dag_id": "sales.daily_rollup", "logical_date": self.at(1)},
            {"dag_id": "checks.exit_code", "logical_date": self.at(0)},
            {"dag_id": "checks.timeout", "logical_date": self.at(0)},
            {"dag_id": "finance.monthly_close", "logical_date": self.at(0), "conf": {"period": "2024-05"}},
            {"dag_id": "checks.missing_secret", "logical_date": self.at(0)},
        ]

    def batch2(self) -> list[dict[str, Any]]:
        return [{"dag_id": "sales.daily_rollup", "logical_date": self.at(2)}]


@dataclass
class Outcome:
    """Both batches of one Airflow, and where that Airflow keeps its metadata."""

    batch1: Batch
    batch2: Batch
    reattached_task_arn: str
    airflow_db: Path
    api_calls: set[str]  # what Airflow called, as IAM actions
    drop: Batch  # checks.drop: a wait for an S3 object (run_drop)


def run_scenarios(
    python: Path,
    base_env: dict[str, str],
    airflow_db: Path,
    aws: AwsWorld,
    ecs: EcsSimulator,
    project: Path,
    days: Days,
) -> Outcome:
    """Run both batches in the Airflow of `python` (whose metadata DB is migrated)."""
    from airflow.providers.amazon.aws.utils.identifiers import generate_uuid

    install_programs(ecs)
    env = {**base_env, **airflow_environment(aws, project), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    aws.set_variable("ecs_cluster", aws.cluster)
    with ecs.recording() as calls:
        batch1 = run_dags(python, env, days.batch1())

    # A worker started the extract task of the next run, then died. The platform team has
    # meanwhile moved the tasks to another cluster by changing the Variable in SSM: the
    # new worker must look there (rendered at run time) and reattach instead of starting
    # a second copy. startedBy is what the provider derives from the task instance.
    run = days.batch2()[0]
    run_id = f"manual__{run['logical_date']}"
    aws.set_variable("ecs_cluster", aws.other_cluster)
    try:
        ecs_client = aws.client("ecs")
        started = ecs_client.run_task(
            cluster=aws.other_cluster,
            taskDefinition=EXTRACT_FAMILY,
            launchType="FARGATE",
            startedBy=generate_uuid("sales.daily_rollup", "extract", run_id, "-1"),
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": list(aws.subnets), "securityGroups": [aws.security_group]}
            },
            overrides={"containerOverrides": [{"name": "extract", "command": ["python", "extract.py", "--date", "x"]}]},
        )
        with ecs.recording() as more_calls:
            batch2 = run_dags(python, env, days.batch2())
    finally:
        aws.set_variable("ecs_cluster", aws.cluster)
    assert batch2.runs[0].run_id == run_id, "dag.test() named the run differently; startedBy would not match"
    drop = run_drop(python, env, aws, days)
    return Outcome(batch1, batch2, started["tasks"][0]["taskArn"], airflow_db, calls | more_calls, drop)


def run_drop(python: Path, env: dict[str, str], aws: AwsWorld, days: Days) -> Batch:
    """checks.drop, whose object the partner drops while the wait is deferred: dag.test()
    runs the trigger inline, with this version's provider and aiobotocore (on S3 in moto).
    Dropped DROP_AFTER seconds into the batch: after the wait's first look (the batch
    parses the DAGs first), before its 5-minute timeout."""
    s3 = aws.client("s3")
    try:  # one moto for every version the module runs
        s3.create_bucket(Bucket=DROP_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    key = f"{days.at(0)[:10]}/_SUCCESS"
    timer = threading.Timer(DROP_AFTER, lambda: s3.put_object(Bucket=DROP_BUCKET, Key=key, Body=b""))
    timer.start()
    try:
        return run_dags(python, env, [{"dag_id": "checks.drop", "logical_date": days.at(0)}])
    finally:
        timer.cancel()


# -- the checks ------------------------------------------------------------------------


def revisions(aws: AwsWorld, family: str) -> list[str]:
    return aws.client("ecs").list_task_definitions(familyPrefix=family)["taskDefinitionArns"]


def check_no_import_errors(outcome: Outcome) -> None:
    assert outcome.batch1.import_errors == {}
    assert outcome.batch2.import_errors == {}


def check_registered_once_and_reused(outcome: Outcome, aws: AwsWorld) -> None:
    first, second = outcome.batch1.runs[0], outcome.batch1.runs[1]
    assert spec_states(first) == {"extract": "success", "rollup": "success"}, first.log[-3000:]
    assert spec_states(second) == {"extract": "success", "rollup": "success"}, second.log[-3000:]
    assert revisions(aws, EXTRACT_FAMILY) == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{EXTRACT_FAMILY}:1"]
    assert len(revisions(aws, ROLLUP_FAMILY)) == 1
    # The second run looked the revision up and found its content hash unchanged.
    assert f"{EXTRACT_FAMILY}:1 is up to date" in second.log
    assert "Registered task definition" not in second.log


def check_container_logs_in_task_log(outcome: Outcome, days: Days) -> None:
    log = outcome.batch1.runs[0].log
    day = days.at(0)[:10]
    for line in (
        f"extract: reading orders for {day}",
        "extract: wrote 1234 rows",
        f"rollup: totals for {day} published",
    ):
        assert line in log, f"{line!r} is not in the task log"


def check_platform_values_rendered_at_run_time(outcome: Outcome, aws: AwsWorld, ecs: EcsSimulator) -> None:
    """Cluster, subnets and security group came from the SSM-backed Variables."""
    tasks = ecs.backend("ecs").tasks
    ran = [
        t for t in tasks.get(aws.cluster, {}).values() if t.task_definition_arn.split("/")[-1].startswith("factory-")
    ]
    assert ran, "no factory task ran on the cluster named by the ecs_cluster Variable"
    for task in ran:
        vpc = task.network_configuration["awsvpcConfiguration"]
        # One Variable holding "subnet-a,subnet-b" became two subnets.
        assert vpc["subnets"] == list(aws.subnets)
        assert vpc["securityGroups"] == [aws.security_group]
    # Nothing was stored in Airflow's own Variable table: SSM served them.
    with sqlite3.connect(outcome.airflow_db) as db:
        assert db.execute("select count(*) from variable").fetchone()[0] == 0


def check_secrets_are_arns_never_values(outcome: Outcome, aws: AwsWorld) -> None:
    definition = aws.client("ecs").describe_task_definition(taskDefinition=EXTRACT_FAMILY)["taskDefinition"]
    container = definition["containerDefinitions"][0]
    assert container["secrets"] == [
        {"name": "DB_PASSWORD", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/sales/db-password"}
    ]
    assert all(e["name"] != "DB_PASSWORD" for e in container.get("environment", []))
    # ECS gave it to the container...
    assert f"DB_PASSWORD received ({len(aws.secret_value)} characters)" in outcome.batch1.runs[0].log
    # ...and it went nowhere Airflow keeps anything: not the logs, not the metadata DB
    # (rendered fields, XCom, serialized DAGs), not the task definition.
    assert aws.secret_value not in outcome.batch1.output + outcome.batch2.output
    assert aws.secret_value.encode() not in outcome.airflow_db.read_bytes()
    assert aws.secret_value not in repr(definition)


def check_non_zero_exit_fails_with_log_tail(outcome: Outcome) -> None:
    run = outcome.batch1.runs[2]
    assert run.states["load"] == "failed", run.log[-3000:]
    marker = "This task is not in success state - last 20 logs from Cloudwatch:"
    assert marker in run.log, run.log[-3000:]
    tail = run.log[run.log.index(marker) :]
    tail = tail[: tail.index("ERROR: table orders is locked") + 1]
    # The last 20 lines the container printed, and not the ones before them.
    assert "load: chunk 12 of 30" in tail
    assert "load: chunk 11 of 30" not in tail


def check_failure_notified(outcome: Outcome, mails: list[Any], published: list[dict[str, str]]) -> None:
    """checks.exit_code's failure told its email and SNS targets (through this Airflow's
    smtp and amazon providers), with the container's last CloudWatch lines. `mails` and
    `published` hold every version's: this run's are those naming its run id."""
    from notify_sinks import text_of

    run = outcome.batch1.runs[2]
    subject = "[factory] checks.exit_code: task load failed"
    bodies = [text_of(m) for m in mails if m["Subject"] == subject]
    bodies += [p["Message"] for p in published if p["Subject"] == subject]
    ours = [body for body in bodies if f"Run: {run.run_id}" in body.splitlines()]
    assert len(ours) == 2, (len(bodies), run.log[-3000:])
    for body in ours:
        assert "Pipeline: checks.exit_code (specs/checks/exit_code.yaml)" in body
        assert "Task: load (try 1 of 1)" in body
        assert "/dags/checks.exit_code/" in next(line for line in body.splitlines() if line.startswith("Log: "))
        assert "ERROR: table orders is locked" in body, body  # the container's last line, from CloudWatch


def check_timeout_stops_ecs_task(outcome: Outcome, ecs: EcsSimulator) -> None:
    from airflow.providers.amazon.aws.utils.identifiers import generate_uuid

    run = outcome.batch1.runs[3]
    assert run.states["export"] == "failed", run.log[-3000:]
    assert re.search(r"AirflowTaskTimeout|[Tt]imed out", run.log), run.log[-3000:]
    # The ECS task this run started (startedBy derives from the task instance) was
    # stopped, not left running after Airflow gave up on it.
    started_by = generate_uuid("checks.timeout", "export", run.run_id, "-1")
    stopped = [arn for arn, _ in ecs.stop_calls if ecs.ecs_task(arn).started_by == started_by]
    assert len(stopped) == 1, f"the ECS task of the timed-out Airflow task was not stopped: {ecs.stop_calls}"
    assert ecs.ecs_task(stopped[0]).last_status == "STOPPED"
    # What it printed before it was stopped still reached the task log.
    assert "export: started, this takes a while" in run.log


def check_existing_task_definition(outcome: Outcome, aws: AwsWorld, ecs: EcsSimulator) -> None:
    run = outcome.batch1.runs[4]
    assert spec_states(run) == {"close_ledger": "success"}, run.log[-3000:]
    # Nothing registered for it: the team's revision 12 ran, its first container got the
    # spec's command, and its own awslogs settings told where to read the output.
    assert len(revisions(aws, FINANCE_FAMILY)) == 12
    assert not revisions(aws, "factory-finance-")
    ran = [s for s in ecs.tasks.values() if s.command[:2] == ["ledger", "close"]]
    assert ran and ran[-1].command == ["ledger", "close", "--period", "2024-05"]
    assert f"{FINANCE_FAMILY}:12" in run.log
    assert "ledger: closing period 2024-05" in run.log
    assert "ledger: LEDGER_DB_URL received" in run.log


def check_unreadable_secret_fails_with_ecs_reason(outcome: Outcome) -> None:
    run = outcome.batch1.runs[5]
    assert spec_states(run) == {"report": "failed"}, run.log[-3000:]
    # ECS looked the parameter up by the ARN the operator built, and said why it failed.
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/checks/not-created"
    assert "ResourceInitializationError" in run.log and arn in run.log, run.log[-3000:]
    assert "report: never printed" not in run.log


def check_reattached_not_restarted(outcome: Outcome, aws: AwsWorld, ecs: EcsSimulator) -> None:
    run = outcome.batch2.runs[0]
    assert spec_states(run) == {"extract": "success", "rollup": "success"}, run.log[-3000:]
    assert f"Reattaching previously launched task: {outcome.reattached_task_arn}" in run.log
    started_by = ecs.backend("ecs").tasks[aws.other_cluster][outcome.reattached_task_arn].started_by
    assert len(ecs.tasks_started_by(aws.other_cluster, started_by)) == 1, "a second copy was started"
    assert not ecs.tasks_started_by(aws.cluster, started_by)
    # The output of the task it reattached to reached the log.
    assert "extract: wrote 1234 rows" in run.log
    # The rollup task found the moved cluster too.
    day = run.run_id.removeprefix("manual__")[:10]
    rollups = [
        arn
        for arn, task in ecs.tasks.items()
        if f"/{aws.other_cluster}/" in arn and task.command == ["python", "rollup.py", "--date", day]
    ]
    assert len(rollups) == 1


def base_environment(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment for an Airflow subprocess: no variables of the test run leak in."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**keep, **extra}


def documented_policy(name: str) -> dict[str, Any]:
    """The IAM policy README.md's MWAA section shows after `<!-- iam-policy: NAME -->`."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- iam-policy: {re.escape(name)} -->\s*```json\n(.*?)```", text, re.DOTALL)
    assert match, f"README.md's MWAA section has no policy marked {name}"
    return json.loads(match.group(1))


def check_documented_iam_policy_covers_calls(outcome: Outcome) -> None:
    """Every AWS API Airflow called on MWAA's behalf is allowed by the documented policy."""
    allowed = {
        action
        for statement in documented_policy("mwaa-execution-role")["Statement"]
        if statement["Effect"] == "Allow"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    missing = sorted(outcome.api_calls - allowed)
    assert not missing, f"README.md's MWAA section's MWAA execution role policy lacks {missing}"
    # Sanity: the calls were recorded at all.
    assert {"ecs:RunTask", "ssm:GetParameter", "logs:GetLogEvents"} <= outcome.api_calls


def check_wait_for_s3_object(outcome: Outcome, days: Days) -> None:
    """The wait looked, deferred, and its trigger found the object once it was dropped."""
    (run,) = outcome.drop.runs
    assert spec_states(run) == {"wait_for": "success", "export": "success"}, run.log[-4000:]
    # The trigger's own poll (amazon provider, aiobotocore): it waited in deferral.
    assert "Sleeping for 5.0 seconds" in run.log, run.log[-4000:]
    assert f"rollup: the drop of {days.at(0)[:10]} is in" in run.log
