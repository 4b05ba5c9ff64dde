"""The cleanup task of every on-prem DAG: remove this run's stopped containers and the
dangling images they leave.

The DAG runs it as `python -m factory.cleanup --docker-url URL --dag-id ID --run-id RUN`.
It finds containers only by the labels the factory put on them (managed, DAG id and
run id all matching), so it never touches anyone else's containers, and it removes
only images that those containers used and that no tag points to any more. It prints
what it removed and exits non-zero if anything could not be removed.

No Airflow import: it runs in a subprocess of the cleanup task and should start fast.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import docker
from docker.errors import APIError, DockerException, NotFound

from factory.compile import labels

# States in which a container will not change by itself; running, paused and
# restarting containers are someone's live work and are left alone.
_STOPPED = ("created", "exited", "dead")


@dataclass
class CleanupReport:
    """What one cleanup did: removed, left alone, and what went wrong."""

    removed_containers: list[str] = field(default_factory=list)
    removed_images: list[str] = field(default_factory=list)
    left_running: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_filters(dag_id: str, run_id: str) -> dict[str, list[str]]:
    """Docker filters matching exactly the containers the factory started for one DAG run."""
    return {"label": [f"{labels.MANAGED}=true", f"{labels.DAG_ID}={dag_id}", f"{labels.RUN_ID}={run_id}"]}


def clean_run(client: docker.APIClient, dag_id: str, run_id: str, out: list[str]) -> CleanupReport:
    """Remove the stopped containers of one DAG run, then the dangling images they used.

    Each step is appended to `out` as a line a person can read.
    """
    report = CleanupReport()
    images: dict[str, str] = {}  # image id -> the name the container was started from
    for container in client.containers(all=True, filters=run_filters(dag_id, run_id)):
        short = container["Id"][:12]
        task = (container.get("Labels") or {}).get(labels.TASK_ID, "?")
        if container.get("State") not in _STOPPED:
            report.left_running.append(short)
            out.append(f"left container {short} (task {task}) alone: it is {container.get('State')}")
            continue
        try:
            # The name it was started from: the listing shows only an id once the tag moved on.
            image_name = client.inspect_container(container["Id"])["Config"]["Image"]
        except NotFound:
            continue
        try:
            # v=True: also the anonymous volumes the image declared, which would
            # otherwise pile up; named volumes are never removed this way.
            client.remove_container(container["Id"], v=True)
        except NotFound:
            continue  # removed meanwhile: nothing left to do
        except APIError as exc:
            report.errors.append(f"could not remove container {short} (task {task}): {_reason(exc)}")
            continue
        report.removed_containers.append(short)
        out.append(f"removed container {short} (task {task}, {container.get('Status', '').lower()})")
        images[container["ImageID"]] = image_name
    for image_id, name in images.items():
        _remove_if_dangling(client, image_id, name, report, out)
    return report


def _remove_if_dangling(
    client: docker.APIClient, image_id: str, name: str, report: CleanupReport, out: list[str]
) -> None:
    """Remove an image the run used once no tag points to it (its tag moved on, e.g. after a
    newer pull of `:latest`). Tagged images are the engine's cache and stay."""
    try:
        tags = [t for t in client.inspect_image(image_id).get("RepoTags") or [] if t != "<none>:<none>"]
    except NotFound:
        return
    if tags:
        return
    try:
        # noprune: remove this image only, not untagged parents someone may build on.
        client.remove_image(image_id, noprune=True)
    except NotFound:
        return
    except APIError as exc:
        if exc.status_code == 409:  # another container still uses it: it is not ours to remove
            out.append(f"kept dangling image {image_id[:19]} ({name}): still in use")
            return
        report.errors.append(f"could not remove dangling image {image_id[:19]} ({name}): {_reason(exc)}")
        return
    report.removed_images.append(image_id)
    out.append(f"removed dangling image {image_id[:19]} (was {name})")


def _reason(exc: APIError) -> str:
    return str(exc.explanation or exc).strip()


def _emit(line: str, *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    stream.write(line + "\n")
    stream.flush()  # the task log shows lines as they come, even if the process dies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.cleanup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--docker-url", required=True, help="the Docker engine, e.g. unix://var/run/docker.sock")
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    if not args.run_id.strip():
        # An empty run id would still only match containers labelled with an empty
        # run id, but it means the DAG passed nothing: say so rather than do nothing.
        _emit("cleanup: --run-id is empty", error=True)
        return 2

    _emit(f"cleanup: {args.dag_id} run {args.run_id} on {args.docker_url}")
    try:
        client = docker.APIClient(base_url=args.docker_url, version="auto", timeout=60)
        lines: list[str] = []
        report = clean_run(client, args.dag_id, args.run_id, lines)
    except DockerException as exc:
        _emit(f"cleanup: cannot reach the Docker engine at {args.docker_url}: {exc}", error=True)
        return 1
    for line in lines:
        _emit(f"  {line}")
    for error in report.errors:
        _emit(f"  error: {error}", error=True)
    _emit(
        f"cleanup: removed {len(report.removed_containers)} container(s) and "
        f"{len(report.removed_images)} dangling image(s)"
        + (f"; {len(report.errors)} error(s)" if report.errors else "")
    )
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
