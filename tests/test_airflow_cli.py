"""Through Airflow's own CLI and metadata DB: a broken spec shows up in
`airflow dags list-import-errors` with its line, and every good spec is a DAG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _airflow(env: dict[str, str], *args: str, exit_code: int = 0) -> str:
    done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == exit_code, done.stderr[-3000:]
    return done.stdout


def _json_output(text: str) -> list[dict]:
    # The CLI may print log lines before the JSON document, which is its last line.
    (document,) = [line for line in text.splitlines() if line.startswith(("[{", "[]"))][-1:]
    return json.loads(document)


def test_import_errors_and_dags_in_the_metadata_db(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "specs", project / "specs")
    shutil.copytree(REPO / "schemas", project / "schemas")
    (project / "specs" / "sales" / "broken.yaml").write_text(
        "description: a typo\ntasks:\n  a:\n    image: img:1\n    comand: [run]\n"
    )
    home = tmp_path / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "FACTORY_HOME": str(project),
        "FACTORY_RUNTIME": "onprem",
        "FACTORY_CACHE_DIR": str(tmp_path / "cache"),
    }
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")

    # list-import-errors exits 1 when there are import errors, which is what we want here.
    errors = _json_output(_airflow(env, "dags", "list-import-errors", "-o", "json", exit_code=1))
    assert len(errors) == 1
    # The report comes from the file that holds no DAG, so Airflow 3 hides none.
    assert errors[0]["filepath"].endswith("factory_spec_errors.py")
    assert (
        "specs/sales/broken.yaml:5:5: unknown key 'comand' in task 'a' (did you mean 'command'?)" in errors[0]["error"]
    )

    dags = {d["dag_id"] for d in _json_output(_airflow(env, "dags", "list", "-o", "json"))}
    good = {".".join(p.relative_to(REPO / "specs").with_suffix("").parts) for p in (REPO / "specs").rglob("[!_]*.yaml")}
    assert dags == good
