"""Virtualenvs holding exactly what Amazon MWAA installs, one per MWAA version.

Each is `apache-airflow[celery,statsd]==V` plus `apache-airflow-providers-amazon`,
plus the PostgreSQL drivers MWAA's metadata DB needs,
installed with uv under MWAA's own constraints file (../shared/mwaa/V/, beside the
repository), so the Airflow and amazon provider versions are MWAA's and the docker
provider is absent. They live in .cache/mwaa-venvs/V and are reused while their
constraints file is unchanged.

    python tests/mwaa/mwaa_venvs.py [VERSION...]    # build ahead of the tests
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("2.10.3", "2.11.0", "3.0.6", "3.3.1")
ROOT = REPO / ".cache" / "mwaa-venvs"
STAMP = ".factory-stamp"
INSTALL_TRIES = 3


# The Python of each MWAA image (shared/mwaa/README.md). Used when this machine has it;
# otherwise the venvs use this project's Python (3.11), on which MWAA's pins install too.
MWAA_PYTHON = {"2.10.3": "3.11", "2.11.0": "3.12", "3.0.6": "3.12", "3.3.1": "3.12"}


@dataclass(frozen=True)
class MwaaVenv:
    version: str
    python: Path
    python_version: str  # the venv's, e.g. "3.12"
    seconds: float
    reused: bool

    def describe(self) -> str:
        wanted = MWAA_PYTHON.get(self.version, self.python_version)
        python = f"Python {self.python_version}" + ("" if wanted == self.python_version else f", MWAA has {wanted}")
        return f"{self.version} ({python}) " + ("reused" if self.reused else f"built in {self.seconds:.0f}s")


def constraints_file(version: str) -> Path:
    """../shared/mwaa/V/airflow_constraints.txt, beside the repository (also in CI's clone)."""
    shared = Path(os.environ.get("FACTORY_SHARED_DIR", REPO.parent / "shared"))
    path = shared / "mwaa" / version / "airflow_constraints.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: MWAA's pins are expected in shared/ beside the repository")
    return path


def uv_command() -> list[str]:
    """uv as scripts/setup installs it: a module of the Python this project's .venv is
    built on (found without PATH, which puts .venv first)."""
    for python in (Path(sys.base_prefix) / "bin" / "python3", Path(shutil.which("python3") or "python3")):
        probe = subprocess.run([str(python), "-m", "uv", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [str(python), "-m", "uv"]
    uv = shutil.which("uv")
    if uv:
        return [uv]
    raise FileNotFoundError("uv is not installed: run scripts/setup")


def _minor_version(python: Path) -> str | None:
    try:
        probe = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


def interpreter(version: str) -> tuple[Path, str]:
    """MWAA's Python for this version if the machine has one, else this project's."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    wanted = MWAA_PYTHON.get(version)
    if wanted:
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        candidates = [base, Path(shutil.which(f"python{wanted}") or f"python{wanted}")]
        candidates += sorted(pyenv.glob(f"versions/{wanted}.*/bin/python{wanted}"), reverse=True)
        candidates.append(Path(f"/usr/bin/python{wanted}"))
        for candidate in candidates:
            if candidate.exists() and _minor_version(candidate) == wanted:
                return candidate, wanted
    return base, _minor_version(base) or "?"


def _requirements(version: str) -> list[str]:
    # MWAA's metadata DB is PostgreSQL, and so is the test bed's (test_mwaa_deployment.py):
    # its drivers at MWAA's pins. Airflow 3's api-server also opens an asyncpg engine.
    drivers = ["psycopg2-binary"] + (["asyncpg"] if int(version.split(".")[0]) >= 3 else [])
    # aiobotocore: the triggerer's S3 client for a spec's wait_for (MWAA pins it too).
    return [f"apache-airflow[celery,statsd]=={version}", "apache-airflow-providers-amazon", "aiobotocore", *drivers]


def _stamp(version: str, base_python: str) -> dict[str, object]:
    return {
        "constraints_sha256": hashlib.sha256(constraints_file(version).read_bytes()).hexdigest(),
        "requirements": _requirements(version),
        "python": base_python,
    }


def ensure(version: str, root: Path = ROOT) -> MwaaVenv:
    """The virtualenv of one MWAA version, built unless an identical one is there."""
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time per version (two test runs, or the script beside a test run).
    with open(root / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(version, root)


def _ensure(version: str, root: Path) -> MwaaVenv:
    target = root / version
    python = target / "bin" / "python"
    base, python_version = interpreter(version)
    base_python = str(base)
    wanted = _stamp(version, base_python)
    stamp = target / STAMP
    if python.exists() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return MwaaVenv(version, python, python_version, 0.0, reused=True)
    started = time.monotonic()
    uv = uv_command()
    # Never download a Python (it would hang here); the machine's must do. Retry the
    # install: on a fresh machine it downloads a few hundred MB from the package index.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "UV_HTTP_TIMEOUT": "120"}
    stamp.unlink(missing_ok=True)
    subprocess.run([*uv, "venv", "--clear", "--quiet", "--python", base_python, str(target)], env=env, check=True)
    install = [*uv, "pip", "install", "--quiet", "--python", str(python), *_requirements(version)]
    install += ["--constraint", str(constraints_file(version))]
    for attempt in range(1, INSTALL_TRIES + 1):
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
        if attempt == INSTALL_TRIES:
            raise RuntimeError(f"installing MWAA {version} failed {attempt} times:\n{done.stdout}\n{done.stderr}")
        time.sleep(5 * attempt)
    stamp.write_text(json.dumps(wanted))
    return MwaaVenv(version, python, python_version, time.monotonic() - started, reused=False)


def ensure_all(versions: tuple[str, ...] = VERSIONS, root: Path = ROOT) -> dict[str, MwaaVenv]:
    """Build the missing ones side by side: uv mostly waits on the network and the disk."""
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(versions)) as pool:
        built = list(pool.map(lambda v: ensure(v, root), versions))
    return {venv.version: venv for venv in built}


if __name__ == "__main__":
    for venv in ensure_all(tuple(sys.argv[1:]) or VERSIONS).values():
        print(f"MWAA {venv.describe()}: {venv.python}")
