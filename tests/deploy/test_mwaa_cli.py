"""`factory mwaa cli` and `factory mwaa trigger`, driven through `factory.cli.main`.

Nothing real runs here: no MWAA environment can be reached offline.
- The MWAA API (CreateCliToken, GetEnvironment, InvokeRestApi) is botocore's Stubber on a
  real boto3 "mwaa" client, which checks every request against the service model. A test
  that queues no response proves that no AWS call was made.
- The environment's web server endpoint, https://{WebServerHostname}/aws_mwaa/cli, is a
  local stand-in: an HTTPS server on 127.0.0.1 with a throwaway certificate the client is
  told to trust (SSL_CERT_FILE), so the production code runs unchanged, TLS checks
  included. It answers {"stdout": base64, "stderr": base64} as MWAA documents, and it
  checks what it receives (path, Bearer token, text/plain body), answering 403 otherwise.
- Airflow 3 REST bodies are checked with, and answers built from, Airflow's own models
  (TriggerDAGRunPostBody, DAGRunResponse); Airflow 2's follow the v1 OpenAPI DAGRun schema.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import shlex
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from factory.cli import main
from factory.deploy.mwaa_cli import UNSUPPORTED, unsupported
from factory.load.shards import LOADER_FILES

ENV = "my-env"
DAG = "sales_daily_rollup"
LOADER = f"/usr/local/airflow/dags/{LOADER_FILES[0]}"
TOKEN = "cli-token-7f3a"
RUN_ID = "manual__2026-12-01T06:00:00.123456+00:00"
CONF = {"day": "2026-12-01"}


# ---------------------------------------------------------------- the web server stand-in


@dataclass
class Answer:
    status: int = 200
    stdout: bytes = b""
    stderr: bytes = b""
    raw: bytes | None = None  # a body that is not the CLI's JSON
    hang: bool = False  # answer only when the test ends


@dataclass
class WebServer:
    host: str = ""
    answers: dict[str, Answer] = field(default_factory=dict)
    respond: Callable[[str], Answer] | None = None
    received: list[tuple[str, str, str, str]] = field(default_factory=list)  # path, auth, type, body
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, command: str, stdout: str | bytes = b"", stderr: str | bytes = b"", status: int = 200) -> None:
        self.answers[command] = Answer(status, _bytes(stdout), _bytes(stderr))

    @property
    def commands(self) -> list[str]:
        return [body for _, _, _, body in self.received]

    def reply(self, command: str) -> Answer:
        if self.respond is not None:
            return self.respond(command)
        return self.answers.get(command) or Answer(stderr=f"stand-in: nothing scripted for {command!r}\n".encode())


def _bytes(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def _cli_body(answer: Answer) -> bytes:
    return json.dumps(
        {"stdout": base64.b64encode(answer.stdout).decode(), "stderr": base64.b64encode(answer.stderr).decode()}
    ).encode()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def webserver(tls: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[WebServer]:
    cert_file, key_file = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust the stand-in's certificate
    state = WebServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            auth, kind = self.headers.get("Authorization", ""), self.headers.get("Content-Type", "")
            state.received.append((self.path, auth, kind, body))
            if self.path != "/aws_mwaa/cli" or auth != f"Bearer {TOKEN}" or kind != "text/plain":
                self._send(403, b'{"message": "Forbidden"}')
                return
            answer = state.reply(body)
            if answer.hang:
                state.release.wait(10)
                return
            self._send(answer.status, answer.raw if answer.raw is not None else _cli_body(answer))

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up (the timeout test) is not an error here

    server = Server(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.host = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- the MWAA API


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("mwaa", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    monkeypatch.setattr("factory.cli.mwaa.mwaa_client", lambda args: client)
    return client


@pytest.fixture
def mwaa(client: Any) -> Iterator[Stubber]:
    stubber = Stubber(client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def sent(client: Any) -> list[dict[str, Any]]:
    """The parameters of every InvokeRestApi call, as the client sent them."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.mwaa.InvokeRestApi", lambda params, **_: calls.append(params))
    return calls


def cli_token(mwaa: Stubber, host: str) -> None:
    mwaa.add_response("create_cli_token", {"CliToken": TOKEN, "WebServerHostname": host}, {"Name": ENV})


def environment(mwaa: Stubber, version: str) -> None:
    mwaa.add_response(
        "get_environment",
        {"Environment": {"Name": ENV, "AirflowVersion": version, "Status": "AVAILABLE"}},
        {"Name": ENV},
    )


def rest(mwaa: Stubber, method: str, path: str, answer: dict, body: Any = None) -> None:
    expected: dict[str, Any] = {"Name": ENV, "Path": path, "Method": method}
    if body is not None:
        expected["Body"] = body
    mwaa.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": answer}, expected)


def dag_v1(paused: bool = False) -> dict:
    return {
        "dag_id": DAG,
        "is_paused": paused,
        "is_active": True,
        "fileloc": LOADER,
    }


def run_v1(state: str) -> dict:
    """A DAG run as Airflow 2's REST API v1 (DAGRun schema) returns it."""
    when = "2026-12-01T06:00:00.123456+00:00"
    return {
        "dag_run_id": RUN_ID,
        "dag_id": DAG,
        "logical_date": when,
        "execution_date": when,
        "start_date": None if state == "queued" else when,
        "end_date": when if state in ("success", "failed") else None,
        "data_interval_start": when,
        "data_interval_end": when,
        "last_scheduling_decision": None,
        "run_type": "manual",
        "state": state,
        "external_trigger": True,
        "conf": CONF,
        "note": None,
    }


def run_v2(state: str) -> dict:
    """A DAG run as Airflow 3's REST API v2 returns it, via Airflow's own response model."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse

    when = dt.datetime(2026, 12, 1, 6, 0, 0, 123456, tzinfo=dt.UTC)
    model = DAGRunResponse.model_validate(
        {
            "dag_run_id": RUN_ID,
            "dag_id": DAG,
            "logical_date": None,
            "queued_at": when,
            "start_date": None if state == "queued" else when,
            "end_date": when if state in ("success", "failed") else None,
            "duration": None,
            "data_interval_start": None,
            "data_interval_end": None,
            "run_after": when,
            "last_scheduling_decision": None,
            "run_type": "manual",
            "state": state,
            "triggered_by": "rest_api",
            "triggering_user_name": "assumed-role/deployer",
            "conf": CONF,
            "note": None,
            "dag_versions": [],
            "bundle_version": None,
            "dag_display_name": DAG,
            "partition_key": None,
            "partition_date": None,
        }
    )
    return json.loads(model.model_dump_json(by_alias=True))


def run_cli(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["mwaa", "cli", *argv])
    out, err = capfd.readouterr()
    return code, out, err


def trigger(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["mwaa", "trigger", ENV, DAG, *argv])
    out, err = capsys.readouterr()
    return code, out, err


# No sleeping between polls; the timeout only bounds a test whose run never finishes.
WAIT = ("--wait", "--interval", "0", "--timeout", "10")


def one_clean_line(err: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("factory mwaa: error: ") and "Traceback" not in err


# ---------------------------------------------------------------- factory mwaa cli


def test_the_commands_stdout_and_stderr_reach_ours_byte_for_byte(mwaa, webserver, capfdbinary):
    cli_token(mwaa, webserver.host)
    listed = b'[{"dag_id": "sales_daily_rollup", "fileloc": LOADER}]\n'
    warning = b"/usr/local/airflow/.local/lib/python3.11/site-packages/x.py:3 DeprecationWarning: caf\xc3\xa9 \xff\n"
    webserver.answer("dags list -o json", stdout=listed, stderr=warning)

    code = main(["mwaa", "cli", ENV, "--", "dags", "list", "-o", "json"])
    out, err = capfdbinary.readouterr()

    assert code == 0
    assert out == listed
    assert err == warning  # not valid UTF-8, and still the same bytes
    assert webserver.received == [("/aws_mwaa/cli", f"Bearer {TOKEN}", "text/plain", "dags list -o json")]


def test_the_double_dash_is_optional_and_arguments_keep_their_quoting(mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    cli_token(mwaa, webserver.host)
    webserver.answer("dags list", stdout="dag_id | fileloc\n")
    webserver.answer("variables set greeting 'hello world'", stdout="Variable greeting created\n")

    assert run_cli(capfd, ENV, "dags", "list")[0] == 0
    assert run_cli(capfd, ENV, "--", "airflow", "variables", "set", "greeting", "hello world")[0] == 0

    assert webserver.commands == ["dags list", "variables set greeting 'hello world'"]
    assert shlex.split(webserver.commands[1]) == ["variables", "set", "greeting", "hello world"]


def test_a_command_that_prints_only_on_stderr_failed(mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    trace = "Traceback (most recent call last):\n  ...\nairflow.exceptions.DagNotFound: Dag id nope not found\n"
    webserver.answer("dags trigger nope", stderr=trace)

    code, out, err = run_cli(capfd, ENV, "dags", "trigger", "nope")

    assert code == 1
    assert out == ""
    assert err.startswith(trace)
    assert err.endswith(
        f"factory mwaa: error: `airflow dags trigger nope` failed on {ENV}: it printed only on stderr\n"
    )


def test_airflows_usage_error_fails_although_the_help_is_on_stdout(mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    webserver.answer(
        "dag list",
        stdout="Usage: airflow [-h] GROUP_OR_COMMAND ...\n",
        stderr="\nairflow command error: argument GROUP_OR_COMMAND: invalid choice: 'dag', see help above.\n",
    )

    code, out, err = run_cli(capfd, ENV, "dag", "list")

    assert code == 1
    assert "Usage: airflow" in out
    assert "Airflow refused the command line" in err


def test_an_http_error_from_the_web_server_fails_the_command(mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    webserver.answer("pools import pools.json", stderr="", status=500)

    code, _, err = run_cli(capfd, ENV, "pools", "import", "pools.json")

    assert code == 1
    assert "failed on my-env: the web server answered HTTP 500" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["scheduler"], "scheduler"),
        (["webserver", "-p", "8080"], "webserver"),
        (["api-server"], "api-server"),
        (["celery", "worker"], "celery worker"),
        (["db", "init"], "db init"),
        (["db", "migrate"], "db migrate"),
        (["users", "create", "--username", "ana", "--role", "Admin"], "users create"),
        (["tasks", "run", DAG, "extract", "2026-12-01"], "tasks run"),
        (["dags", "show", DAG, "--save", "dag.png"], "dags show --save"),
        (["dags", "test", DAG, "--save-dagrun=run.dot"], "dags test --save-dagrun"),
    ],
)
def test_what_mwaa_does_not_support_is_refused_before_any_aws_call(argv, named, mwaa, webserver, capfd):
    # No response is queued: a call to the MWAA API would fail the command with exit 3.
    code, out, err = run_cli(capfd, ENV, "--", *argv)

    assert code == 2
    assert out == ""
    assert one_clean_line(err)
    assert f"MWAA does not support `airflow {named}`" in err
    assert "docs.aws.amazon.com/mwaa/latest/userguide/airflow-cli-command-reference.html" in err
    assert webserver.received == []


def test_the_refusal_says_what_mwaa_offers_instead_where_its_guide_says(mwaa, capfd):
    _, _, err = run_cli(capfd, ENV, "users", "create")
    assert "MWAA signs users in with IAM and maps them to Airflow roles" in err

    _, _, err = run_cli(capfd, ENV, "scheduler")
    assert "Apache Airflow configuration options" in err


def test_force_sends_a_command_the_table_refuses(mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    webserver.answer("db check", stdout="Connection successful.\n")

    code, out, _ = run_cli(capfd, "--force", ENV, "db", "check")

    assert code == 0
    assert out == "Connection successful.\n"


def test_the_table_refuses_commands_and_options_not_their_neighbours():
    refused = [
        ["dags", "show", DAG, "-s", "x.png"],
        ["dags", "show", DAG, "-sx.png"],
        ["dags", "show", DAG, "--sa", "x.png"],
        ["dags", "test", DAG, "--show-dagrun"],
        ["db", "reset", "-y"],
        ["rotate-fernet-key"],
    ]
    allowed = [
        ["dags", "show", DAG],
        ["dags", "test", DAG, "2026-12-01"],
        ["dags", "list"],
        ["dags", "list-import-errors"],
        ["db", "clean", "--clean-before-timestamp", "2026-01-01"],
        ["connections", "add", "x", "--conn-uri", "http://x"],
        ["pools", "set", "p", "4", "d"],
        ["variables", "get", "scheduler"],
        ["tasks", "test", DAG, "extract", "2026-12-01"],
    ]
    assert all(unsupported(argv) for argv in refused)
    assert not any(unsupported(argv) for argv in allowed)
    # Airflow 3's rows are Airflow 2's for the commands Airflow 3 still has, and api-server.
    assert unsupported(["tasks", "run", DAG], airflow_major=3) is None
    assert unsupported(["api-server"], airflow_major=2) is None
    assert {row.words for row in UNSUPPORTED[3]} - {row.words for row in UNSUPPORTED[2]} == {("api-server",)}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([ENV], "no Airflow command"),
        ([ENV, "--"], "no Airflow command"),
        ([ENV, "--region", "eu-west-1", "dags", "list"], "'--region' is not an Airflow command: put factory's"),
    ],
)
def test_a_missing_or_misplaced_command_is_a_usage_error(argv, message, mwaa, capfd):
    code, _, err = run_cli(capfd, *argv)

    assert code == 2
    assert one_clean_line(err)
    assert message in err


def test_an_unknown_environment_is_one_clean_line(mwaa, capfd):
    mwaa.add_client_error(
        "create_cli_token",
        service_error_code="ResourceNotFoundException",
        service_message=f"Environment {ENV} not found",
        http_status_code=404,
    )

    code, _, err = run_cli(capfd, ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert f"not found (environment '{ENV}'): Environment {ENV} not found" in err


def test_bad_credentials_are_one_clean_line(mwaa, capfd):
    mwaa.add_client_error(
        "create_cli_token",
        service_error_code="UnrecognizedClientException",
        service_message="The security token included in the request is invalid.",
        http_status_code=403,
    )

    code, _, err = run_cli(capfd, ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert "the AWS access key ID is not valid" in err


def test_no_region_is_one_clean_line(aws_env, monkeypatch, capfd):
    monkeypatch.delenv("AWS_REGION")

    code, _, err = run_cli(capfd, ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert "no AWS region: use --region or set AWS_REGION" in err


def test_an_unreachable_web_server_is_one_clean_line(mwaa, capfd):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli_token(mwaa, f"127.0.0.1:{port}")

    code, _, err = run_cli(capfd, ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert f"cannot reach https://127.0.0.1:{port}/aws_mwaa/cli" in err


def test_a_web_server_that_does_not_answer_in_time_is_one_clean_line(mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    webserver.answers["dags list"] = Answer(hang=True)

    code, _, err = run_cli(capfd, "--timeout", "0.3", ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert f"no answer from https://{webserver.host}/aws_mwaa/cli within 0.3 s" in err


@pytest.mark.parametrize(
    ("status", "raw", "message"),
    [
        (200, b"<html><body>Airflow is starting</body></html>", "answered 200 without the CLI's output"),
        (502, b"Bad Gateway", "answered 502 without the CLI's output"),
        (200, b'{"stdout": 42}', "answered 200 without the CLI's output"),
    ],
)
def test_an_answer_that_is_not_the_clis_is_one_clean_line(status, raw, message, mwaa, webserver, capfd):
    cli_token(mwaa, webserver.host)
    webserver.answers["dags list"] = Answer(status=status, raw=raw)

    code, _, err = run_cli(capfd, ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert message in err


def test_a_refused_token_is_one_clean_line(mwaa, webserver, capfd):
    mwaa.add_response(
        "create_cli_token", {"CliToken": "stale-token", "WebServerHostname": webserver.host}, {"Name": ENV}
    )

    code, _, err = run_cli(capfd, ENV, "dags", "list")

    assert code == 3
    assert one_clean_line(err)
    assert "refused the CLI token (HTTP 403)" in err
    assert webserver.received[0][1] == "Bearer stale-token"


# ---------------------------------------------------------------- factory mwaa trigger


def test_trigger_on_airflow_3_posts_the_rest_api_v2_body(mwaa, sent, capsys):
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody

    environment(mwaa, "3.0.6")
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1())
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run_v2("queued"), body=ANY)

    code, out, err = trigger(capsys, "--conf", json.dumps(CONF))

    assert code == 0, err
    assert out == f"{RUN_ID}\n"
    assert f"triggered {DAG} on {ENV} (Airflow 3.0.6, via InvokeRestApi)" in err
    body = sent[-1]["Body"]
    TriggerDAGRunPostBody.model_validate(body)  # what Airflow 3's API server accepts
    assert body["logical_date"] is None  # required by API v2, null: a run now
    assert body["conf"] == CONF
    assert body["dag_run_id"].startswith("manual__")


def test_trigger_on_airflow_2_posts_the_rest_api_v1_body(mwaa, sent, capsys):
    environment(mwaa, "2.10.3")
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1())
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run_v1("queued"), body=ANY)

    code, out, _ = trigger(capsys, "--conf", json.dumps(CONF))

    assert code == 0
    assert out == f"{RUN_ID}\n"
    body = sent[-1]["Body"]
    # API v1's DAGRun schema: no null logical_date (it defaults to now when left out).
    assert set(body) <= {"dag_run_id", "logical_date", "execution_date", "conf", "note"}
    assert "logical_date" not in body
    assert body["conf"] == CONF


def test_trigger_without_conf_sends_an_empty_one(mwaa, sent, capsys):
    environment(mwaa, "3.0.6")
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1())
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run_v2("queued"), body=ANY)

    assert trigger(capsys)[0] == 0
    assert sent[-1]["Body"]["conf"] == {}


@pytest.mark.parametrize(("version", "run"), [("3.0.6", run_v2), ("2.10.3", run_v1)])
def test_wait_follows_the_run_to_success(version, run, mwaa, capsys):
    environment(mwaa, version)
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1())
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run("queued"), body=ANY)
    for state in ("queued", "running", "running", "success"):
        rest(mwaa, "GET", f"/dags/{DAG}/dagRuns/{RUN_ID}", run(state))

    code, out, err = trigger(capsys, "--conf", json.dumps(CONF), *WAIT)

    assert code == 0, err
    assert out == f"{RUN_ID}\n"
    assert err.count("state: running") == 1  # a state is said once, when it changes
    assert f"run {RUN_ID} of {DAG}: success" in err


def test_wait_exits_1_when_the_run_fails(mwaa, capsys):
    environment(mwaa, "3.0.6")
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1())
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run_v2("queued"), body=ANY)
    rest(mwaa, "GET", f"/dags/{DAG}/dagRuns/{RUN_ID}", run_v2("running"))
    rest(mwaa, "GET", f"/dags/{DAG}/dagRuns/{RUN_ID}", run_v2("failed"))

    code, _, err = trigger(capsys, *WAIT)

    assert code == 1
    assert f"run {RUN_ID} of {DAG}: failed" in err


def test_wait_exits_4_when_the_run_is_not_done_in_time(mwaa, capsys):
    environment(mwaa, "3.0.6")
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1())
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run_v2("queued"), body=ANY)
    rest(mwaa, "GET", f"/dags/{DAG}/dagRuns/{RUN_ID}", run_v2("running"))

    code, out, err = trigger(capsys, "--wait", "--timeout", "0")

    assert code == 4
    assert out == f"{RUN_ID}\n"
    assert f"timed out after 0s: run {RUN_ID} of {DAG} is still running" in err


def test_a_paused_dag_is_said_so_when_triggered(mwaa, capsys):
    environment(mwaa, "2.10.3")
    rest(mwaa, "GET", f"/dags/{DAG}", dag_v1(paused=True))
    rest(mwaa, "POST", f"/dags/{DAG}/dagRuns", run_v1("queued"), body=ANY)

    code, _, err = trigger(capsys)

    assert code == 0
    assert f"warning: {DAG} is paused: its runs wait in 'queued' until it is unpaused" in err


def test_trigger_falls_back_to_the_cli_when_mwaa_refuses_invoke_rest_api(mwaa, webserver, capsys):
    environment(mwaa, "2.10.3")
    mwaa.add_client_error(
        "invoke_rest_api",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: airflow:InvokeRestApi",
        http_status_code=403,
    )
    cli_token(mwaa, webserver.host)
    runs: list[str] = []

    def respond(command: str) -> Answer:
        words = shlex.split(command)
        if words[:2] == ["dags", "trigger"]:
            assert words[2:3] == [DAG] and json.loads(words[words.index("--conf") + 1]) == CONF
            runs.append(words[words.index("--run-id") + 1])
            return Answer(stdout=f"Created <DagRun {DAG} @ 2026-12-01: {runs[-1]}, state:queued>\n".encode())
        assert words == ["dags", "list-runs", "-d", DAG, "-o", "json"]  # Airflow 2's form
        listed = [{"dag_id": DAG, "run_id": runs[-1], "state": "success", "execution_date": "2026-12-01T06:00:00"}]
        return Answer(stdout=json.dumps(listed).encode())

    webserver.respond = respond

    code, out, err = trigger(capsys, "--conf", json.dumps(CONF), *WAIT)

    assert code == 0, err
    assert out == f"{runs[0]}\n"
    assert "via Airflow CLI (CreateCliToken)" in err
    assert len(webserver.received) == 2  # one CLI token served both commands


def test_trigger_uses_the_cli_where_boto3_has_no_invoke_rest_api(client, mwaa, webserver, capsys, monkeypatch):
    monkeypatch.delattr(type(client), "invoke_rest_api")  # boto3 older than 1.34.140
    environment(mwaa, "3.0.6")
    cli_token(mwaa, webserver.host)
    runs: list[str] = []

    def respond(command: str) -> Answer:
        words = shlex.split(command)
        if words[:2] == ["dags", "trigger"]:
            runs.append(words[words.index("--run-id") + 1])
            return Answer(stdout=json.dumps([{"dag_id": DAG, "dag_run_id": runs[-1]}]).encode())
        assert words == ["dags", "list-runs", DAG, "-o", "json"]  # Airflow 3's form
        return Answer(stdout=json.dumps([{"dag_id": DAG, "run_id": runs[-1], "state": "failed"}]).encode())

    webserver.respond = respond

    code, _, err = trigger(capsys, *WAIT)

    assert code == 1
    assert f"run {runs[0]} of {DAG}: failed" in err


def test_a_failed_cli_trigger_is_one_clean_line(mwaa, webserver, capsys):
    environment(mwaa, "2.10.3")
    cli_token(mwaa, webserver.host)
    webserver.respond = lambda command: Answer(stderr=b"airflow.exceptions.DagNotFound: Dag id nope not found\n")

    code = main(["mwaa", "trigger", ENV, "nope", "--api", "cli"])
    err = capsys.readouterr().err

    assert code == 3
    assert one_clean_line(err)
    assert "DagNotFound: Dag id nope not found" in err


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ('["2026-12-01"]', '--conf must be a JSON object such as \'{"day": "2026-12-01"}\', not a list'),
        ('"2026-12-01"', "not a str"),
        ('{"day": 2026-12-01}', "--conf is not JSON"),
        ("day=2026-12-01", "--conf is not JSON"),
    ],
)
def test_a_conf_that_is_not_a_json_object_is_refused_before_any_aws_call(conf, message, mwaa, capsys):
    code, out, err = trigger(capsys, "--conf", conf)

    assert code == 2
    assert out == ""
    assert one_clean_line(err)
    assert message in err


@pytest.mark.parametrize("dag_id", ["sales daily rollup", "sales/daily", "x" * 251, ""])
def test_what_cannot_be_a_dag_id_is_refused_before_any_aws_call(dag_id, mwaa, capsys):
    code = main(["mwaa", "trigger", ENV, dag_id])
    err = capsys.readouterr().err

    assert code == 2
    assert one_clean_line(err)
    assert "is not a DAG id" in err


def test_trigger_on_an_unknown_environment_is_one_clean_line(mwaa, capsys):
    mwaa.add_client_error(
        "get_environment",
        service_error_code="ResourceNotFoundException",
        service_message=f"Environment {ENV} not found",
        http_status_code=404,
    )

    code, out, err = trigger(capsys)

    assert code == 3
    assert out == ""
    assert one_clean_line(err)
    assert f"not found (environment '{ENV}')" in err


def test_trigger_of_a_dag_the_environment_lacks_is_one_clean_line(mwaa, capsys):
    environment(mwaa, "3.0.6")
    mwaa.add_client_error(
        "invoke_rest_api",
        service_error_code="RestApiClientException",
        service_message="The Apache Airflow REST API returned an error",
        http_status_code=400,
        modeled_fields={
            "RestApiStatusCode": 404,
            "RestApiResponse": {"detail": f"The Dag with ID: `{DAG}` was not found"},
        },
    )

    code, _, err = trigger(capsys)

    assert code == 3
    assert one_clean_line(err)
    assert f"no DAG '{DAG}' on '{ENV}' (Airflow: The Dag with ID: `{DAG}` was not found)" in err
