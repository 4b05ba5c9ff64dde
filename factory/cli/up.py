"""`factory up` / `factory down`: the project's specs in a real Airflow on this machine.

The same deployment as the test bed (factory.local): PostgreSQL, the api-server (UI on
http://localhost:8080), scheduler, dag-processor and triggerer, LocalExecutor, tasks
on the local Docker engine. The specs folder is live: Airflow re-reads it every few
seconds. `factory down` stops exactly what `factory up` started.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from factory.load.layout import REPORTER_FILE, Project
from factory.load.shards import LOADER_FILES

if TYPE_CHECKING:
    from factory.local.api import AirflowApi
    from factory.local.deployment import Deployment

PARSE_INTERVAL = 5  # seconds: an edited spec shows up in the UI within a few seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser(
        "up",
        help="start a local Airflow (UI on http://localhost:8080) serving this project's specs",
        description="Start Airflow as it is deployed (PostgreSQL, api-server, scheduler, dag-processor, "
        "triggerer; LocalExecutor, tasks on the local Docker engine) serving the specs of PROJECT. "
        "Exit 0 when it is up, 1 if something failed to start (its log is named), 2 on a usage error "
        "or when no Docker engine is reachable.",
    )
    up.add_argument("--project", type=Path, default=Path.cwd(), help="the folder holding specs/ (default: here)")
    up.add_argument("--port", type=int, default=8080, help="port of the UI and REST API (default: 8080)")
    up.add_argument("--executor", choices=("local", "celery"), default="local", help="default: local")
    up.set_defaults(handler=start)
    down = subparsers.add_parser(
        "down",
        help="stop what `factory up` started",
        description="Stop exactly the processes `factory up` started for PROJECT. Exit 0.",
    )
    down.add_argument("--project", type=Path, default=Path.cwd(), help="the folder holding specs/ (default: here)")
    down.add_argument("--wipe", action="store_true", help="also delete its database, logs and settings")
    down.set_defaults(handler=stop)


def _state_dir(project: Path) -> Path:
    return project.resolve() / ".cache" / "up"


def start(args: argparse.Namespace) -> int:
    project: Path = args.project.resolve()
    needed = ("specs", *(f"dags/{name}" for name in LOADER_FILES), f"dags/{REPORTER_FILE}")
    missing = [p for p in needed if not (project / p).exists()]
    if missing:
        print(f"factory up: {project} is not a factory project: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    problem = _docker_problem()
    if problem:
        from factory.cli.run import HOW_TO_START_DOCKER

        print(f"factory up: no Docker engine ({problem}). {HOW_TO_START_DOCKER}", file=sys.stderr)
        return 2

    from importlib import metadata

    from factory.local.api import AirflowApi
    from factory.local.deployment import Deployment
    from factory.local.processes import ServiceError

    deployment = Deployment(
        _state_dir(project), project, executor=args.executor, api_port=args.port, parse_interval=PARSE_INTERVAL
    )
    if deployment.running():
        print(f"factory up: already running at {_recorded_url(deployment)}; `factory down` stops it", file=sys.stderr)
        return 1
    version = metadata.version("apache-airflow")
    print(f"factory up: Airflow {version} ({args.executor} executor) for {project}", flush=True)
    try:
        deployment.start(on_step=lambda step: print(f"  starting {step}", flush=True))
    except ServiceError as exc:
        print(f"factory up: {exc}", file=sys.stderr)
        return 1
    api = AirflowApi(deployment.url, "admin", deployment.password())
    dags, errors = _first_parse(api, len(Project.at(project).spec_files()))
    shown = _shown(deployment.logs)
    print(f"\nAirflow is up: {deployment.url}  (user admin, password {deployment.password()})")
    print(f"  DAGs:    {dags} from {_shown(project / 'specs')}; {errors}")
    print(f"  live:    an edited spec shows up within about {2 * PARSE_INTERVAL} s")
    print(f"  logs:    {shown}/<component>.log, task logs in {shown}/tasks")
    print("  started: " + ", ".join(f"{p.name} (pid {p.pid})" for p in deployment.started))
    print("  stop:    factory down")
    return 0


def _first_parse(api: AirflowApi, specs: int, timeout: float = 120) -> tuple[int, str]:
    """How many DAGs and broken specs the first parse found. Waits until every spec has
    its DAG or is reported broken: the loader files land one by one."""
    deadline = time.monotonic() + timeout
    count, broken = 0, []
    while time.monotonic() < deadline:
        count = len(api.dag_ids())
        broken = [e for e in api.import_errors() if e["filename"].endswith(REPORTER_FILE)]
        head = re.match(r"SpecErrors: (\d+) of \d+ spec files", broken[0]["stack_trace"]) if broken else None
        if count + (int(head.group(1)) if head else 0) >= specs:
            break
        time.sleep(1)
    if not broken:
        return count, "no spec has errors"
    lines = broken[0]["stack_trace"].splitlines()
    return count, "spec errors (also shown in the UI):\n" + "\n".join(f"    {line}" for line in lines[1:])


def stop(args: argparse.Namespace) -> int:
    from factory.local.deployment import Deployment

    deployment = Deployment(_state_dir(args.project), args.project)
    stopped = deployment.stop()
    if stopped:
        print("factory down: stopped " + ", ".join(stopped))
    else:
        print("factory down: nothing was running")
    if args.wipe:
        deployment.wipe()
        print(f"factory down: deleted {_shown(deployment.state_dir)}")
    return 0


def _recorded_url(deployment: Deployment) -> str:
    import json

    try:
        return json.loads((deployment.state_dir / "state.json").read_text())["url"]
    except (OSError, ValueError, KeyError):
        return "an unknown address"


def _docker_problem() -> str | None:
    import docker
    from docker.errors import DockerException

    try:
        docker.APIClient(base_url="unix://var/run/docker.sock", version="auto", timeout=10).ping()
    except DockerException as exc:
        return str(exc).splitlines()[0]
    return None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
