"""Long-running processes that outlive the command that started them, and their stopping.

Each service runs in its own session (process group), so stopping it stops whatever it
forked (Airflow's gunicorn/uvicorn workers, the Local executor's task processes). A
recorded process is identified by its pid and its start time, so a pid the kernel has
since given to another program is never signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


class ServiceError(Exception):
    """A service could not be started; the message says which and where its log is."""


@dataclass(frozen=True)
class Recorded:
    """A process we started: enough to find it again, and only it, from another command."""

    name: str
    pid: int
    start_ticks: int  # /proc/<pid>/stat field 22: distinguishes a reused pid
    log: str

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def start(name: str, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None) -> Recorded:
    """Start `argv` detached, in its own session, with output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = _start_ticks(proc.pid)
    if ticks is None:
        raise ServiceError(f"{name} exited at once; see {log}")
    return Recorded(name=name, pid=proc.pid, start_ticks=ticks, log=str(log))


def stop(process: Recorded, grace: float = 20.0) -> bool:
    """SIGTERM the process's group, then SIGKILL what is left after `grace` seconds.
    False when it was not running (any more)."""
    if not process.alive():
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(process.pid)
            if not process.alive() and not _group_alive(process.pid):
                return True
            time.sleep(0.2)
    return True


def _reap(pid: int) -> None:
    # A child of this very process (the test bed starts and stops in one process) stays
    # a zombie, and so "alive", until it is waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(what: str, ready: Callable[[], bool], timeout: float, process: Recorded | None = None) -> None:
    """Poll `ready` until it holds; fail early, naming the log, if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None:
            _reap(process.pid)
            if not process.alive():
                raise ServiceError(f"{what}: {process.name} exited; last lines of {process.log}:\n{tail(process.log)}")
        time.sleep(0.5)
    where = f"; last lines of {process.log}:\n{tail(process.log)}" if process else ""
    raise ServiceError(f"{what}: not ready after {timeout:.0f}s{where}")


def tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
