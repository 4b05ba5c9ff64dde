"""What `factory run` prints: whole lines to the person (Terminal), each container's
output as it comes (ContainerOutput), and Airflow's own log to a file."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from factory.compile import labels


class Terminal:
    """Where `factory run` talks to the person: whole lines, from any thread, optional colour."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._color = has_color(stream)
        self._closed = False

    @classmethod
    def on_stdout(cls) -> Terminal:
        """A terminal on a copy of stdout, which keeps working while stdout is redirected."""
        sys.stdout.flush()
        try:
            fd = os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # stdout is not a file (an embedding host)
            return cls(sys.stdout)
        return cls(os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace"))

    def line(self, message: str) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._stream.write(message + "\n")
                self._stream.flush()
            except BrokenPipeError:
                # The reader went away (`factory run ... | head`): the run goes on quietly.
                self._closed = True

    def green(self, message: str) -> str:
        return f"\033[32m{message}\033[0m" if self._color else message

    def red(self, message: str) -> str:
        return f"\033[31m{message}\033[0m" if self._color else message

    def dim(self, message: str) -> str:
        return f"\033[2m{message}\033[0m" if self._color else message


class ContainerOutput:
    """Prints the output of this DAG's containers as `task | line`, straight from the engine.

    It subscribes to the engine's container start events (filtered by the factory's
    labels) before the run starts, and follows each new container's log, so output
    shows as it comes whatever Airflow's log configuration, and nothing is missed.
    """

    def __init__(self, docker_url: str, dag_id: str, out: Terminal, width: int = 0) -> None:
        import docker

        self._docker_url = docker_url
        self._out = out
        self._width = width
        self._client = docker.APIClient(base_url=docker_url, version="auto", timeout=None)
        self._followers: dict[str, list[threading.Thread]] = {}
        self.run_id: str | None = None  # from the labels of the first container seen
        # The subscription exists once this returns, before any container starts.
        self._events = self._client.events(
            decode=True,
            filters={
                "type": "container",
                "event": "start",
                "label": [f"{labels.MANAGED}=true", f"{labels.DAG_ID}={dag_id}"],
            },
        )
        self._thread = threading.Thread(target=self._watch, name="factory-run-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def drain(self, task_id: str) -> None:
        """Wait until the output of a finished task's containers is all printed, so the
        task's verdict comes after its last line."""
        for follower in list(self._followers.get(task_id, ())):
            follower.join(timeout=10)

    def stop(self) -> None:
        # Every container has exited by now, so each follower ends once it has
        # printed the last of its container's output.
        for task_id in list(self._followers):
            self.drain(task_id)
        with contextlib.suppress(Exception):  # closing twice, or after the engine went away
            self._events.close()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        from docker.errors import DockerException

        try:
            for event in self._events:
                attributes = event.get("Actor", {}).get("Attributes", {})
                task = attributes.get(labels.TASK_ID, "?")
                self.run_id = self.run_id or attributes.get(labels.RUN_ID)
                follower = threading.Thread(
                    target=self._follow, args=(event["id"], task), name=f"factory-run-{task}", daemon=True
                )
                self._followers.setdefault(task, []).append(follower)
                follower.start()
        except (DockerException, OSError, ValueError):
            return  # the stream was closed by stop(), or the engine went away

    def _follow(self, container_id: str, task: str) -> None:
        import docker
        from airflow.providers.common.compat.sdk import redact
        from docker.errors import DockerException

        from factory.operators.docker import _lines

        client = docker.APIClient(base_url=self._docker_url, version=self._client.api_version, timeout=None)
        prefix = self._out.dim(f"{task.ljust(self._width)} |")
        try:
            stream = client.logs(container_id, stdout=True, stderr=True, stream=True, follow=True)
            for line in _lines(stream):
                # The same masking as the task log: secret values never reach the terminal.
                self._out.line(f"{prefix} {redact(line)}")
        except DockerException:
            return  # removed before its output was read: the task log still has it


@contextlib.contextmanager
def airflow_output_to(log_file: Path | None) -> Iterator[None]:
    """Send everything written to stdout/stderr (Airflow's console log, warnings, the
    cleanup subprocess) to a file; the Terminal keeps its own copy of the real stdout."""
    if log_file is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def has_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def indent_after_first(message: str) -> str:
    first, *rest = message.splitlines() or [""]
    return "\n".join([first, *(f"     {line}" for line in rest)])
