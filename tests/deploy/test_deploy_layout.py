"""What MWAA gets: the bucket's dags/ prefix copied to a folder and parsed by Airflow's DagBag
under the mwaa runtime, as MWAA's DAG processor does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.client import BaseClient
from s3_harness import REPO, S3Server

from factory.cli import main
from factory.deploy.mwaa import DagInfo, ParseError, Snapshot, assess, expected_dags
from factory.load.layout import Project
from factory.load.shards import LOADER_FILES, loader_file

pytestmark = pytest.mark.usefixtures("aws_env")
PROBE = Path(__file__).resolve().parent / "dagbag_probe.py"


def sync_to(server: S3Server, bucket: str, project: Path) -> None:
    assert main(["sync", f"s3://{bucket}", "--project", str(project), "--endpoint-url", server.endpoint]) == 0


def copy_dags_folder(s3: BaseClient, bucket: str, folder: Path) -> None:
    """What MWAA does every ~30 s: every object under dags/ into the local dags folder."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="dags/"):
        for obj in page.get("Contents", []):
            target = folder / obj["Key"].removeprefix("dags/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())


def parse_with_dagbag(folder: Path, scratch: Path) -> dict:
    """DagBag in a fresh interpreter with a clean environment: nothing of this test process
    (imported modules, sys.path, variables) can leak into the parse."""
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "FACTORY_RUNTIME": "mwaa",
        "AIRFLOW_HOME": str(scratch / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{scratch / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, str(PROBE), str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=scratch,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mwaa_parses_the_synced_repository_one_dag_per_spec(s3_server, s3, bucket, tmp_path, capsys):
    sync_to(s3_server, bucket, REPO)
    capsys.readouterr()
    folder = tmp_path / "dags"
    copy_dags_folder(s3, bucket, folder)

    parsed = parse_with_dagbag(folder, tmp_path)

    project = Project.at(REPO)
    assert project.spec_files(), "the repository has example specs"
    assert set(parsed["dags"]) == {project.dag_id(p) for p in project.spec_files()}
    assert parsed["import_errors"] == {}
    # The package copy in the dags folder was used, not the installed one...
    assert Path(parsed["factory_file"]).resolve().is_relative_to(folder.resolve())
    # ...and .airflowignore kept the DAG processor to the loader files and the reporter alone.
    assert sorted(Path(f).name for f in parsed["parsed_files"]) == sorted([*LOADER_FILES, "factory_spec_errors.py"])
    for dag_id, operators in parsed["dags"].items():
        assert operators, dag_id
        assert not any("Docker" in name for name in operators), (dag_id, operators)


def test_status_understands_the_import_error_mwaa_records_for_a_broken_spec(
    s3_server, s3, bucket, project, tmp_path, capsys
):
    """A spec broken on MWAA only (here: edited in the copied folder) shows up as the factory's
    import error; `factory mwaa status` maps its lines back to that spec."""
    sync_to(s3_server, bucket, project)
    capsys.readouterr()
    folder = tmp_path / "dags"
    copy_dags_folder(s3, bucket, folder)
    broken = folder / "specs/team/beta.yaml"
    broken.write_text(broken.read_text() + "shedule: daily\n")

    parsed = parse_with_dagbag(folder, tmp_path)

    assert set(parsed["dags"]) == {"team.alpha", "gamma"}
    (filename, text), *rest = parsed["import_errors"].items()
    assert not rest
    now = datetime.now(UTC)
    snapshot = Snapshot(
        dags={d: DagInfo(d, str(folder / loader_file(d)), now) for d in parsed["dags"]},
        import_errors=[ParseError(filename, text, now)],
        via="DagBag",
        taken_at=now,
    )

    report = assess(snapshot, expected_dags(Project.at(project)))

    assert report.failed
    assert list(report.broken) == ["specs/team/beta.yaml"]
    assert any("shedule" in line for line in report.broken["specs/team/beta.yaml"])
    assert sorted(report.parsed) == ["gamma", "team.alpha"]
    assert report.waiting == []
