"""The two routes into an MWAA environment's Airflow, for any request: the REST API
through the MWAA API's `InvokeRestApi` (`rest_call`), and the web server's CLI endpoint
with a CLI token (`WebServerCli`: POST to https://{WebServerHostname}/aws_mwaa/cli,
answered with base64 stdout and stderr). `factory mwaa status`, `cli` and `trigger` all
go through these."""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from factory.deploy.aws import error_code

# InvokeRestApi failures after which the CLI route may still work: an environment older
# than Airflow 2.4.3, or credentials allowed airflow:CreateCliToken but not InvokeRestApi.
FALLBACK_CODES = {"ValidationException", "AccessDeniedException", "UnknownOperationException"}
CLI_TIMEOUT = 60.0  # seconds to wait for the web server's answer to one CLI command
# A CLI token is valid for 60 seconds after CreateCliToken ("Creating an Apache Airflow
# CLI token"); one is reused for commands sent within this many seconds of taking it.
CLI_TOKEN_REUSE = 45.0


class MwaaApiError(Exception):
    """The environment could not be asked, or answered something unexpected."""


class RestApiError(MwaaApiError):
    """The environment's Airflow REST API answered an error status."""

    def __init__(self, message: str, status: int | str, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def rest_call(
    client: BaseClient,
    environment: str,
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """One call of the environment's Airflow REST API through `InvokeRestApi`: its status
    and JSON body. Airflow's own error answers (4xx, 5xx) become a RestApiError; other
    ClientErrors (unknown environment, access denied, no InvokeRestApi) are left to the caller."""
    if not hasattr(client, "invoke_rest_api"):
        raise MwaaApiError("this boto3 has no InvokeRestApi: upgrade boto3, or use --api cli")
    params: dict[str, Any] = {"Name": environment, "Path": path, "Method": method}
    if query is not None:
        params["QueryParameters"] = query
    if body is not None:
        params["Body"] = body
    try:
        response = client.invoke_rest_api(**params)
    except ClientError as exc:
        if error_code(exc) in ("RestApiClientException", "RestApiServerException"):
            status = exc.response.get("RestApiStatusCode", "?")
            detail = _detail(exc.response.get("RestApiResponse", ""))
            message = f"Airflow REST API {method} {path} answered {status}: {detail}"
            raise RestApiError(message, status, detail) from None
        raise
    return int(response.get("RestApiStatusCode") or 0), response.get("RestApiResponse")


def _detail(body: Any) -> str:
    """Airflow's explanation in an error answer ({"detail": ...} on both API versions)."""
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    return str(body)[:300]


@dataclass(frozen=True)
class CliOutput:
    """What the web server answered for one Airflow CLI command: the HTTP status and the
    command's stdout and stderr, as the bytes it wrote."""

    command: str
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def failure(self) -> str | None:
        """Why the command counts as failed, or None when it succeeded.

        The answer has no exit status: MWAA documents the answer to a POST as
        {"stdout": base64, "stderr": base64} and nothing else ("Accessing the Apache Airflow
        UI", https://docs.aws.amazon.com/mwaa/latest/userguide/access-airflow-ui.html; its
        samples in "Creating an Apache Airflow CLI token", call-mwaa-apis-cli.html, print
        the HTTP status, stdout and stderr, nothing more). So failure is read from what
        there is:
        - an HTTP status other than 2xx: MWAA answers 500 for a command it will not run
          (github.com/aws/amazon-mwaa-docker-images/issues/148: `pools import`);
        - Airflow's usage error on stderr ("airflow command error: ..., see help above",
          exit status 2), which comes with the help text on stdout;
        - nothing on stdout and something on stderr: Airflow's commands print their result
          on stdout, and a command that fails (an exception, a SystemExit message) prints
          only on stderr. Warnings on stderr beside a result on stdout are not a failure:
          Airflow logs warnings on stderr (SQLMesh/sqlmesh#1527 had to learn that).
        """
        if not 200 <= self.status < 300:
            return f"the web server answered HTTP {self.status}"
        if _USAGE_ERROR.search(self.error_text):
            return "Airflow refused the command line (a usage error)"
        if not self.stdout.strip() and self.stderr.strip():
            return "it printed only on stderr"
        return None


# DefaultHelpParser.error in airflow/cli/cli_config.py: the help on stdout, then this on stderr.
_USAGE_ERROR = re.compile(r"^\S.* command error: .*, see help above\.$", re.MULTILINE)


class WebServerCli:
    """Airflow CLI commands on an environment's web server: a token from `CreateCliToken`,
    then the command line as text/plain in a POST to https://{WebServerHostname}/aws_mwaa/cli."""

    via = "Airflow CLI (CreateCliToken)"

    def __init__(
        self,
        client: BaseClient,
        environment: str,
        timeout: float = CLI_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.environment = environment
        self.timeout = timeout
        self.clock = clock
        self._token: dict[str, Any] | None = None
        self._token_at = 0.0

    def run(self, command: str) -> CliOutput:
        """Run one command line (as `airflow` would take it, without the word airflow).
        AWS failures (CreateCliToken) propagate as botocore errors; an answer that is not
        the CLI's raises MwaaApiError; a command that ran and failed is a CliOutput whose
        `failure` says why."""
        reused = self._token is not None and self.clock() - self._token_at < CLI_TOKEN_REUSE
        try:
            return self._post(self._current_token(), command)
        except _TokenRefused as refused:
            if not reused:
                raise MwaaApiError(str(refused)) from None
        # A reused token MWAA no longer takes (it expired early, or clocks differ): once
        # more with a new one.
        self._token = None
        try:
            return self._post(self._current_token(), command)
        except _TokenRefused as refused:
            raise MwaaApiError(str(refused)) from None

    def _current_token(self) -> dict[str, Any]:
        if self._token is None or self.clock() - self._token_at >= CLI_TOKEN_REUSE:
            self._token_at = self.clock()
            self._token = self.client.create_cli_token(Name=self.environment)
        return self._token

    def _post(self, token: dict[str, Any], command: str) -> CliOutput:
        url = f"https://{token['WebServerHostname']}/aws_mwaa/cli"
        request = urllib.request.Request(
            url,
            data=command.encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token['CliToken']}", "Content-Type": "text/plain"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, _read_error_body(exc)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise MwaaApiError(f"no answer from {url} within {self.timeout:g} s") from None
            raise MwaaApiError(f"cannot reach {url}: {exc.reason}") from None
        except TimeoutError:
            raise MwaaApiError(f"no answer from {url} within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise MwaaApiError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None
        streams = _cli_streams(raw)
        if streams is None and status in (401, 403):
            raise _TokenRefused(f"the web server at {url} refused the CLI token (HTTP {status}): {raw[:300]!r}")
        if streams is None:
            raise MwaaApiError(f"POST {url} ({command}) answered {status} without the CLI's output: {raw[:300]!r}")
        return CliOutput(command, status, *streams)


class _TokenRefused(Exception):
    """The web server answered 401 or 403 to a CLI token."""


def _read_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _cli_streams(raw: bytes) -> tuple[bytes, bytes] | None:
    """stdout and stderr from {"stdout": base64, "stderr": base64}, or None for any other body."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or not ({"stdout", "stderr"} & body.keys()):
        return None
    try:
        stdout, stderr = (base64.b64decode(body.get(name) or "") for name in ("stdout", "stderr"))
    except (TypeError, ValueError):  # binascii.Error is a ValueError
        return None
    return stdout, stderr
