"""`factory run SPEC`: run one spec end to end on the local Docker engine, through Airflow.

Every task runs in dependency order through Airflow itself (`dag.test()`), on an
SQLite metadata DB under a project-local AIRFLOW_HOME that is set up on first use.
Each container's output is printed as it comes, straight from the engine; Airflow's
own log goes to a file. The run ends with a summary, and the exit code is 0 only if
every task succeeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from factory.cli.run_output import (
    ContainerOutput,
    Terminal,
    airflow_output_to,
    has_color,
    indent_after_first,
    shown_path,
)
from factory.diagnostics import SpecError
from factory.load.layout import Project
from factory.model import Spec
from factory.read import Reader
from factory.report.formats import text

HOW_TO_START_DOCKER = (
    "Start one with `scripts/services docker-engine` (in a checkout of this project), "
    "`sudo systemctl start docker`, or point the platform file's onprem.docker_url at a running engine."
)
# Airflow parses the project through this file, as a deployment's dags folder would.
_DAG_FILE = '''"""Airflow DAG file written by `factory run`: one DAG per spec of the project in FACTORY_HOME."""

from factory.loader import load_dags

load_dags(globals(), __file__)
'''


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a spec end to end on the local Docker engine, through Airflow",
        description="Run one spec end to end on the local Docker engine, through Airflow (dag.test()). "
        "Each task runs once (no retries). Exit 0 only if every task succeeded.",
    )
    parser.add_argument("spec", type=Path, help="the spec file")
    parser.add_argument(
        "--airflow-home",
        type=Path,
        metavar="DIR",
        help="Airflow home for local runs (default: .cache/airflow_home beside specs/)",
    )
    parser.add_argument(
        "--variables",
        type=Path,
        metavar="FILE",
        help="JSON or YAML file of Airflow Variables, e.g. the spec's secrets by name without the leading '/'",
    )
    parser.add_argument("--connections", type=Path, metavar="FILE", help="JSON or YAML file of Airflow Connections")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="start the tasks at once, without the spec's wait_for (its S3 objects need not exist); "
        "by default the run waits, through the aws_default connection (see --connections)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show Airflow's own log instead of a file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    spec_path: Path = args.spec
    if not spec_path.is_file():
        print(f"factory run: no such spec file: {spec_path}", file=sys.stderr)
        return 2
    for option, path in (("--variables", args.variables), ("--connections", args.connections)):
        if path is not None and not path.is_file():
            print(f"factory run: {option}: no such file: {path}", file=sys.stderr)
            return 2
    project = Project.containing(spec_path)
    if not spec_path.resolve().is_relative_to(project.specs_dir.resolve()):
        print(f"factory run: {spec_path} is not under a specs/ folder with schemas/ beside it", file=sys.stderr)
        return 2
    reader = Reader(project)
    try:
        platform = reader.read_platform()
        spec = reader.read_spec(spec_path.resolve())
    except SpecError as exc:
        print(text(exc.diagnostics, color=has_color(sys.stderr)), file=sys.stderr)
        return 1

    docker_url = platform.onprem.docker_url
    problem = _engine_problem(docker_url)
    if problem:
        print(f"factory run: no Docker engine reachable at {docker_url}: {problem}", file=sys.stderr)
        print(HOW_TO_START_DOCKER, file=sys.stderr)
        return 2

    root = project.specs_dir.parent
    home = (args.airflow_home or root / ".cache" / "airflow_home").resolve()
    _prepare_environment(home, root)
    out = Terminal.on_stdout()
    if not _ensure_metadata_db(home, out):
        return 2
    _note_missing_images(docker_url, [task.image for task in spec.tasks], out)
    if args.no_wait:
        spec = without_waits(spec)

    log_file = home / "logs" / "factory-run" / spec.dag_id / f"{time.strftime('%Y%m%dT%H%M%S')}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out.line(f"== factory run {spec.dag_id}: {len(spec.tasks)} task(s) on {docker_url}")
    if not args.verbose:
        out.line(f"   (Airflow's log: {shown_path(log_file)})")
    for wait in (spec.wait_for, *(task.wait_for for task in spec.tasks)):
        if wait:
            out.line(f"   waits up to {wait.timeout} for {wait.url} (--no-wait starts the tasks at once)")
    if spec.notify:
        # A try on one's own machine must not page the team.
        told = ", ".join(f"{n.target} {n.address}" for n in spec.notify)
        out.line(f"   tells nobody: a factory run does not notify ({told} in a deployment)")
        spec = dataclasses.replace(spec, notify=())
    with airflow_output_to(None if args.verbose else log_file):
        result = _run_dag(spec, platform, docker_url, out, args.variables, args.connections)
    return _summarise(result, out, None if args.verbose else log_file)


# -- set-up ------------------------------------------------------------------------------


def without_waits(spec: Spec) -> Spec:
    """The spec with no wait_for: its tasks start at once."""
    tasks = tuple(dataclasses.replace(task, wait_for=None) for task in spec.tasks)
    return dataclasses.replace(spec, wait_for=None, tasks=tasks)


def _engine_problem(docker_url: str) -> str | None:
    """Why the engine cannot be used, or None when it answers."""
    import docker
    from docker.errors import DockerException

    try:
        docker.APIClient(base_url=docker_url, version="auto", timeout=10).ping()
    except DockerException as exc:
        return str(exc).splitlines()[0]
    return None


def _prepare_environment(home: Path, root: Path) -> None:
    """Point Airflow at the project-local home before anything imports it.

    The database and dags folder are set explicitly so that a developer's own
    AIRFLOW__* settings (say, a shared Postgres) are never touched by a local run.
    """
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    dag_file = dags / "factory_dags.py"
    if not dag_file.is_file() or dag_file.read_text() != _DAG_FILE:
        dag_file.write_text(_DAG_FILE)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "FACTORY_HOME": str(root),
            "FACTORY_RUNTIME": "onprem",
        }
    )


def _ensure_metadata_db(home: Path, out: Terminal) -> bool:
    """Migrate the SQLite metadata DB on first use and after an Airflow upgrade."""
    marker = home / ".factory-db-version"
    version = metadata.version("apache-airflow")
    if (home / "airflow.db").is_file() and marker.is_file() and marker.read_text() == version:
        return True
    out.line(f"== setting up Airflow {version}'s metadata DB in {shown_path(home)} (first run only)")
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    if done.returncode != 0:
        print("factory run: `airflow db migrate` failed:", file=sys.stderr)
        print("\n".join((done.stdout + done.stderr).splitlines()[-20:]), file=sys.stderr)
        return False
    marker.write_text(version)
    return True


def _note_missing_images(docker_url: str, images: list[str], out: Terminal) -> None:
    """Say up front which images will be pulled: a locally built image that is missing
    is a common first-run surprise, and its pull error would come only later."""
    import docker
    from docker.errors import DockerException, NotFound

    client = docker.APIClient(base_url=docker_url, version="auto", timeout=10)
    for image in dict.fromkeys(images):
        try:
            client.inspect_image(image)
        except NotFound:
            out.line(
                f"   note: {image} is not on this engine; its task will pull it "
                "(the examples' image is built by `scripts/services example-image`)"
            )
        except DockerException:
            return


# -- the run -----------------------------------------------------------------------------


@dataclass
class RunResult:
    dag_id: str
    run_id: str
    run_state: str
    tasks: list[tuple[str, str, float | None]]  # task id, state, seconds
    errors: dict[str, str]  # task id -> why it failed


def _run_dag(
    spec: Any,
    platform: Any,
    docker_url: str,
    out: Terminal,
    variables: Path | None,
    connections: Path | None,
) -> RunResult:
    from factory.compile.dag import build_dag

    dag = build_dag(spec, platform, "onprem")
    errors: dict[str, str] = {}
    streamer = ContainerOutput(docker_url, spec.dag_id, out, width=max(len(t) for t in dag.task_ids))
    for task in dag.tasks:
        # A local try should show the first failure now, not after retry delays.
        task.retries = 0
        # dag.test() runs a deferred trigger inline and ignores its timeout
        # (airflow/sdk/definitions/dag.py): a wait that never comes would hang. Here the
        # sensor checks from the task itself, where its timeout holds.
        if type(task).__name__ == "FactoryS3WaitSensor":
            task.deferrable = False
            task.on_execute_callback = [_report_wait(out)]
            task.on_skipped_callback = [_report_skip(out)]
        task.on_success_callback = [_report_success(out, streamer)]
        task.on_failure_callback = [_report_failure(out, streamer, errors)]
    streamer.start()
    try:
        dag_run = dag.test(
            variable_file_path=str(variables.resolve()) if variables else None,
            conn_file_path=str(connections.resolve()) if connections else None,
        )
    except KeyboardInterrupt:
        # The running task's container was stopped by its operator; the cleanup task
        # will not run now, so remove what this run left before giving up.
        streamer.stop()
        _clean_after_interrupt(docker_url, spec.dag_id, streamer.run_id, out)
        raise
    finally:
        streamer.stop()
    tasks = []
    order = {task.task_id: index for index, task in enumerate(dag.tasks)}
    for ti in sorted(dag_run.get_task_instances(), key=lambda ti: order.get(ti.task_id, len(order))):
        state = str(getattr(ti.state, "value", ti.state) or "not run")
        copy = getattr(ti, "map_index", -1)
        name = f"{ti.task_id}[{getattr(ti, 'rendered_map_index', None) or copy}]" if copy >= 0 else ti.task_id
        tasks.append((name, state, ti.duration))
    return RunResult(
        dag_id=spec.dag_id,
        run_id=dag_run.run_id,
        run_state=str(getattr(dag_run.state, "value", dag_run.state)),
        tasks=tasks,
        errors=errors,
    )


def _report_success(out: Terminal, streamer: ContainerOutput) -> Callable[[dict[str, Any]], None]:
    def callback(context: dict[str, Any]) -> None:
        task_id = context["ti"].task_id
        streamer.drain(task_id)
        out.line(f"{out.green('ok')}   {_shown_task(context)}")

    return callback


def _shown_task(context: dict[str, Any]) -> str:
    """The task's id, and a for_each copy's item: per_region[eu]."""
    item = getattr(context["task"], "fan_out_item", None)
    return f"{context['ti'].task_id}[{item}]" if item is not None else context["ti"].task_id


def _report_wait(out: Terminal) -> Callable[[dict[str, Any]], None]:
    def callback(context: dict[str, Any]) -> None:
        task = context["task"]  # rendered: the key of this run
        every = timedelta(seconds=task.poke_interval)
        out.line(f"wait {task.task_id}: looking for {task.bucket_key} every {every}, for up to {task.wait_timeout}")

    return callback


def _report_skip(out: Terminal) -> Callable[[dict[str, Any]], None]:
    def callback(context: dict[str, Any]) -> None:
        why = getattr(context["task"], "skipped_because", None) or "skipped"
        out.line(f"{out.dim('skip')} {context['ti'].task_id}: {why}")

    return callback


def _report_failure(
    out: Terminal, streamer: ContainerOutput, errors: dict[str, str]
) -> Callable[[dict[str, Any]], None]:
    def callback(context: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import redact

        task_id = context["ti"].task_id
        streamer.drain(task_id)
        error = context.get("exception")
        if isinstance(error, KeyboardInterrupt):
            message = "interrupted (its container was stopped)"
        else:
            message = str(redact(str(error) or type(error).__name__)) if error else "failed"
        errors[_shown_task(context)] = message
        out.line(f"{out.red('FAIL')} {_shown_task(context)}: {indent_after_first(message)}")
        if isinstance(error, KeyboardInterrupt):
            # Ctrl-C reached the task, which Airflow records as a failure and goes on;
            # the person meant to stop the whole run.
            raise KeyboardInterrupt

    return callback


def _clean_after_interrupt(docker_url: str, dag_id: str, run_id: str | None, out: Terminal) -> None:
    import docker
    from docker.errors import DockerException

    from factory.cleanup import clean_run

    if run_id is None:
        return  # no container was started
    lines: list[str] = []
    try:
        report = clean_run(docker.APIClient(base_url=docker_url, version="auto", timeout=30), dag_id, run_id, lines)
    except DockerException as exc:
        out.line(f"could not remove this run's containers: {exc}")
        return
    if lines or report.errors:
        out.line("removed what this run left:")
    for line in [*lines, *report.errors]:
        out.line(f"  {line}")


def _summarise(result: RunResult, out: Terminal, log_file: Path | None) -> int:
    width = max([len("task"), *(len(task_id) for task_id, _, _ in result.tasks)])
    out.line("")
    out.line(f"{'task'.ljust(width)}  {'state':<15} duration")
    for task_id, state, seconds in result.tasks:
        shown = out.green(f"{state:<15}") if state == "success" else out.red(f"{state:<15}")
        if state == "skipped":
            shown = out.dim(f"{state:<15}")
        duration = f"{seconds:7.1f}s" if seconds is not None else "       -"
        out.line(f"{task_id.ljust(width)}  {shown} {duration}")
    # Skipped is what a spec asked for (a wait with on_timeout: skip): the run succeeds.
    failed = [task_id for task_id, state, _ in result.tasks if state not in ("success", "skipped")]
    skipped = [task_id for task_id, state, _ in result.tasks if state == "skipped"]
    verdict = out.green("succeeded") if not failed else out.red(f"failed ({len(failed)} task(s) did not succeed)")
    if skipped and not failed:
        verdict += f", {len(skipped)} task(s) skipped ({', '.join(skipped)})"
    out.line(f"\n{result.dag_id} run {result.run_id}: {verdict}; Airflow's run state: {result.run_state}")
    if log_file is not None and failed:
        out.line(f"Airflow's log of this run: {shown_path(log_file)}")
    return 1 if failed else 0
