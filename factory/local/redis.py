"""A Redis server of its own (Debian's redis-server) as the Celery broker, as MWAA has one."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from factory.local import processes
from factory.local.processes import Recorded, ServiceError


@dataclass(frozen=True)
class Redis:
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, work_dir: Path, log: Path) -> Recorded:
        server = shutil.which("redis-server")
        if not server:
            raise ServiceError("redis-server is not installed: run scripts/setup (Debian package 'redis-server')")
        work_dir.mkdir(parents=True, exist_ok=True)
        # A broker only: loopback, no snapshots to disk, no protected-mode surprises.
        argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(work_dir), "--daemonize", "no"]
        proc = processes.start("redis", argv, os.environ, log)
        processes.wait_until("Redis", lambda: processes.port_open(self.port), 30, proc)
        return proc
