"""A PostgreSQL server of its own for the local deployment: Debian's packages, one data
folder, loopback only. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` user that Debian's package creates."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from factory.local import processes
from factory.local.processes import Recorded, ServiceError

USER = "factory"
PASSWORD = "factory"  # loopback only, a throwaway cluster: not a secret worth keeping


def bin_dir() -> Path:
    """Debian's newest installed server binaries (/usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise ServiceError("PostgreSQL is not installed: run scripts/setup (Debian package 'postgresql')")


@dataclass(frozen=True)
class Postgres:
    data_dir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def _owner_ids(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceError("no 'postgres' user to run PostgreSQL as: run scripts/setup") from None
        return entry.pw_uid, entry.pw_gid

    def init(self) -> None:
        """A new cluster with one login role, unless the folder holds one already."""
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        owner = self._owner_ids()
        if owner:
            os.chown(self.data_dir, *owner)
        pwfile = self.data_dir.parent / ".pg-password"
        pwfile.write_text(PASSWORD + "\n")
        if owner:
            os.chown(pwfile, *owner)
        try:
            argv = [str(bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", USER, "--pwfile", str(pwfile)]
            argv += ["-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8"]
            done = subprocess.run(self._as_owner(argv), capture_output=True, text=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise ServiceError(f"initdb failed: {done.stderr.strip()[-2000:]}")

    def start(self, log: Path) -> Recorded:
        self.init()
        log.parent.mkdir(parents=True, exist_ok=True)
        owner = self._owner_ids()
        if owner and not log.exists():
            log.touch()
            os.chown(log, *owner)
        argv = [str(bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        # Loopback TCP only; the socket goes in the data folder, not /var/run/postgresql,
        # which another server on the machine may own.
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data_dir}"]
        argv += ["-c", "max_connections=200", "-c", "fsync=off"]
        proc = processes.start("postgres", self._as_owner(argv), os.environ, log)
        processes.wait_until("PostgreSQL", lambda: self._ready(), 60, proc)
        return proc

    def _ready(self) -> bool:
        probe = [str(bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists (as the cluster's own login role)."""
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        base = [str(bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres"]
        exists = subprocess.run(
            [*base, "-tAc", f"select 1 from pg_database where datname = '{name}'"],
            capture_output=True,
            text=True,
            env=env,
        )
        if exists.returncode != 0:
            raise ServiceError(f"PostgreSQL on port {self.port}: {exists.stderr.strip()}")
        if exists.stdout.strip() == "1":
            return
        made = subprocess.run([*base, "-c", f'create database "{name}"'], capture_output=True, text=True, env=env)
        if made.returncode != 0:
            raise ServiceError(f"cannot create database {name}: {made.stderr.strip()}")
