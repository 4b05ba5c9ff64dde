"""MWAA end to end, on this repository's Airflow 3.3 and amazon provider: specs compiled
under FACTORY_RUNTIME=mwaa run through Airflow against moto (see scenarios.py)."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import pytest
import scenarios
from aws_harness import AwsWorld, EcsSimulator, mwaa_project

pytestmark = pytest.mark.slow

DAYS = scenarios.Days(date(2024, 5, 1))


@pytest.fixture(scope="module")
def outcome(
    tmp_path_factory: pytest.TempPathFactory, aws: AwsWorld, ecs: EcsSimulator, airflow_db: Path
) -> scenarios.Outcome:
    project = mwaa_project(tmp_path_factory.mktemp("mwaa-project"))
    return scenarios.run_scenarios(
        Path(sys.executable), dict(os.environ), airflow_db / "airflow.db", aws, ecs, project, DAYS
    )


def test_dags_load_without_import_errors(outcome: scenarios.Outcome) -> None:
    scenarios.check_no_import_errors(outcome)


def test_task_definition_registered_once_then_reused(outcome: scenarios.Outcome, aws: AwsWorld) -> None:
    scenarios.check_registered_once_and_reused(outcome, aws)


def test_container_output_appears_in_airflow_task_log(outcome: scenarios.Outcome) -> None:
    scenarios.check_container_logs_in_task_log(outcome, DAYS)


def test_cluster_and_subnets_come_from_ssm_variables_at_run_time(
    outcome: scenarios.Outcome, aws: AwsWorld, ecs: EcsSimulator
) -> None:
    scenarios.check_platform_values_rendered_at_run_time(outcome, aws, ecs)


def test_secrets_are_value_from_arns_and_never_values(outcome: scenarios.Outcome, aws: AwsWorld) -> None:
    scenarios.check_secrets_are_arns_never_values(outcome, aws)


def test_non_zero_exit_fails_task_with_log_tail(outcome: scenarios.Outcome) -> None:
    scenarios.check_non_zero_exit_fails_with_log_tail(outcome)


def test_timeout_stops_the_ecs_task(outcome: scenarios.Outcome, ecs: EcsSimulator) -> None:
    scenarios.check_timeout_stops_ecs_task(outcome, ecs)


def test_existing_task_definition_runs_as_registered(
    outcome: scenarios.Outcome, aws: AwsWorld, ecs: EcsSimulator
) -> None:
    scenarios.check_existing_task_definition(outcome, aws, ecs)


def test_unreadable_secret_fails_the_task_with_ecs_reason(outcome: scenarios.Outcome) -> None:
    scenarios.check_unreadable_secret_fails_with_ecs_reason(outcome)


def test_worker_restart_reattaches_instead_of_starting_a_copy(
    outcome: scenarios.Outcome, aws: AwsWorld, ecs: EcsSimulator
) -> None:
    scenarios.check_reattached_not_restarted(outcome, aws, ecs)


def test_documented_iam_policy_allows_every_call(outcome: scenarios.Outcome) -> None:
    scenarios.check_documented_iam_policy_covers_calls(outcome)


def test_a_wait_for_an_s3_object_defers_until_it_is_dropped(outcome: scenarios.Outcome) -> None:
    scenarios.check_wait_for_s3_object(outcome, DAYS)
