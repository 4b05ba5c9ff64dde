"""Airflow as it is deployed, on this machine: PostgreSQL as the metadata DB, and the
api-server, scheduler, dag-processor and triggerer as separate processes, with the
LocalExecutor or, as MWAA runs tasks, the CeleryExecutor with Redis and a Celery worker.

`factory up` runs one for an analyst; the test bed (tests/deployment) runs the same
code, so what the tests see is what `factory up` shows.

Everything lives in one state folder: the PostgreSQL data, AIRFLOW_HOME, the logs, and
`state.json`, which records exactly the processes started, so `stop` (and `factory
down`) stops those and nothing else.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from factory.local import processes
from factory.local.postgres import Postgres
from factory.local.processes import Recorded, ServiceError
from factory.local.redis import Redis

EXECUTORS = ("local", "celery")
ADMIN = "admin"
STATE_FILE = "state.json"
# Component -> its entry in /api/v2/monitor/health.
HEALTH_KEYS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}


@dataclass
class Deployment:
    """One local Airflow serving the specs of `project` (its specs/, schemas/ and dags/)."""

    state_dir: Path
    project: Path
    executor: str = "local"
    api_port: int = 8080
    pg_port: int = 0  # 0: pick a free port
    redis_port: int = 0
    # How often the DAG processor re-reads each DAG file: Airflow's default is 30 s; a
    # shorter one makes an edited spec show up sooner.
    parse_interval: int = 30
    database: str = "airflow"
    extra_env: dict[str, str] = field(default_factory=dict)
    # The Python of the Airflow to run (its venv's `airflow` beside it): this one's by
    # default; the MWAA tests pass a venv holding one MWAA version's exact packages.
    python: Path = field(default_factory=lambda: Path(sys.executable))
    # None: the project's dags/ folder, the specs found through FACTORY_HOME. A folder
    # holding dags, specs and the package together is the layout `factory sync` ships
    # to MWAA; the loader then finds the specs beside itself, as it does on MWAA.
    dags_folder: Path | None = None
    started: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ServiceError(f"unknown executor {self.executor!r}: use one of {', '.join(EXECUTORS)}")
        self.state_dir = self.state_dir.resolve()
        self.project = self.project.resolve()
        if self.dags_folder is not None:
            self.dags_folder = self.dags_folder.resolve()
        self.pg_port = self.pg_port or processes.free_port()
        self.redis_port = self.redis_port or processes.free_port()

    # -- where things are -------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def airflow_bin(self) -> str:
        # Not resolved: a venv's python is a symlink to its base interpreter.
        return str(self.python.parent / "airflow")

    @property
    def url(self) -> str:
        return f"http://localhost:{self.api_port}"

    @property
    def postgres(self) -> Postgres:
        return Postgres(self.state_dir / "postgres", self.pg_port)

    @property
    def redis(self) -> Redis:
        return Redis(self.redis_port)

    @property
    def cleanup_interval(self) -> int:
        """Seconds between Airflow's scans for DAGs gone from their file (default 60), and
        how long a DAG may go unparsed before it counts as gone (default 50)."""
        return 60 if self.parse_interval >= 30 else max(2 * self.parse_interval, 10)

    def password(self) -> str:
        """The admin password SimpleAuthManager generated (readable once the api-server ran)."""
        return json.loads((self.home / "passwords.json").read_text())[ADMIN]

    def environ(self) -> dict[str, str]:
        """The environment every component (and any `airflow` CLI call) runs with."""
        secrets_file = self.state_dir / "secrets.json"
        if not secrets_file.is_file():
            # Shared by every component: JWTs the api-server signs must verify in workers.
            keys = {"fernet": Fernet.generate_key().decode(), "jwt": secrets.token_urlsafe(32)}
            keys["api"] = secrets.token_urlsafe(32)
            secrets_file.write_text(json.dumps(keys))
            secrets_file.chmod(0o600)
        keys = json.loads(secrets_file.read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        venv_bin = str(self.python.parent)
        env.update(
            {
                "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder or self.project / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.executor == "celery" else "LocalExecutor",
                "AIRFLOW__CORE__FERNET_KEY": keys["fernet"],
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(self.database),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__SECRET_KEY": keys["api"],
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(self.parse_interval),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(max(self.parse_interval, 10)),
                # A spec deleted is a DAG no longer in the loader file: Airflow deactivates such
                # DAGs in a periodic scan, not at the next parse (manager.py, deactivate_stale_dags).
                "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": str(self.cleanup_interval),
                "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": str(self.cleanup_interval),
                "FACTORY_CACHE_DIR": str(self.state_dir / "factory-cache"),
            }
        )
        if self.dags_folder is None:
            env["FACTORY_HOME"] = str(self.project)
        else:
            env.pop("FACTORY_HOME", None)
        if self.executor == "celery":
            env["AIRFLOW__CELERY__BROKER_URL"] = self.redis.url()
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + self.postgres.url(self.database)
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "4"
        env.update(self.extra_env)
        return env

    # -- starting and stopping --------------------------------------------------------

    def components(self) -> list[tuple[str, list[str]]]:
        """Airflow's processes, each on its own, as a production deployment runs them.
        All share this host's log folder, so none needs to serve logs to the others."""
        airflow = self.airflow_bin
        found = [
            ("api-server", [airflow, "api-server", "--port", str(self.api_port), "--host", "127.0.0.1"]),
            ("dag-processor", [airflow, "dag-processor"]),
            ("scheduler", [airflow, "scheduler", "--skip-serve-logs"]),
            ("triggerer", [airflow, "triggerer", "--skip-serve-logs"]),
        ]
        if self.executor == "celery":
            found.append(("celery-worker", [airflow, "celery", "worker", "--skip-serve-logs", "--without-mingle"]))
        return found

    def start(self, on_step: callable = lambda _text: None) -> None:  # type: ignore[valid-type]
        """Start everything, or raise ServiceError naming what failed and its log."""
        if self.running():
            raise ServiceError(f"already running (state in {self.state_dir / STATE_FILE}): stop it first")
        if processes.port_open(self.api_port):
            raise ServiceError(f"port {self.api_port} is in use: stop what listens there, or pick another port")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.state_dir.chmod(0o755)  # PostgreSQL's own user must reach its data folder
        self.home.mkdir(parents=True, exist_ok=True)
        self.started = []
        try:
            on_step(f"PostgreSQL on 127.0.0.1:{self.pg_port}")
            self._record(self.postgres.start(self.logs / "postgres.log"))
            self.postgres.create_database(self.database)
            if self.executor == "celery":
                on_step(f"Redis on 127.0.0.1:{self.redis_port}")
                self._record(self.redis.start(self.state_dir / "redis", self.logs / "redis.log"))
            on_step("airflow db migrate")
            self.airflow("db", "migrate", timeout=600)
            env = self.environ()
            for name, argv in self.components():
                on_step(f"airflow {name}")
                self._record(processes.start(name, argv, env, self.logs / f"{name}.log", cwd=self.home))
            api = next(p for p in self.started if p.name == "api-server")
            health = f"{self.url}/api/v2/monitor/health"
            processes.wait_until("the api-server", lambda: processes.http_ok(health), 120, api)
            processes.wait_until("the password file", lambda: (self.home / "passwords.json").is_file(), 30, api)
            for process in self.started:
                # Airflow's own health view: each component's heartbeat in the metadata DB.
                if process.name in HEALTH_KEYS:
                    ready = functools.partial(self._healthy, HEALTH_KEYS[process.name])
                    processes.wait_until(f"the {process.name}", ready, 120, process)
            if self.executor == "celery":
                worker = next(p for p in self.started if p.name == "celery-worker")
                ready = functools.partial(_worker_ready, worker)
                processes.wait_until("the Celery worker", ready, 120, worker)
        except BaseException:
            self.stop()
            raise

    def _healthy(self, key: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())[key]["status"] == "healthy"
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def _record(self, process: Recorded) -> None:
        self.started.append(process)
        (self.state_dir / STATE_FILE).write_text(
            json.dumps({"executor": self.executor, "url": self.url, "processes": [p.to_json() for p in self.started]})
        )

    def airflow(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an `airflow` CLI command against this deployment."""
        done = subprocess.run(
            [self.airflow_bin, *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )
        if check and done.returncode != 0:
            raise ServiceError(f"airflow {' '.join(args)} failed:\n{(done.stderr or done.stdout)[-3000:]}")
        return done

    @staticmethod
    def recorded(state_dir: Path) -> list[Recorded]:
        """The processes a deployment in `state_dir` started, from its state file."""
        try:
            state = json.loads((state_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return []
        return [Recorded(**p) for p in state.get("processes", [])]

    def running(self) -> list[Recorded]:
        return [p for p in self.recorded(self.state_dir) if p.alive()]

    def stop(self) -> list[str]:
        """Stop what this deployment started (Airflow first, the databases last); the
        names of the processes that were still running."""
        stopped = []
        for process in reversed(self.recorded(self.state_dir) or self.started):
            if processes.stop(process):
                stopped.append(process.name)
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)
        self.started = []
        return stopped

    def wipe(self) -> None:
        """Stop, then delete the state folder (data, logs, home)."""
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _worker_ready(worker: Recorded) -> bool:
    # Celery logs "celery@<host> ready." once it consumes from the broker.
    return " ready." in processes.tail(worker.log, 200)
