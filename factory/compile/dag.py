"""The part of a DAG every runtime shares: schedule, defaults, tags, dependencies."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from factory.compile import assets, deadline, notify, waits
from factory.compile.airflow_compat import DAG, EmptyOperator
from factory.compile.docs import doc_md
from factory.compile.params import dag_params
from factory.compile.task_args import FAILURE_HANDLERS
from factory.model import Platform, Spec
from factory.model.spec import VERDICT_TASK

# DAG arguments whose defaults Airflow 3 reads from its configuration for every DAG
# built. A parse builds hundreds from one configuration, so read them once. Only
# arguments the installed DAG class has (Airflow 2 has none of these as fields).
_CONFIG_DEFAULTS = (
    ("max_active_tasks", "core", "max_active_tasks_per_dag", "getint"),
    ("max_consecutive_failed_dag_runs", "core", "max_consecutive_failed_dag_runs_per_dag", "getint"),
    ("disable_bundle_versioning", "dag_processor", "disable_bundle_versioning", "getboolean"),
)


@functools.cache
def _dag_config_defaults() -> dict[str, Any]:
    try:
        import attrs

        fields = attrs.fields_dict(DAG) if attrs.has(DAG) else {}
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 2: its DAG reads configuration its own way
        return {}
    return {name: getattr(conf, read)(section, key) for name, section, key, read in _CONFIG_DEFAULTS if name in fields}


def _dag_arguments(spec: Spec) -> dict[str, Any]:
    """The configuration's defaults, with what the spec sets itself."""
    found = _dag_config_defaults()
    return {**found, "max_active_tasks": spec.max_active_tasks} if spec.max_active_tasks else found


@functools.cache  # a parse builds hundreds of DAGs in a handful of zones
def _zone(name: str) -> Any:
    if name == "UTC":
        return UTC
    import pendulum  # Airflow's own time zones, on every version

    return pendulum.timezone(name)


def build_dag(spec: Spec, platform: Platform, runtime: str) -> Any:
    """One Airflow DAG for one spec, with tasks from the runtime's compiler."""
    zone = _zone(spec.timezone)
    start, end = spec.start_date, spec.end_date
    dag = DAG(
        dag_id=spec.dag_id,
        description=spec.description,
        schedule=assets.schedule(spec),
        # Airflow reads a cron schedule in the start date's time zone (DST included).
        start_date=datetime(start.year, start.month, start.day, tzinfo=zone),
        end_date=datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=zone) if end else None,
        catchup=spec.catchup,
        max_active_runs=spec.max_active_runs,
        tags=[*spec.tags, f"runtime:{runtime}"],
        default_args={"owner": spec.owner, **notify.task_callbacks(spec, platform)},
        doc_md=doc_md(spec, platform, runtime),
        params=dag_params(spec.params),
        **_dag_arguments(spec),
        **deadline.dag_arguments(spec, platform),
    )
    if runtime == "mwaa":
        from factory.compile.mwaa import add_tasks, aws_conn_id
    else:
        from factory.compile.onprem import add_tasks, aws_conn_id
    sensors = waits.add_sensors(dag, spec, aws_conn_id(platform))
    operators = add_tasks(dag, spec, platform)
    waits.link(spec, sensors, operators)
    for task in spec.tasks:
        for upstream in task.depends_on:
            operators[upstream] >> operators[task.name]
        if task.updates:
            operators[task.name].outlets = assets.outlets(task.updates)
    # The run's verdict: it succeeds when every spec task did (upstream_failed when one
    # failed, which fails the run), and announces this pipeline's success to the specs
    # that run after it (its outlet: the asset of its DAG id). A task that only runs
    # after a failure (run_if: one_failed) is skipped in a good run: it has no say.
    work = [operators[t.name] for t in spec.tasks if t.run_if not in FAILURE_HANDLERS]
    work >> EmptyOperator(
        task_id=VERDICT_TASK,
        dag=dag,
        trigger_rule="all_success",
        outlets=assets.outlets((spec.dag_id,)),
        # Told of the run's success (and recovery), and never of its own "failure".
        **notify.verdict_callbacks(spec, platform),
    )
    return dag
