"""`factory sync` against a real S3 server (SeaweedFS): what lands, what does not, and when."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.client import BaseClient
from s3_harness import READER, S3Server

import factory
from factory.cli import main
from factory.deploy.bucket import Bucket, ConcurrentSyncError, S3Location
from factory.deploy.manifest import MANIFEST_NAME, Entry, Manifest
from factory.load.shards import LOADER_FILES

pytestmark = pytest.mark.usefixtures("aws_env")

MANIFEST = f"dags/{MANIFEST_NAME}"
UNRELATED = {
    "dags/other_team_dag.py": b"# another team's hand-written DAG\nfrom airflow import DAG\n",
    "dags/requirements.txt": b"apache-airflow-providers-snowflake\n",
    "dags/plugins.zip": b"PK\x05\x06" + b"\x00" * 18,
    "requirements.txt": b"--constraint x\n",
    "plugins.zip": b"PK\x05\x06" + b"\x00" * 18,
    # Inside the factory's own folders, yet not the factory's: still never touched.
    "dags/specs/other_team.yaml": b"description: not ours\n",
}


def sync(server: S3Server, bucket: str, project: Path, *extra: str, capsys: pytest.CaptureFixture[str]):
    code = main(["sync", f"s3://{bucket}", "--project", str(project), "--endpoint-url", server.endpoint, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def sync_command(server: S3Server, bucket: str, project: Path) -> list[str]:
    """`factory sync` as its own process (to kill it, or to give it a terminal)."""
    target = f"s3://{bucket}"
    return [
        sys.executable,
        "-m",
        "factory",
        "sync",
        target,
        "--project",
        str(project),
        "--endpoint-url",
        server.endpoint,
    ]


def expected_keys(project: Path) -> set[str]:
    """What the loader needs, worked out independently of factory.deploy.bundle."""
    package = Path(factory.__file__).parent
    keys = {"dags/.airflowignore", "dags/factory_spec_errors.py", *(f"dags/{name}" for name in LOADER_FILES)}
    keys |= {
        "dags/factory/" + p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    keys |= {f"dags/schemas/{p.name}" for p in (project / "schemas").glob("*.json")}
    keys |= {"dags/specs/" + p.relative_to(project / "specs").as_posix() for p in (project / "specs").rglob("*.yaml")}
    return keys


def local_file(project: Path, key: str) -> Path:
    relative = key.removeprefix("dags/")
    if relative.startswith("factory/"):
        return Path(factory.__file__).parent / relative.removeprefix("factory/")
    if relative in (*LOADER_FILES, "factory_spec_errors.py", ".airflowignore"):
        return project / "dags" / relative
    return project / relative


def objects(s3: BaseClient, bucket: str) -> dict[str, str]:
    """Every current object in the bucket: key -> ETag."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return found


def versions(s3: BaseClient, bucket: str) -> set[tuple[str, str]]:
    """Every version and delete marker ever written: a write of any kind adds one."""
    found = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.add((item["Key"], item["VersionId"]))
    return found


def written_since(s3: BaseClient, bucket: str, before: set[tuple[str, str]]) -> set[str]:
    return {key for key, _ in versions(s3, bucket) - before}


def manifest_of(s3: BaseClient, bucket: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST)["Body"].read())


def put_unrelated(s3: BaseClient, bucket: str) -> dict[str, str]:
    for key, body in UNRELATED.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {k: v for k, v in objects(s3, bucket).items() if k in UNRELATED}


def assert_in_sync(s3: BaseClient, bucket: str, project: Path) -> None:
    """The factory's part of the bucket is exactly the project, with matching content."""
    current = objects(s3, bucket)
    factory_keys = {k for k in current if k.startswith("dags/") and k not in UNRELATED and k != MANIFEST}
    assert factory_keys == expected_keys(project)
    manifest = manifest_of(s3, bucket)
    assert manifest["pending"] == {}
    assert set(manifest["objects"]) == {k.removeprefix("dags/") for k in factory_keys}
    for key in factory_keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        local = local_file(project, key).read_bytes()
        assert head["Metadata"]["factory-sha256"] == hashlib.sha256(local).hexdigest(), key
        assert head["ETag"].strip('"') == hashlib.md5(local).hexdigest(), key


def test_first_sync_uploads_everything_the_loader_needs(s3_server, s3, bucket, project, capsys):
    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 0, out
    assert_in_sync(s3, bucket, project)
    keys = objects(s3, bucket)
    assert not any("__pycache__" in k or k.endswith(".pyc") for k in keys)
    assert f"Synced s3://{bucket}/dags/: {len(expected_keys(project))} uploaded, 0 deleted, 0 unchanged." in out


def test_upload_order_never_breaks_parsing(s3_server, bucket, project, capsys):
    _, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    uploaded = [line.split()[1] for line in out.splitlines() if line.startswith("uploaded")]
    # .airflowignore before the package (so the DAG processor never scans it), code and
    # schemas before specs, platform/defaults before the specs inheriting them, the DAG
    # files (the loader files and the reporter) last.
    assert uploaded[0] == ".airflowignore"
    assert sorted(uploaded[-len(LOADER_FILES) - 1 :]) == sorted([*LOADER_FILES, "factory_spec_errors.py"])
    first_spec = min(i for i, k in enumerate(uploaded) if k.startswith("specs/"))
    assert max(i for i, k in enumerate(uploaded) if k.startswith(("factory/", "schemas/"))) < first_spec
    # (Within a stage the files go up at once, so in any order.)
    assert sorted(uploaded[first_spec : first_spec + 2]) == ["specs/_platform.yaml", "specs/team/_defaults.yaml"]


def test_second_sync_uploads_nothing(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    before = versions(s3, bucket)

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 0
    assert written_since(s3, bucket, before) == set()  # not even the manifest
    assert "0 uploaded, 0 deleted" in out


def test_fresh_checkout_with_new_timestamps_uploads_nothing(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    before = versions(s3, bucket)
    for path in project.rglob("*"):
        if path.is_file():
            os.utime(path, (1, 1))  # what a CI checkout looks like to `aws s3 sync`

    sync(s3_server, bucket, project, capsys=capsys)

    assert written_since(s3, bucket, before) == set()


def test_changing_one_spec_uploads_exactly_that_object(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    before = versions(s3, bucket)
    spec = project / "specs/team/alpha.yaml"
    spec.write_text(spec.read_text().replace("0 4 * * *", "30 4 * * *"))

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 0
    assert written_since(s3, bucket, before) == {"dags/specs/team/alpha.yaml", MANIFEST}
    assert "uploaded  specs/team/alpha.yaml  (changed)" in out
    assert_in_sync(s3, bucket, project)


def test_deleting_a_spec_deletes_exactly_that_object(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    before = versions(s3, bucket)
    (project / "specs/team/beta.yaml").unlink()

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 0
    assert written_since(s3, bucket, before) == {"dags/specs/team/beta.yaml", MANIFEST}
    assert "dags/specs/team/beta.yaml" not in objects(s3, bucket)
    assert "deleted   specs/team/beta.yaml  (no longer in the project)" in out
    assert_in_sync(s3, bucket, project)


def test_unrelated_objects_survive_every_sync(s3_server, s3, bucket, project, capsys):
    original = put_unrelated(s3, bucket)

    steps = [
        lambda: None,
        lambda: (project / "specs/team/alpha.yaml").write_text("description: changed\ntasks: {t: {image: x}}\n"),
        lambda: (project / "specs/team/beta.yaml").unlink(),
        lambda: (project / "specs/gamma.yaml").unlink(),
    ]
    for step in steps:
        step()
        code, out, _ = sync(s3_server, bucket, project, capsys=capsys)
        assert code == 0, out
        current = objects(s3, bucket)
        assert {k: current.get(k) for k in original} == original
    assert "warning: s3://" in out and "specs/other_team.yaml was not written by the factory" in out
    assert_in_sync(s3, bucket, project)


def test_lint_failure_uploads_nothing(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    before = versions(s3, bucket)
    (project / "specs/team/alpha.yaml").write_text((project / "specs/team/alpha.yaml").read_text() + "shedule: daily\n")
    (project / "specs/team/new.yaml").write_text("description: new spec\ntasks: {t: {image: x}}\n")

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 1
    assert "specs/team/alpha.yaml:" in out and "shedule" in out
    assert "Nothing was uploaded" in out
    assert written_since(s3, bucket, before) == set()


def test_lint_failure_on_first_sync_leaves_the_bucket_empty(s3_server, s3, bucket, project, capsys):
    (project / "specs/gamma.yaml").write_text("description: no tasks\n")

    code, _, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 1
    assert objects(s3, bucket) == {}


def test_a_platform_file_without_mwaa_settings_uploads_nothing(s3_server, s3, bucket, project, capsys):
    platform = project / "specs/_platform.yaml"
    platform.write_text(platform.read_text().split("mwaa:")[0])

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 1
    assert "has no 'mwaa:' block" in out
    assert objects(s3, bucket) == {}


def test_dry_run_changes_nothing(s3_server, s3, bucket, project, capsys):
    code, out, _ = sync(s3_server, bucket, project, "--dry-run", capsys=capsys)
    assert code == 0
    assert objects(s3, bucket) == {}
    assert "  upload     specs/team/alpha.yaml  (new)" in out

    sync(s3_server, bucket, project, capsys=capsys)
    before = versions(s3, bucket)
    spec = project / "specs/team/alpha.yaml"
    spec.write_text(spec.read_text().replace("1.0.0", "1.0.1"))
    (project / "specs/team/beta.yaml").unlink()

    code, out, _ = sync(s3_server, bucket, project, "--dry-run", capsys=capsys)

    assert code == 0
    assert written_since(s3, bucket, before) == set()
    assert "  upload     specs/team/alpha.yaml  (changed)" in out
    assert "  delete     specs/team/beta.yaml  (no longer in the project)" in out
    assert "  unchanged  specs/gamma.yaml  (same content)" in out
    assert "1 to upload, 1 to delete" in out


def test_killed_sync_converges_when_run_again(s3_server, s3, bucket, project, capsys):
    original = put_unrelated(s3, bucket)
    sync(s3_server, bucket, project, capsys=capsys)
    # Enough changes that a kill lands in the middle: 1 changed, 1 deleted, 40 new.
    spec = project / "specs/team/alpha.yaml"
    spec.write_text(spec.read_text().replace("1.0.0", "1.1.0"))
    (project / "specs/team/beta.yaml").unlink()
    beta = (project / "specs/gamma.yaml").read_text()
    for i in range(40):
        (project / f"specs/team/new_{i:02}.yaml").write_text(beta.replace("Gamma", f"New {i}"))

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        sync_command(s3_server, bucket, project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    landed = []
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("uploaded"):
            landed.append(line.split()[1])
            if len(landed) == 5:
                process.send_signal(signal.SIGKILL)
                break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # Half-way indeed: some new specs landed, the deleted one is still there (deletes
    # come last) and the manifest still claims what the killed run was writing.
    current = objects(s3, bucket)
    assert "dags/specs/team/beta.yaml" in current
    assert not expected_keys(project) <= set(current)
    assert manifest_of(s3, bucket)["pending"]
    # One of the specs the killed run uploaded is dropped before the re-run: the pending
    # claim is what lets the re-run delete it.
    dropped = next(k for k in landed if k.startswith("specs/team/new_"))
    (project / dropped).unlink()

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 0, out
    assert_in_sync(s3, bucket, project)
    assert f"dags/{dropped}" not in objects(s3, bucket)
    assert {k: objects(s3, bucket).get(k) for k in original} == original
    for key in landed:
        if key != dropped:
            assert f"uploaded  {key} " not in out  # what landed is not sent again
    before = versions(s3, bucket)
    assert sync(s3_server, bucket, project, capsys=capsys)[0] == 0
    assert written_since(s3, bucket, before) == set()


def test_first_sync_over_files_uploaded_by_hand(s3_server, s3, bucket, project, capsys):
    """Migrating from `aws s3 sync`: identical files are adopted, a different one is a conflict."""
    for key in expected_keys(project):
        body = local_file(project, key).read_bytes()
        if key == f"dags/{LOADER_FILES[0]}":
            body += b"# edited by hand\n"
        s3.put_object(Bucket=bucket, Key=key, Body=body)  # no factory metadata, like the AWS CLI
    before = versions(s3, bucket)

    code, out, _ = sync(s3_server, bucket, project, "--dry-run", capsys=capsys)
    assert code == 1
    assert f"  conflict   {LOADER_FILES[0]}" in out
    assert "  adopt      specs/gamma.yaml  (identical content already there" in out

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 1
    assert f"conflict   {LOADER_FILES[0]}" in out and "--adopt" in out
    assert written_since(s3, bucket, before) == set()

    code, out, _ = sync(s3_server, bucket, project, "--adopt", capsys=capsys)

    assert code == 0, out
    # Only the differing file is sent; the rest is adopted as is (plus the manifest).
    assert written_since(s3, bucket, before) == {f"dags/{LOADER_FILES[0]}", MANIFEST}
    manifest = manifest_of(s3, bucket)
    assert set(manifest["objects"]) == {k.removeprefix("dags/") for k in expected_keys(project)}

    # Adopted objects are the factory's from now on: removing a spec removes it.
    (project / "specs/gamma.yaml").unlink()
    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)
    assert code == 0
    assert "dags/specs/gamma.yaml" not in objects(s3, bucket)


def test_an_object_changed_by_someone_else_is_released_not_deleted(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    s3.put_object(Bucket=bucket, Key="dags/specs/team/beta.yaml", Body=b"description: another team's now\n")
    (project / "specs/team/beta.yaml").unlink()

    code, out, _ = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 0
    assert "release    specs/team/beta.yaml" in out
    assert s3.get_object(Bucket=bucket, Key="dags/specs/team/beta.yaml")["Body"].read() == (
        b"description: another team's now\n"
    )
    assert "specs/team/beta.yaml" not in manifest_of(s3, bucket)["objects"]


def test_an_unreadable_manifest_stops_the_sync(s3_server, s3, bucket, project, capsys):
    sync(s3_server, bucket, project, capsys=capsys)
    s3.put_object(Bucket=bucket, Key=MANIFEST, Body=b"<html>not json</html>")
    before = versions(s3, bucket)
    (project / "specs/team/beta.yaml").unlink()

    code, _, err = sync(s3_server, bucket, project, capsys=capsys)

    assert code == 1
    assert "is not a manifest this factory can read" in err
    assert written_since(s3, bucket, before) == set()


def test_custom_prefix(s3_server, s3, bucket, project, capsys):
    code = main(
        ["sync", f"s3://{bucket}/teams/a/dags", "--project", str(project), "--endpoint-url", s3_server.endpoint]
    )
    capsys.readouterr()

    assert code == 0
    keys = set(objects(s3, bucket))
    assert f"teams/a/dags/{MANIFEST_NAME}" in keys
    assert {k.replace("teams/a/", "", 1) for k in keys if k != f"teams/a/dags/{MANIFEST_NAME}"} == expected_keys(
        project
    )


def test_two_syncs_at_once_cannot_both_write_the_manifest(s3_server, s3, bucket):
    location = S3Location.parse(f"s3://{bucket}")
    ours = Bucket(s3, location)
    theirs = Bucket(s3_server.client(), location)
    seen = ours.read_manifest()
    theirs.write_manifest(Manifest(objects={"x": Entry("a" * 64, "b" * 32)}), theirs.read_manifest(), "test")

    with pytest.raises(ConcurrentSyncError):
        ours.write_manifest(Manifest(), seen, "test")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing-bucket", "does not exist"),
        ("bad-secret", "secret access key does not match"),
        ("unknown-key", "access key ID is not valid"),
        ("read-only", "lack s3:PutObject"),
        ("no-credentials", "no AWS credentials found"),
        ("unknown-profile", "profile 'nope' is not configured"),
        ("unreachable", "cannot reach"),
    ],
)
def test_aws_failures_are_one_clear_line(s3_server, s3, bucket, project, capsys, monkeypatch, setup, message):
    target, endpoint = bucket, s3_server.endpoint
    if setup == "missing-bucket":
        target = "no-such-bucket-here"
    elif setup == "bad-secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    elif setup == "unknown-key":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    elif setup == "read-only":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER[0])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER[1])
    elif setup == "no-credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    elif setup == "unknown-profile":
        monkeypatch.setenv("AWS_PROFILE", "nope")
    elif setup == "unreachable":
        endpoint = "http://127.0.0.1:9"  # discard port: nothing listens there

    code = main(["sync", f"s3://{target}", "--project", str(project), "--endpoint-url", endpoint])
    out, err = capsys.readouterr()

    assert code == 3
    assert message in err
    assert "Traceback" not in out + err
    assert objects(s3, bucket) == {}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("my-bucket/dags", "expected s3://BUCKET[/PREFIX]"),
        ("https://my-bucket.s3.amazonaws.com/dags", "expected s3://BUCKET[/PREFIX]"),
        ("s3://", "no bucket name"),
    ],
)
def test_a_target_that_is_not_an_s3_url_is_a_usage_error(project, capsys, target, message):
    assert main(["sync", target, "--project", str(project)]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_that_is_not_a_project_is_a_usage_error(tmp_path, capsys):
    assert main(["sync", "s3://my-bucket", "--project", str(tmp_path)]) == 2
    assert "is not a factory project: missing" in capsys.readouterr().err


def test_progress_bar_on_a_terminal(s3_server, bucket, project):
    """On a TTY the uploads draw one redrawn bar; in CI (no TTY) they are plain lines."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        sync_command(s3_server, bucket, project),
        stdout=subprocess.PIPE,
        stderr=follower,
        env=os.environ.copy(),
    )
    os.close(follower)
    screen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    out = process.communicate(timeout=30)[0].decode()
    os.close(leader)

    assert process.returncode == 0
    total = len(expected_keys(project))
    assert f"\r[{'#' * 24}] {total}/{total}".encode() in screen
    assert "uploaded  " not in out  # the bar replaces the per-file lines
