"""`factory mwaa status` and `factory mwaa requirements` against stubbed MWAA API responses.

MWAA has no local emulator (moto does not implement it), so the boto3 MWAA client is fed
by botocore's Stubber, which also checks every request against the service model. The
responses are shaped exactly like the documented APIs:
- InvokeRestApi returns {"RestApiStatusCode": int, "RestApiResponse": <Airflow's JSON body>}.
- The Airflow 3 bodies (REST API v2) are produced by Airflow's own response models
  (DAGCollectionResponse, ImportErrorCollectionResponse), serialised as its API server does.
- The Airflow 2 bodies (REST API v1) follow the v1 OpenAPI schemas (DAG, ImportError).
- The CLI route (CreateCliToken + POST /aws_mwaa/cli) is served by a local HTTPS server
  answering {"stdout": base64, "stderr": base64} with `airflow dags ... -o json` output.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from factory.cli import main
from factory.load.shards import LOADER_FILES

ENV = "analytics-prod"
T0 = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
SINCE = "2025-03-01T12:00:00Z"
SPEC_DAGS = ("gamma", "team.alpha", "team.beta")
# The text the factory's loader leaves as Airflow's import error (taken from a real DagBag
# run over a synced folder in test_deploy_layout.py).
BROKEN_BETA = (
    "SpecErrors: 1 spec file(s) could not be loaded; every other spec was:\n"
    "specs/team/beta.yaml:7:1: unknown key 'shedule' (did you mean 'schedule'?)"
)


# Where MWAA puts the first loader file; its DAGs and import errors name it.
LOADER = f"/usr/local/airflow/dags/{LOADER_FILES[0]}"


# ---------------------------------------------------------------- response shapes


def dag_v1(dag_id: str, parsed: dt.datetime, fileloc: str = LOADER) -> dict:
    """One DAG as Airflow 2's REST API v1 (DAGSchema) returns it."""
    return {
        "dag_id": dag_id,
        "dag_display_name": dag_id,
        "root_dag_id": None,
        "is_paused": True,
        "is_active": True,
        "is_subdag": False,
        "last_parsed_time": parsed.isoformat(),
        "last_pickled": None,
        "last_expired": None,
        "scheduler_lock": None,
        "pickle_id": None,
        "default_view": "grid",
        "fileloc": fileloc,
        "file_token": "Ii91c3IvbG9jYWwvYWlyZmxvdy9kYWdzL2ZhY3RvcnlfZGFncy5weSI.abc",
        "owners": ["team-a"],
        "description": None,
        "schedule_interval": {"__type": "CronExpression", "value": "0 4 * * *"},
        "timetable_description": "At 04:00",
        "tags": [{"name": "team-a"}],
        "max_active_tasks": 16,
        "max_active_runs": 16,
        "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": False,
        "has_import_errors": False,
        "next_dagrun": None,
        "next_dagrun_data_interval_start": None,
        "next_dagrun_data_interval_end": None,
        "next_dagrun_create_after": None,
    }


def dags_v1(dags: list[dict], total: int | None = None) -> dict:
    return {"dags": dags, "total_entries": len(dags) if total is None else total}


def import_errors_v1(errors: list[tuple[str, str, dt.datetime]]) -> dict:
    return {
        "import_errors": [
            {"filename": f, "import_error_id": i, "stack_trace": text, "timestamp": when.isoformat()}
            for i, (f, text, when) in enumerate(errors, start=1)
        ],
        "total_entries": len(errors),
    }


def dag_v2(dag_id: str, parsed: dt.datetime, fileloc: str = LOADER) -> dict:
    """One DAG as Airflow 3's REST API v2 returns it, via Airflow's own response model."""
    from airflow.api_fastapi.core_api.datamodels.dags import DAGResponse

    model = DAGResponse.model_validate(
        {
            "dag_id": dag_id,
            "dag_display_name": dag_id,
            "is_paused": True,
            "is_stale": False,
            "last_parsed_time": parsed,
            "last_parse_duration": 0.4,
            "last_expired": None,
            "bundle_name": "dags-folder",
            "bundle_version": None,
            "relative_fileloc": fileloc.rsplit("/dags/", 1)[-1],
            "fileloc": fileloc,
            "description": None,
            "timetable_summary": "0 4 * * *",
            "timetable_description": "At 04:00",
            "timetable_partitioned": False,
            "timetable_periodic": True,
            "tags": [],
            "max_active_tasks": 16,
            "max_active_runs": 16,
            "max_consecutive_failed_dag_runs": 0,
            "has_task_concurrency_limits": False,
            "has_import_errors": False,
            "next_dagrun_logical_date": None,
            "next_dagrun_data_interval_start": None,
            "next_dagrun_data_interval_end": None,
            "next_dagrun_run_after": None,
            "allowed_run_types": None,
            "owners": ["team-a"],
        }
    )
    return json.loads(model.model_dump_json(by_alias=True))


def dags_v2(dags: list[dict], total: int | None = None) -> dict:
    return {"dags": dags, "total_entries": len(dags) if total is None else total}


def import_errors_v2(errors: list[tuple[str, str, dt.datetime]]) -> dict:
    from airflow.api_fastapi.core_api.datamodels.import_error import (
        ImportErrorCollectionResponse,
        ImportErrorResponse,
    )

    collection = ImportErrorCollectionResponse(
        import_errors=[
            ImportErrorResponse.model_validate(
                {
                    "import_error_id": i,
                    "timestamp": when,
                    # Airflow 3 names files relative to the dag bundle.
                    "filename": f.rsplit("/dags/", 1)[-1],
                    "bundle_name": "dags-folder",
                    "stack_trace": text,
                }
            )
            for i, (f, text, when) in enumerate(errors, start=1)
        ],
        total_entries=len(errors),
    )
    return json.loads(collection.model_dump_json(by_alias=True))


SHAPES = {
    "airflow2": (dag_v1, dags_v1, import_errors_v1),
    "airflow3": (dag_v2, dags_v2, import_errors_v2),
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def mwaa(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("mwaa", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    monkeypatch.setattr("factory.cli.mwaa.mwaa_client", lambda args: client)
    with stubber:
        yield stubber


@pytest.fixture(params=sorted(SHAPES))
def shape(request: pytest.FixtureRequest) -> tuple:
    return SHAPES[request.param]


def rest(stubber: Stubber, path: str, body: dict, offset: int = 0) -> None:
    stubber.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": body},
        {"Name": ENV, "Path": path, "Method": "GET", "QueryParameters": {"limit": 100, "offset": offset}},
    )


def poll(stubber: Stubber, shape: tuple, dags: list[tuple[str, dt.datetime]], errors=()) -> None:
    dag, collection, import_errors = shape
    rest(stubber, "/dags", collection([dag(d, when) for d, when in dags]))
    rest(stubber, "/importErrors", import_errors(list(errors)))


def status(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["mwaa", "status", ENV, "--project", str(project), *extra])
    out, err = capsys.readouterr()
    return code, out, err


WAIT = ("--wait", "--interval", "0", "--settle", "0", "--since", SINCE)
LATER = T0 + dt.timedelta(seconds=40)
EARLIER = T0 - dt.timedelta(minutes=5)


# ---------------------------------------------------------------- status via InvokeRestApi


def test_wait_passes_once_every_spec_is_parsed(mwaa, shape, project, capsys):
    poll(mwaa, shape, [("team.alpha", LATER)])
    poll(mwaa, shape, [(d, LATER) for d in SPEC_DAGS] + [("other_team.dag", EARLIER)])

    code, out, err = status(project, capsys, *WAIT)

    assert code == 0, out + err
    assert "3 of 3 spec DAG(s) parsed" in out
    assert "waiting: 1 parsed, 2 not yet" in err
    mwaa.assert_no_pending_responses()


def test_wait_fails_with_the_lines_of_a_rejected_spec(mwaa, shape, project, capsys):
    loader = LOADER
    poll(mwaa, shape, [("team.alpha", LATER), ("gamma", LATER)], [(loader, BROKEN_BETA, LATER)])

    code, out, _ = status(project, capsys, *WAIT)

    assert code == 1
    assert "rejected  specs/team/beta.yaml" in out
    assert "specs/team/beta.yaml:7:1: unknown key 'shedule' (did you mean 'schedule'?)" in out


def test_wait_ignores_what_mwaa_parsed_before_the_sync(mwaa, shape, project, capsys):
    """Old import errors and old parses say nothing about the files just synced."""
    loader = LOADER
    poll(mwaa, shape, [(d, EARLIER) for d in SPEC_DAGS], [(loader, BROKEN_BETA, EARLIER)])
    poll(mwaa, shape, [(d, LATER) for d in SPEC_DAGS])

    code, out, _ = status(project, capsys, *WAIT)

    assert code == 0, out
    mwaa.assert_no_pending_responses()


def test_settle_time_discounts_parses_right_after_the_sync(mwaa, shape, project, capsys):
    # Parsed 40 s after --since: within a 60 s settle time MWAA may have read its old copy.
    poll(mwaa, shape, [(d, LATER) for d in SPEC_DAGS])

    code, _, err = status(project, capsys, "--wait", "--since", SINCE, "--settle", "60", "--timeout", "0")

    assert code == 4
    assert "Timed out" in err and "team.alpha" in err


def test_wait_times_out_when_a_spec_never_shows(mwaa, shape, project, capsys):
    poll(mwaa, shape, [("team.alpha", LATER), ("gamma", LATER)])

    code, out, err = status(project, capsys, *WAIT, "--timeout", "0")

    assert code == 4
    assert "waiting   team.beta" in out
    assert "still waiting for: team.beta" in err


def test_platform_file_errors_fail_the_deploy(mwaa, shape, project, capsys):
    loader = LOADER
    text = "SpecErrors: 1 spec file(s) could not be loaded\nspecs/_platform.yaml:3:3: unknown key 'clustr'"
    poll(mwaa, shape, [], [(loader, text, LATER)])

    code, out, _ = status(project, capsys, *WAIT)

    assert code == 1
    assert "loader    specs/_platform.yaml:3:3: unknown key 'clustr'" in out


def test_a_traceback_in_the_loader_fails_the_deploy(mwaa, shape, project, capsys):
    loader = LOADER
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "{LOADER_FILES[0]}", line 9\nModuleNotFoundError: No module named x'
    )
    poll(mwaa, shape, [], [(loader, trace, LATER)])

    code, out, _ = status(project, capsys, *WAIT)

    assert code == 1
    assert "ModuleNotFoundError: No module named x" in out


def test_other_teams_import_errors_do_not_fail_the_deploy(mwaa, shape, project, capsys):
    other = "/usr/local/airflow/dags/other_team_dag.py"
    poll(mwaa, shape, [(d, LATER) for d in SPEC_DAGS], [(other, "SyntaxError: invalid syntax", LATER)])

    code, out, _ = status(project, capsys, *WAIT)

    assert code == 0
    assert "1 import error(s) in files that are not the factory's" in out


def test_pages_through_many_dags(mwaa, shape, project, capsys):
    dag, collection, import_errors = shape
    others = [dag(f"other.dag_{i:03}", EARLIER, "/usr/local/airflow/dags/other.py") for i in range(100)]
    ours = [dag(d, LATER) for d in SPEC_DAGS]
    rest(mwaa, "/dags", collection(others, total=103), offset=0)
    rest(mwaa, "/dags", collection(ours, total=103), offset=100)
    rest(mwaa, "/importErrors", import_errors([]))

    code, out, _ = status(project, capsys, *WAIT)

    assert code == 0, out
    mwaa.assert_no_pending_responses()


def test_one_shot_status_reports_without_waiting(mwaa, shape, project, capsys):
    poll(mwaa, shape, [("team.alpha", LATER), ("old.spec", LATER)])

    code, out, _ = status(project, capsys)

    assert code == 1  # not every spec is a DAG (yet)
    assert "parsed    team.alpha" in out
    assert "waiting   gamma" in out
    assert "stale     old.spec" in out


def test_airflow_rest_api_refusal_is_reported(mwaa, project, capsys):
    mwaa.add_client_error(
        "invoke_rest_api",
        service_error_code="RestApiClientException",
        service_message="The Apache Airflow REST API returned an error",
        http_status_code=400,
        modeled_fields={"RestApiStatusCode": 403, "RestApiResponse": {"detail": "Forbidden", "status": 403}},
    )

    code, _, err = status(project, capsys, *WAIT)

    assert code == 3
    assert "GET /dags answered 403" in err
    assert "Traceback" not in err


def test_unknown_environment_is_reported(mwaa, project, capsys):
    mwaa.add_client_error(
        "invoke_rest_api",
        service_error_code="ResourceNotFoundException",
        service_message=f"Environment {ENV} not found",
        http_status_code=404,
    )

    code, _, err = status(project, capsys)

    assert code == 3
    assert f"not found (environment '{ENV}'): Environment {ENV} not found" in err


def test_transient_failures_after_the_first_poll_are_retried(mwaa, project, capsys):
    shape = SHAPES["airflow3"]
    poll(mwaa, shape, [("team.alpha", LATER)])
    mwaa.add_client_error(
        "invoke_rest_api",
        service_error_code="RestApiServerException",
        http_status_code=400,
        modeled_fields={"RestApiStatusCode": 503, "RestApiResponse": {"detail": "restarting"}},
    )
    poll(mwaa, shape, [(d, LATER) for d in SPEC_DAGS])

    code, _, err = status(project, capsys, *WAIT)

    assert code == 0
    assert "retrying: Airflow REST API GET /dags answered 503" in err


def test_no_region_is_one_clear_line(aws_env, monkeypatch, project, capsys):
    monkeypatch.delenv("AWS_REGION")

    code, _, err = status(project, capsys)

    assert code == 3
    assert "no AWS region: use --region or set AWS_REGION" in err


# ---------------------------------------------------------------- status via the CLI token


@pytest.fixture
def mwaa_webserver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A local HTTPS server playing the environment's /aws_mwaa/cli endpoint.

    `state["outputs"]` maps an Airflow command to its stdout; `state["requests"]` records
    (authorization header, command) pairs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    # The client verifies the server as usual; it just trusts this certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    state: dict[str, Any] = {"outputs": {}, "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            command = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state["requests"].append((self.path, self.headers["Authorization"], command))
            stdout = state["outputs"].get(command, "")
            body = json.dumps(
                {"stdout": base64.b64encode(stdout.encode()).decode(), "stderr": base64.b64encode(b"").decode()}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["host"] = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def cli_token(stubber: Stubber, host: str) -> None:
    stubber.add_response("create_cli_token", {"CliToken": "cli-token-123", "WebServerHostname": host}, {"Name": ENV})


def test_falls_back_to_the_cli_token_route(mwaa, mwaa_webserver, project, capsys):
    """An environment older than Airflow 2.4.3 refuses InvokeRestApi; `airflow dags list`
    through the CLI endpoint answers instead (Airflow 2 CLI output shapes)."""
    mwaa.add_client_error(
        "invoke_rest_api",
        service_error_code="ValidationException",
        service_message="InvokeRestApi is not supported for this Apache Airflow version",
        http_status_code=400,
    )
    cli_token(mwaa, mwaa_webserver["host"])
    listed = [
        {
            "dag_id": d,
            "fileloc": LOADER,
            "owners": "team-a",
            "is_paused": "True",
        }
        for d in SPEC_DAGS
    ]
    mwaa_webserver["outputs"] = {
        # Warnings may precede the JSON on stdout; Airflow prints "No data found" for [].
        "dags list -o json": "[WARN] a provider warning\n" + json.dumps(listed, indent=4),
        "dags list-import-errors -o json": "No data found",
    }

    code, out, _ = status(project, capsys, "--wait", "--interval", "0", "--settle", "0")

    assert code == 0, out
    assert "via Airflow CLI (CreateCliToken)" in out
    assert mwaa_webserver["requests"] == [
        ("/aws_mwaa/cli", "Bearer cli-token-123", "dags list -o json"),
        ("/aws_mwaa/cli", "Bearer cli-token-123", "dags list-import-errors -o json"),
    ]


def test_cli_route_reports_a_rejected_spec(mwaa, mwaa_webserver, project, capsys):
    cli_token(mwaa, mwaa_webserver["host"])
    mwaa_webserver["outputs"] = {
        "dags list -o json": json.dumps(
            [{"dag_id": d, "filepath": LOADER_FILES[0], "owner": "team-a", "paused": "True"} for d in SPEC_DAGS[:2]]
        ),
        "dags list-import-errors -o json": json.dumps([{"filepath": LOADER, "error": BROKEN_BETA}]),
    }

    code, out, _ = status(project, capsys, "--api", "cli", "--wait", "--interval", "0", "--settle", "0")

    assert code == 1
    assert "rejected  specs/team/beta.yaml" in out


# ---------------------------------------------------------------- requirements


@pytest.mark.parametrize(
    ("version", "python"),
    [("2.10.3", "3.11"), ("2.11.0", "3.12"), ("3.0.6", "3.12"), ("3.3.1", "3.12")],
)
def test_requirements_carry_the_constraint_line_mwaa_documents(version, python, capsys):
    assert main(["mwaa", "requirements", "--airflow-version", version]) == 0
    out = capsys.readouterr().out

    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert lines == [
        f'--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-{version}/constraints-{python}.txt"'
    ]


def test_requirements_match_the_mwaa_images_we_know(capsys):
    """The Python of each image matches the constraints file it was built from (shared/mwaa)."""
    # Where tests/mwaa/mwaa_venvs.py finds MWAA's pins too.
    shared = Path(os.environ.get("FACTORY_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / "mwaa"
    if not shared.is_dir():
        pytest.skip(f"{shared} is missing (set FACTORY_SHARED_DIR to the folder holding mwaa/)")
    for folder in sorted(p for p in shared.iterdir() if (p / "airflow_constraints.txt").is_file()):
        header = (folder / "airflow_constraints.txt").read_text()[:400]
        assert main(["mwaa", "requirements", "--airflow-version", folder.name]) == 0
        url = capsys.readouterr().out.splitlines()[-1].split('"')[1]
        assert url in header, folder.name


def test_requirements_from_the_environment(mwaa, capsys):
    mwaa.add_response(
        "get_environment",
        {"Environment": {"Name": ENV, "AirflowVersion": "2.10.3", "Status": "AVAILABLE"}},
        {"Name": ENV},
    )

    assert main(["mwaa", "requirements", "--environment", ENV]) == 0

    assert "constraints-2.10.3/constraints-3.11.txt" in capsys.readouterr().out


def test_requirements_keep_the_other_lines_of_an_existing_file(tmp_path, capsys):
    target = tmp_path / "requirements.txt"
    target.write_text(
        '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-2.10.3/constraints-3.11.txt"\n'
        "apache-airflow-providers-snowflake\n"
    )

    assert main(["mwaa", "requirements", "--airflow-version", "3.0.6", "--output", str(target)]) == 0
    assert main(["mwaa", "requirements", "--airflow-version", "3.0.6", "--output", str(target)]) == 0

    lines = [line for line in target.read_text().splitlines() if not line.startswith("#")]
    assert lines == [
        '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-3.0.6/constraints-3.12.txt"',
        "apache-airflow-providers-snowflake",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--airflow-version", "2.9.2"], "needs Airflow 2.10 or later"),
        (["--airflow-version", "3.9.0"], "pass --python-version"),
        (["--airflow-version", "latest"], "must look like 2.10.3"),
    ],
)
def test_requirements_refuse_what_they_cannot_know(args, message, capsys):
    assert main(["mwaa", "requirements", *args]) == 2
    assert message in capsys.readouterr().err


def test_requirements_for_an_unlisted_version_with_its_python(capsys):
    assert main(["mwaa", "requirements", "--airflow-version", "3.9.0", "--python-version", "3.13"]) == 0
    assert "constraints-3.9.0/constraints-3.13.txt" in capsys.readouterr().out
