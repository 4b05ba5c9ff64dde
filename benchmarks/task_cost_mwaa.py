"""What one task run costs on MWAA: the AWS API calls it makes, counted against moto.

Used by task_cost.py. One spec task runs through Airflow's own `dag.test()` (this
repository's Airflow and amazon provider) with the platform file's values read from
Variables in SSM Parameter Store, as on MWAA, against moto in server mode: ECS,
CloudWatch Logs and SSM cannot run offline. moto serves in this process, with the
suite's ECS stand-in (tests/mwaa/aws_harness.py) playing ECS's agent and the container,
so every request Airflow sends is counted by IAM action where moto serves it.

Beside it runs the provider's own pattern, hand-written the way its docs show:
`EcsRegisterTaskDefinitionOperator` then `EcsRunTaskOperator` on the family's latest
revision, with the same container, Variables, logs and `reattach=True`.

Scenarios, each one `dag.test()` run (two fresh processes per pattern, see `measure`):
  first      the family has no revision yet;
  unchanged  the next day's run of the same spec;
  changed    a run after the spec's image changed;
  retry      the run's worker died with its ECS task running: Airflow retries the task,
             which must reattach to that task, not start a copy (for the provider
             pattern only its run task is retried; the register task had succeeded).
A parse alone (no run) is counted too: it must make no AWS call.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "mwaa"))  # the suite's moto account and ECS stand-in
from aws_harness import AwsWorld, EcsSimulator, Program, airflow_environment, create_account, run_dags  # noqa: E402

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cost/extract:{tag}"
FACTORY_DAG = "cost.extract"
PROVIDER_DAG = "provider_pattern"
PROVIDER_FAMILY = "provider-pattern-extract"
SCENARIOS = ("first", "unchanged", "changed", "retry")
FIRST_DAY = date(2024, 3, 1)

SPEC = """\
description: One container task, to count what a run costs
owner: data-platform
start_date: 2024-01-01
schedule: "@daily"
tasks:
  extract:
    image: {image}
    command: [python, extract.py, --date, "{{{{ ds }}}}"]
    env: {{STAGE: prod}}
    secrets: {{DB_PASSWORD: /prod/sales/db-password}}
    cpu: 0.5
    memory: 1GiB
"""

# The provider's pattern, as its docs show it, with the same container and platform values.
PROVIDER_DAG_FILE = """\
from datetime import datetime

from airflow.providers.amazon.aws.operators.ecs import EcsRegisterTaskDefinitionOperator, EcsRunTaskOperator
from airflow.sdk import DAG

IMAGE = {image!r}
LOGS = {{"awslogs-group": "/factory/tasks", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "factory"}}

# Native rendering: the subnets Variable ("a,b") becomes the list run_task needs.
with DAG("{dag}", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False,
         render_template_as_native_obj=True):
    register = EcsRegisterTaskDefinitionOperator(
        task_id="register",
        family="{family}",
        container_definitions=[{{
            "name": "extract", "image": IMAGE, "essential": True,
            "environment": [{{"name": "STAGE", "value": "prod"}}],
            "secrets": [{{"name": "DB_PASSWORD",
                          "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/sales/db-password"}}],
            "logConfiguration": {{"logDriver": "awslogs", "options": LOGS}},
        }}],
        # With units: native rendering would make "512" an int, which boto3 refuses.
        register_task_kwargs={{
            "cpu": "0.5 vCPU", "memory": "1 GB", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "executionRoleArn": "{{{{ var.value.ecs_execution_role_arn }}}}",
            "taskRoleArn": "{{{{ var.value.ecs_task_role_arn }}}}",
        }},
    )
    run = EcsRunTaskOperator(
        task_id="extract",
        cluster="{{{{ var.value.ecs_cluster }}}}",
        task_definition="{family}",  # the family's latest revision: the one just registered
        launch_type="FARGATE",
        overrides={{"containerOverrides": [
            {{"name": "extract", "command": ["python", "extract.py", "--date", "{{{{ ds }}}}"]}}
        ]}},
        network_configuration={{"awsvpcConfiguration": {{
            "subnets": "{{{{ var.value.ecs_subnets.split(',') }}}}",
            "securityGroups": "{{{{ var.value.ecs_security_groups.split(',') }}}}",
        }}}},
        awslogs_group="/factory/tasks", awslogs_region="eu-west-1", awslogs_stream_prefix="factory/extract",
        container_name="extract",  # without it, 9.34+ sleeps 10 s after run_task to look it up
        reattach=True,
    )
    register >> run
"""


@dataclass(frozen=True)
class Pattern:
    """One of the two ways of running the task: its DAG and where its files are."""

    name: str
    dag_id: str
    dags: Path
    family: str
    project: Path

    def write(self, tag: str) -> None:
        image = IMAGE.format(tag=tag)
        if self.name == "factory":
            spec = self.project / "specs" / "cost" / "extract.yaml"
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(SPEC.format(image=image))
        else:
            self.dags.mkdir(parents=True, exist_ok=True)
            (self.dags / "provider_pattern.py").write_text(
                PROVIDER_DAG_FILE.format(image=image, dag=self.dag_id, family=self.family)
            )


@contextmanager
def moto_account() -> Iterator[tuple[AwsWorld, EcsSimulator]]:
    from moto.core.base_backend import BackendDict
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sim = EcsSimulator()
    patch = pytest.MonkeyPatch()
    try:
        aws = create_account(f"http://{host}:{port}")
        sim.install(patch)
        for tag in ("1", "2"):
            sim.program(IMAGE.format(tag=tag), Program(lambda cmd, env: [f"extract: {cmd[-1]} done"]))
        yield aws, sim
    finally:
        patch.undo()
        sim.uninstall()
        server.stop()
        BackendDict.reset()


def measure(work: Path, python: Path, base: dict[str, str]) -> dict[str, Any]:
    """Calls per scenario and pattern, and the revisions each run registered. `base`: the
    environment of an Airflow whose metadata DB is migrated.

    Two processes per pattern: the spec as first written (first and unchanged runs),
    then the spec changed (changed, and the retry whose lost try started before the
    change). Calls are told apart by when they arrived: between a run's start and end,
    or outside every run, which is the parse."""
    project = work / "project"
    (project / "specs").mkdir(parents=True)
    shutil.copy(REPO / "specs" / "_platform.yaml", project / "specs" / "_platform.yaml")
    shutil.copytree(REPO / "schemas", project / "schemas")
    patterns = [
        Pattern("factory", FACTORY_DAG, REPO / "dags", "factory-cost-extract-extract", project),
        Pattern("provider", PROVIDER_DAG, work / "provider-dags", PROVIDER_FAMILY, project),
    ]
    days = {s: (FIRST_DAY + timedelta(days=i)).isoformat() + "T00:00:00+00:00" for i, s in enumerate(SCENARIOS)}
    results: dict[str, Any] = {}
    with moto_account() as (aws, sim):
        ecs = aws.client("ecs")
        for pattern in patterns:
            env = {**base, **airflow_environment(aws, project), "AIRFLOW__CORE__DAGS_FOLDER": str(pattern.dags)}
            per: dict[str, Any] = {"parse": Counter()}
            for tag, scenarios in (("1", ("first", "unchanged")), ("2", ("changed", "retry"))):
                pattern.write(tag)
                runs: list[dict[str, Any]] = [{"dag_id": pattern.dag_id, "logical_date": days[s]} for s in scenarios]
                if "retry" in scenarios:
                    start_the_lost_try(ecs, aws, pattern, days["retry"])
                    if pattern.name == "provider":  # only the run task is retried
                        runs[scenarios.index("retry")]["mark_success"] = "^register$"
                with sim.counting() as served:
                    batch = run_dags(python, env, runs)
                if batch.import_errors:
                    raise RuntimeError(f"{pattern.name}: import errors {batch.import_errors}")
                for scenario, run in zip(scenarios, batch.runs, strict=True):
                    if set(run.states.values()) - {"success"}:
                        raise RuntimeError(f"{pattern.name}/{scenario}: {run.states}\n{run.log[-3000:]}")
                    if scenario == "retry" and "Reattaching previously launched task" not in run.log:
                        raise RuntimeError(f"{pattern.name}/retry did not reattach:\n{run.log[-3000:]}")
                    calls = Counter(name for at, name in served if run.began <= at <= run.ended)
                    per[scenario] = {"calls": dict(calls), "revisions": calls["ecs:RegisterTaskDefinition"]}
                per["parse"].update(
                    name for at, name in served if not any(r.began <= at <= r.ended for r in batch.runs)
                )
            registered = sum(per[s]["revisions"] for s in SCENARIOS)
            if registered != revisions(ecs, pattern.family):
                raise RuntimeError(f"{pattern.name}: {registered} registrations counted, ECS holds a different number")
            per["parse"] = dict(per["parse"])
            results[pattern.name] = per
    return results


def start_the_lost_try(ecs: Any, aws: AwsWorld, pattern: Pattern, day: str) -> None:
    """The ECS task a worker started for this run's task before it died: startedBy is what
    the provider derives from the task instance, so the retry can find it."""
    from airflow.providers.amazon.aws.utils.identifiers import generate_uuid

    run_id = f"manual__{day}"
    ecs.run_task(
        cluster=aws.cluster,
        taskDefinition=pattern.family,
        launchType="FARGATE",
        startedBy=generate_uuid(pattern.dag_id, "extract", run_id, "-1"),
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": list(aws.subnets), "securityGroups": [aws.security_group]}
        },
        overrides={"containerOverrides": [{"name": "extract", "command": ["python", "extract.py", "--date", day]}]},
    )


def revisions(ecs: Any, family: str) -> int:
    return len(ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"])


def total(calls: dict[str, int]) -> int:
    return sum(calls.values())


def table(results: dict[str, Any]) -> tuple[list[str], bool]:
    """The Markdown tables, and the verdict: no AWS call at parse time, no more calls than
    the provider's pattern on a run, and no revision registered unless the spec changed."""
    f, p = results["factory"], results["provider"]
    lines = [
        "| scenario | factory: calls | revisions | provider pattern: calls | revisions |",
        "|---|--:|--:|--:|--:|",
        f"| parse only (no run) | {total(f['parse'])} | 0 | {total(p['parse'])} | 0 |",
    ]
    for scenario in SCENARIOS:
        fc, pc = total(f[scenario]["calls"]), total(p[scenario]["calls"])
        lines.append(f"| {scenario} | {fc} | {f[scenario]['revisions']} | {pc} | {p[scenario]['revisions']} |")
    runs_ok = all(total(f[s]["calls"]) <= total(p[s]["calls"]) for s in ("first", "unchanged", "changed"))
    revisions_ok = (f["unchanged"]["revisions"], f["retry"]["revisions"], f["changed"]["revisions"]) == (0, 0, 1)
    parse_ok = total(f["parse"]) == 0
    retry_gap = total(f["retry"]["calls"]) - total(p["retry"]["calls"])
    lines += [
        "",
        f"No AWS call while parsing: {verdict(parse_ok)}. No more calls than the provider's pattern on a first, "
        f"unchanged or changed run: {verdict(runs_ok)}. A revision registered only when the spec changed: "
        f"{verdict(revisions_ok)}. A retry that reattaches makes {retry_gap:+d} call(s) against the provider's "
        "retried run task"
        + (
            ": the Variables rendered into the factory's task definition are read from SSM even when the "
            "retry registers nothing."
            if retry_gap > 0
            else "."
        ),
        "",
        "Calls by IAM action (factory / provider pattern):",
        "",
        "| action | " + " | ".join(SCENARIOS) + " |",
        "|---|" + "--:|" * len(SCENARIOS),
    ]
    actions = sorted({a for r in (f, p) for s in SCENARIOS for a in r[s]["calls"]})
    for action in actions:
        cells = [f"{f[s]['calls'].get(action, 0)} / {p[s]['calls'].get(action, 0)}" for s in SCENARIOS]
        lines.append(f"| {action} | " + " | ".join(cells) + " |")
    return lines, parse_ok and runs_ok and revisions_ok


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"
