"""dags/ on what Amazon MWAA actually installs: each MWAA version's Airflow and amazon
provider, from its constraints file, in its own virtualenv (mwaa_venvs.py).

- parse: dags/ of this checkout, and the folder as synced to the MWAA bucket, give one
  DAG per example spec made of FactoryEcsRunTaskOperator tasks, with no import error
  and without the docker provider;
- run: the end-to-end scenarios of test_e2e.py (scenarios.py) in each version's
  Airflow, with its amazon provider (9.0.0 on 2.10.3 up to 9.34.0 on 3.3.1), against
  one moto.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import mwaa_venvs
import pytest
import scenarios
from aws_harness import REPO, AwsWorld, EcsSimulator, mwaa_project
from notify_sinks import received

from factory.load.layout import Project
from factory.load.shards import LOADER_FILES

pytestmark = pytest.mark.slow

# Versions whose DAG runs are tested end to end; every version is parsed.
RUN_VERSIONS = mwaa_venvs.VERSIONS
# MWAA's DAG processor gives up on a file after [core] dagbag_import_timeout.
DAGBAG_IMPORT_TIMEOUT = 30


@pytest.fixture(scope="module")
def venvs(request: pytest.FixtureRequest) -> dict[str, mwaa_venvs.MwaaVenv]:
    started = time.monotonic()
    built = mwaa_venvs.ensure_all()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    summary = "; ".join(v.describe() for v in built.values())
    if reporter is not None:
        reporter.write_line(f"MWAA virtualenvs ({time.monotonic() - started:.0f}s): {summary}")
    return built


def expected_dags() -> set[str]:
    project = Project.at(REPO)
    return {project.dag_id(path) for path in project.spec_files()}


def bucket_layout(tmp: Path) -> Path:
    """The dags folder as the MWAA bucket holds it (see README.md's MWAA section)."""
    dags = tmp / "dags"
    dags.mkdir()
    for name in (*LOADER_FILES, "factory_spec_errors.py", ".airflowignore"):
        shutil.copy2(REPO / "dags" / name, dags)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("factory", "schemas", "specs"):
        shutil.copytree(REPO / folder, dags / folder, ignore=ignore)
    return dags


def parse(venv: mwaa_venvs.MwaaVenv, folder: Path, home: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    full_env = scenarios.base_environment(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            **env,
        }
    )
    done = subprocess.run(
        [str(venv.python), str(Path(__file__).with_name("parse_dags.py")), str(folder), *extra],
        env=full_env,
        cwd=home,  # not the repository: `factory` must come from the dags folder
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(
    venvs: dict[str, mwaa_venvs.MwaaVenv], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Any]:
    """Every version x layout, two at a time (one per core)."""
    bucket = bucket_layout(tmp_path_factory.mktemp("mwaa-bucket"))
    homes = tmp_path_factory.mktemp("parse-homes")
    jobs = []
    for version, venv in venvs.items():
        # The checkout, told the runtime explicitly.
        jobs.append(((version, "checkout"), venv, REPO / "dags", {"FACTORY_RUNTIME": "mwaa"}, ()))
        # The bucket copy, on sys.path and recognising MWAA by the variables it sets.
        mwaa_env = {"AIRFLOW_ENV_NAME": "factory-test", "MWAA_AIRFLOW_COMPONENT": "scheduler"}
        jobs.append(((version, "bucket"), venv, bucket, mwaa_env, ("--on-sys-path",)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda job: (job[0], parse(job[1], job[2], homes / "-".join(job[0]), job[3], *job[4])), jobs)
        return dict(results)


@pytest.mark.parametrize("layout", ["checkout", "bucket"])
@pytest.mark.parametrize("version", mwaa_venvs.VERSIONS)
def test_dags_parse_on_mwaa(
    version: str, layout: str, parsed: dict[tuple[str, str], Any], record_property: Any
) -> None:
    report = parsed[(version, layout)]
    record_property("seconds_parse", report["seconds_parse"])
    print(
        f"MWAA {version} {layout}: import airflow {report['seconds_import_airflow']}s, parse {report['seconds_parse']}s"
    )
    pinned = re.search(
        r"^apache-airflow-providers-amazon==(\S+)$",
        mwaa_venvs.constraints_file(version).read_text(),
        re.MULTILINE,
    )
    assert report["airflow"] == version
    assert pinned and report["amazon_provider"] == pinned.group(1)
    assert report["import_errors"] == {}
    # On 3.0 alone the reporter holds a task-less DAG while no spec is broken (factory.loader,
    # _import_errors_need_a_dag_to_clear): without it 3.0 never clears a fixed spec's error.
    reporter_dag = {"factory_spec_errors"} if version.startswith("3.0.") else set()
    assert set(report["dags"]) == expected_dags() | reporter_dag
    assert report["dags"].pop("factory_spec_errors", {}) == {}
    for dag_id, tasks in report["dags"].items():
        assert tasks.pop("verdict") == "EmptyOperator", dag_id  # announces the pipeline's success
        # A wait for an S3 object: the amazon provider's sensor, on this version's provider.
        waits = {t for t, kind in tasks.items() if kind == "FactoryS3WaitSensor"}
        assert waits == ({"wait_for"} if dag_id == "examples.orders_extract" else set()), dag_id
        for task in waits:
            tasks.pop(task)
        # A fan-out (for_each over a list parameter): the copies, and the task that reads the list.
        fanned = dag_id == "examples.region_reprocess"
        readers = {t for t, kind in tasks.items() if kind == "FactoryItemsOperator"}
        assert readers == ({"reprocess_items"} if fanned else set()), dag_id
        mapped = {t for t, kind in tasks.items() if kind == "MappedOperator"}
        assert mapped == ({"reprocess"} if fanned else set()), dag_id
        for task in readers | mapped:
            tasks.pop(task)
        assert tasks and set(tasks.values()) == {"FactoryEcsRunTaskOperator"}, dag_id
    # MWAA has no docker provider, and the MWAA runtime never reaches for it.
    assert not report["docker_provider_installed"]
    assert report["docker_modules_imported"] == []
    # .airflowignore kept the DAG processor out of the package, specs and schemas.
    assert sorted(Path(f).name for f in report["files_parsed"]) == sorted([*LOADER_FILES, "factory_spec_errors.py"])
    if layout == "bucket":
        # The package copied beside the loader, not one from elsewhere.
        assert Path(report["factory_from"]).is_relative_to(Path(report["folder"]) / "factory")
    assert report["seconds_parse"] < DAGBAG_IMPORT_TIMEOUT / 3


LATE_SPEC = """\
description: Should be done within two hours of its scheduled time
owner: platform-tests
start_date: 2024-01-01
deadline: {within: 2h}
notify:
  - email: oncall@example.com
    when: [failure, late]
tasks:
  load:
    image: factory-tests/load:1
"""
SLACK_SPEC = """\
description: Tells a Slack channel when it fails
owner: platform-tests
start_date: 2024-01-01
notify:
  - slack: "#data-alerts"
tasks:
  load:
    image: factory-tests/load:1
"""


# Every key of the spec language but deadline and Slack (above), in one spec.
EVERY_KEY_SPEC = """\
description: Uses every key a spec has
owner: platform-tests
schedule: "0 3 * * *"
timezone: Europe/Paris
start_date: 2024-01-01
end_date: 2030-12-31
catchup: false
tags: [every-key]
max_active_runs: 2
max_active_tasks: 4
retries: 2
retry_delay: 1m
retry_backoff: exponential
max_retry_delay: 10m
timeout: 1h
depends_on_past: false
pool: warehouse
after_any: [examples.hello, examples.orders_totals]
notify:
  - email: oncall@example.com
    when: [failure, retry, success, recovery]
  - sns: arn:aws:sns:eu-west-1:123456789012:checks-alerts
params:
  regions: {type: list, default: [eu, us], description: Regions}
  day: {type: date, default: "2024-01-01"}
  mode: {type: enum, values: [full, delta], default: delta}
  limit: {type: integer, default: 10}
  ratio: {type: number, default: 0.5}
  dry: {type: boolean, default: false}
  note: {type: string, default: x}
wait_for: {s3: "s3://partner-drop/{{ ds }}/_SUCCESS", timeout: 1h, on_timeout: skip, check_every: 30s}
tasks:
  per_region:
    image: factory-tests/load:1
    command: [load, --region, "{{ item }}", --day, "{{ params.day }}", --mode, "{{ params.mode }}"]
    env: {LIMIT: "{{ params.limit }}", RATIO: "{{ params.ratio }}", DRY: "{{ params.dry }}", NOTE: "{{ params.note }}"}
    secrets: {DB_PASSWORD: /prod/sales/db-password}
    cpu: 0.5
    memory: 1GiB
    for_each: {param: regions, at_once: 1}
    priority: 5
    depends_on_past: true
  per_table:
    image: factory-tests/load:1
    env: {TABLE: "{{ item }}"}
    for_each: {values: [orders, customers]}
    wait_for: {s3: "s3://partner-drop/tables/", timeout: 2h}
  report:
    image: factory-tests/report:1
    depends_on: [per_region, per_table]
    run_if: none_failed
    retries: 0
    updates: [checks.regions_loaded]
  tell:
    image: factory-tests/report:1
    depends_on: [report]
    run_if: one_failed
    pool: default_pool
"""


@pytest.mark.parametrize("version", mwaa_venvs.VERSIONS)
def test_what_a_version_lacks_is_a_located_error_that_hides_no_other_dag(
    version: str, venvs: dict[str, mwaa_venvs.MwaaVenv], tmp_path: Path
) -> None:
    """A deadline needs Deadline Alerts (Airflow 3.1+: MWAA 3.3.1 alone), and Slack its
    provider (no MWAA image installs it): each spec that asks gets an error at its key,
    through the broken-spec reporter, and every other DAG still loads, among them one
    that uses every other key of the spec language."""
    dags = bucket_layout(tmp_path)
    specs = dags / "specs"
    (specs / "checks").mkdir()
    (specs / "checks" / "late.yaml").write_text(LATE_SPEC)
    (specs / "checks" / "slack.yaml").write_text(SLACK_SPEC)
    (specs / "checks" / "every_key.yaml").write_text(EVERY_KEY_SPEC)
    platform = specs / "_platform.yaml"
    platform.write_text(platform.read_text().replace("notifications:\n", "notifications:\n  slack: {}\n", 1))
    mwaa_env = {"AIRFLOW_ENV_NAME": "factory-test", "MWAA_AIRFLOW_COMPONENT": "scheduler"}
    report = parse(venvs[version], dags, tmp_path / "home", mwaa_env, "--on-sys-path")
    [(reporter, errors)] = report["import_errors"].items()
    assert reporter.endswith("factory_spec_errors.py")
    assert "specs/checks/slack.yaml:5:5: slack notifications need apache-airflow-providers-slack" in errors
    late_error = "specs/checks/late.yaml:4:1: deadline needs Airflow 3.1 or later (Deadline Alerts); this is Airflow"
    supports_deadlines = version == "3.3.1"
    assert (late_error in errors) is not supports_deadlines, errors
    loaded = set(report["dags"]) - {"factory_spec_errors"}
    assert loaded == expected_dags() | {"checks.every_key"} | ({"checks.late"} if supports_deadlines else set())
    assert report["dags"]["checks.every_key"] == {
        "wait_for": "FactoryS3WaitSensor",
        "wait_for_per_table": "FactoryS3WaitSensor",
        "per_region_items": "FactoryItemsOperator",
        "per_region": "MappedOperator",
        "per_table": "MappedOperator",
        "report": "FactoryEcsRunTaskOperator",
        "tell": "FactoryEcsRunTaskOperator",
        "verdict": "EmptyOperator",
    }


def migrate(venv: mwaa_venvs.MwaaVenv, home: Path) -> dict[str, str]:
    """A fresh Airflow home with a migrated SQLite metadata DB for this version."""
    env = scenarios.base_environment(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )
    done = subprocess.run(
        [str(venv.python), "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env


OutcomeFor = Callable[[str], tuple[scenarios.Outcome, scenarios.Days]]


@pytest.fixture(scope="module")
def alerts(aws: AwsWorld) -> Iterator[tuple[Any, str]]:
    """Where checks.exit_code's notify goes: a real SMTP server (aiosmtpd), and its SNS
    topic in moto with an SQS queue subscribed (nothing real serves SNS offline)."""
    from notify_sinks import smtp_sink, topic_with_queue

    _, queue = topic_with_queue(aws.client, "checks-alerts")
    with smtp_sink() as sink:
        yield sink, queue


@pytest.fixture(scope="module")
def outcome_for(
    venvs: dict[str, mwaa_venvs.MwaaVenv],
    aws: AwsWorld,
    ecs: EcsSimulator,
    alerts: tuple[Any, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> OutcomeFor:
    """Runs the scenarios in one version's Airflow when a test first asks for it."""
    project = mwaa_project(tmp_path_factory.mktemp("mwaa-project"))
    done: dict[str, tuple[scenarios.Outcome, scenarios.Days]] = {}

    def run(version: str) -> tuple[scenarios.Outcome, scenarios.Days]:
        if version not in done:
            home = tmp_path_factory.mktemp(f"airflow-{version}")
            env = migrate(venvs[version], home)
            # The platform file's notifications.email connection, to the SMTP server.
            env["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(alerts[0].connection())
            # Each Airflow gets its own days: its runs, and so its ECS startedBy, are its own.
            days = scenarios.Days(date(2024, 6 + RUN_VERSIONS.index(version), 1))
            outcome = scenarios.run_scenarios(venvs[version].python, env, home / "airflow.db", aws, ecs, project, days)
            done[version] = (outcome, days)
        return done[version]

    return run


@pytest.mark.parametrize("version", RUN_VERSIONS)
def test_specs_run_on_mwaa_provider(
    version: str, outcome_for: OutcomeFor, aws: AwsWorld, ecs: EcsSimulator, alerts: tuple[Any, str]
) -> None:
    outcome, days = outcome_for(version)
    scenarios.check_no_import_errors(outcome)
    scenarios.check_registered_once_and_reused(outcome, aws)
    scenarios.check_container_logs_in_task_log(outcome, days)
    scenarios.check_platform_values_rendered_at_run_time(outcome, aws, ecs)
    scenarios.check_secrets_are_arns_never_values(outcome, aws)
    scenarios.check_non_zero_exit_fails_with_log_tail(outcome)
    scenarios.check_timeout_stops_ecs_task(outcome, ecs)
    scenarios.check_existing_task_definition(outcome, aws, ecs)
    scenarios.check_unreadable_secret_fails_with_ecs_reason(outcome)
    scenarios.check_reattached_not_restarted(outcome, aws, ecs)
    scenarios.check_documented_iam_policy_covers_calls(outcome)
    scenarios.check_wait_for_s3_object(outcome, days)
    sink, queue = alerts
    _published.extend(received(aws.client, queue))
    scenarios.check_failure_notified(outcome, sink.messages, _published)


_published: list[dict[str, str]] = []  # every version's SNS messages, as the queue gives them once


# -- lint-clean specs of every shape build on every version --------------------------


def generated_clean_specs(count: int) -> list[str]:
    """`count` specs that lint accepts, generated as the lint-contract test generates them
    (tests/contract/strategies.py: from the schema, then mutated), deterministically."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "contract"))
    import strategies
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    texts: list[str] = []

    @settings(max_examples=count * 6, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        _how, text = data.draw(strategies.mutated(data.draw(strategies.valid_specs())))
        texts.append(text)

    collect()
    return texts


def test_lint_clean_generated_specs_build_on_every_mwaa_version(
    venvs: dict[str, mwaa_venvs.MwaaVenv], tmp_path: Path
) -> None:
    from factory.lint import lint_paths

    project = tmp_path / "project"
    for folder in ("dags", "factory", "schemas"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    generated = project / "specs" / "generated"
    generated.mkdir(parents=True)
    shutil.copy2(REPO / "specs" / "_platform.yaml", project / "specs")
    (project / "specs" / "_defaults.yaml").write_text("owner: analytics\nstart_date: 2024-01-01\n")
    for i, text in enumerate(generated_clean_specs(40)):
        (generated / f"case_{i:03d}.yaml").write_text(text, encoding="utf-8")
    # Keep what lint accepts: the promise under test is that those build everywhere.
    rejected = {Path(d.path).resolve() for d in lint_paths([generated]).errors}
    for path in rejected:
        path.unlink()
    clean = {f"generated.{p.stem}" for p in generated.glob("*.yaml")}
    assert len(clean) >= 20, f"only {len(clean)} lint-clean specs were generated"

    def parse_one(version: str) -> tuple[str, dict[str, Any]]:
        home = tmp_path / f"home-{version}"
        return version, parse(
            venvs[version], project / "dags", home, {"FACTORY_RUNTIME": "mwaa", "FACTORY_HOME": str(project)}
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = dict(pool.map(parse_one, venvs))
    # A deadline needs Deadline Alerts (Airflow 3.1+); elsewhere the loader refuses it at
    # its line, by design (test_what_a_version_lacks_is_a_located_error_that_hides_no_other_dag).
    with_deadline = {
        f"generated.{p.stem}" for p in generated.glob("*.yaml") if re.search(r"^deadline:", p.read_text(), re.M)
    }
    for version, report in reports.items():
        refused = set() if version == "3.3.1" else with_deadline
        if refused:
            [errors] = report["import_errors"].values()
            assert errors.count("deadline needs Airflow 3.1 or later") == len(refused), errors
            assert re.search(rf"\b{len(refused)} of \d+ spec files have errors", errors), errors  # and nothing else
        else:
            assert report["import_errors"] == {}, (version, report["import_errors"])
        missing = clean - refused - set(report["dags"])
        assert not missing, f"MWAA {version}: lint said OK, but no DAG for {sorted(missing)}"
