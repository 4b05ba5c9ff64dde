"""What `factory mwaa cli` and `factory mwaa trigger` do on an MWAA environment.

- `unsupported`: the Airflow CLI commands MWAA's CLI endpoint does not run, from MWAA's
  documentation, so they are refused before any AWS call.
- DAG runs: trigger one and follow its state, through `InvokeRestApi` (the environment's
  Airflow REST API) or, where that is not available, the Airflow CLI on the web server
  (`WebServerCli`, the route `factory mwaa status` falls back to as well).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from factory.deploy.aws import AWS_ERRORS, error_code, explain
from factory.deploy.mwaa import json_output
from factory.deploy.mwaa_api import CLI_TIMEOUT, FALLBACK_CODES, MwaaApiError, RestApiError, WebServerCli, rest_call
from factory.load.layout import MAX_DAG_ID

# ---------------------------------------------------------------- what MWAA's CLI refuses

COMMAND_REFERENCE = "https://docs.aws.amazon.com/mwaa/latest/userguide/airflow-cli-command-reference.html"


@dataclass(frozen=True)
class Unsupported:
    """A command MWAA does not run: its words, and the options it is refused with (none:
    refused whatever the options)."""

    words: tuple[str, ...]
    options: tuple[str, ...] = ()
    instead: str = ""

    def matches(self, argv: Sequence[str]) -> bool:
        if tuple(argv[: len(self.words)]) != self.words:
            return False
        return not self.options or any(_is_option(arg, option) for arg in argv for option in self.options)

    @property
    def name(self) -> str:
        return " ".join(self.words + self.options[-1:])


def _is_option(arg: str, option: str) -> bool:
    """`arg` spells `option` the ways argparse takes it: -s, -sVALUE, --save, --save=V,
    or an unambiguous start of a long option (--sa)."""
    if option.startswith("--"):
        name = arg.split("=", 1)[0]
        return len(name) > 2 and name.startswith("--") and option.startswith(name)
    return arg.startswith(option) and not arg.startswith("--")


_RUN_BY_MWAA = (
    "MWAA runs this component itself; set its options as the environment's Apache Airflow configuration options"
)
_USERS_BY_IAM = (
    "MWAA signs users in with IAM and maps them to Airflow roles "
    "(MWAA user guide: 'Accessing an Amazon MWAA environment')"
)
_WITHOUT_OPTION = "run it without that option"

# The Airflow CLI commands MWAA does not run through its CLI endpoint, per Airflow major.
#
# Source: "Apache Airflow CLI command reference", COMMAND_REFERENCE above. Of the live page
# only the top (contents, "What changed?") could be read when this was written; its
# published English source could be read whole, in its revisions up to 2022
# (github.com/awsdocs/amazon-mwaa-user-guide, doc_source/airflow-cli-command-reference.md):
# - The May 2021 revision has a table of UNsupported commands for Airflow v2.0.2:
#   connections; dags backfill* and dags list* ("*No (note)": they only fail where plugins
#   need requirements.txt packages); dags show --save; dags test --save-dagrun and
#   --show-dagrun; db check, check-migrations, init, reset, upgrade; flower; kerberos;
#   pools delete, list, export, set; rotate-fernet-key; scheduler; shell; sync-perm;
#   tasks run; users create, delete, list; webserver; worker.
# - The February 2022 revision lists only SUPPORTED v2 commands ("v2.0+"). It adds
#   `connections add` and `connections delete`, so the connections row is out of date, and
#   its list is not complete either (it lacks `dags list-import-errors`, which MWAA runs
#   and `factory mwaa status` uses), so "not listed as supported" is not "refused".
# So the rows below are the 2021 table's that nothing since contradicts: the commands that
# run or administer Airflow's own components, and the options that save files on the web
# server. Not refused here: connections and pools (partly supported since, and
# aws/amazon-mwaa-docker-images#148 reports `pools set`/`pools delete` working in 2024),
# and the "*No (note)" commands; MWAA's own refusal of those (HTTP 500) is reported as a
# failed command. 2.0.2's rows by their Airflow 2 names: flower and worker are
# `celery flower` and `celery worker`, shell is `db shell`, and Airflow 2.7 renamed
# `db upgrade` to `db migrate`.
# Airflow 3: the page's v3 tab could not be read. Its rows are Airflow 2's for the commands
# that still exist in Airflow 3 (`api-server` is Airflow 3's webserver; `webserver`,
# `tasks run`, `db init` and `db upgrade` are gone), not checked against that tab.
# `factory mwaa cli --force` sends a command whatever this table says.
_AIRFLOW_2 = (
    Unsupported(("celery", "flower"), instead=_RUN_BY_MWAA),
    Unsupported(("celery", "worker"), instead=_RUN_BY_MWAA),
    Unsupported(("dags", "show"), ("-s", "--save"), instead=_WITHOUT_OPTION),
    Unsupported(("dags", "test"), ("--save-dagrun",), instead=_WITHOUT_OPTION),
    Unsupported(("dags", "test"), ("--show-dagrun",), instead=_WITHOUT_OPTION),
    Unsupported(("db", "check")),
    Unsupported(("db", "check-migrations")),
    Unsupported(("db", "init")),
    Unsupported(("db", "migrate")),
    Unsupported(("db", "reset")),
    Unsupported(("db", "shell")),
    Unsupported(("db", "upgrade")),
    Unsupported(("kerberos",), instead=_RUN_BY_MWAA),
    Unsupported(("rotate-fernet-key",)),
    Unsupported(("scheduler",), instead=_RUN_BY_MWAA),
    Unsupported(("sync-perm",)),
    Unsupported(("tasks", "run")),
    Unsupported(("users", "create"), instead=_USERS_BY_IAM),
    Unsupported(("users", "delete"), instead=_USERS_BY_IAM),
    Unsupported(("users", "list"), instead=_USERS_BY_IAM),
    Unsupported(("webserver",), instead=_RUN_BY_MWAA),
)
_GONE_IN_AIRFLOW_3 = {("webserver",), ("tasks", "run"), ("db", "init"), ("db", "upgrade")}
UNSUPPORTED: dict[int, tuple[Unsupported, ...]] = {
    2: _AIRFLOW_2,
    3: (
        Unsupported(("api-server",), instead=_RUN_BY_MWAA),
        *(row for row in _AIRFLOW_2 if row.words not in _GONE_IN_AIRFLOW_3),
    ),
}


def unsupported(argv: Sequence[str], airflow_major: int | None = None) -> str | None:
    """Why MWAA will not run this Airflow command line, or None. Without the environment's
    Airflow major every row counts: a row one major lacks names a command that major does
    not have, so refusing it costs nothing."""
    majors = [airflow_major] if airflow_major in UNSUPPORTED else sorted(UNSUPPORTED)
    listed = [major for major in majors if any(row.matches(argv) for row in UNSUPPORTED[major])]
    if not listed:
        return None
    row = next(row for row in UNSUPPORTED[listed[0]] if row.matches(argv))
    where = " and ".join(f"Airflow {major}" for major in listed)
    instead = f"; {row.instead}" if row.instead else ""
    return (
        f"MWAA does not support `airflow {row.name}` ({where}; see {COMMAND_REFERENCE}){instead}. "
        "--force sends it anyway"
    )


# ---------------------------------------------------------------- DAG runs

DAG_ID = re.compile(r"^[\w.-]+$")  # Airflow's KEY_REGEX, which DAG() checks ids against
FINISHED = ("success", "failed")


def dag_id_problem(dag_id: str) -> str | None:
    """Why `dag_id` cannot be an Airflow DAG id, or None."""
    if not DAG_ID.match(dag_id):
        return f"{dag_id!r} is not a DAG id: Airflow's DAG ids are letters, digits, '.', '-' and '_'"
    if len(dag_id) > MAX_DAG_ID:
        return f"{dag_id[:40]!r}... is not a DAG id: it has {len(dag_id)} characters and Airflow allows {MAX_DAG_ID}"
    return None


def airflow_version(client: BaseClient, environment: str) -> str:
    """The environment's Airflow version (GetEnvironment), e.g. "2.10.3"."""
    version = client.get_environment(Name=environment)["Environment"].get("AirflowVersion")
    if not isinstance(version, str) or not re.match(r"^\d+\.\d+", version):
        raise MwaaApiError(f"GetEnvironment gave no Airflow version for {environment!r}: {version!r}")
    return version


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str
    paused: bool | None  # the DAG's, when triggered (None where the route does not say)


class Runs(Protocol):
    via: str

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> DagRun: ...

    def state(self, dag_id: str, run_id: str) -> str: ...


def _segment(value: str) -> str:
    """A DAG or run id as a URL path segment (run ids hold ':' and '+', both valid there)."""
    return quote(value, safe=":+")


class RestRuns:
    """POST /dags/{dag_id}/dagRuns and GET /dags/{dag_id}/dagRuns/{run_id} through
    `InvokeRestApi`, which sends them to the Airflow REST API of the environment's version."""

    via = "InvokeRestApi"

    def __init__(self, client: BaseClient, environment: str, version: str) -> None:
        self.client = client
        self.environment = environment
        self.major = major(version)

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> DagRun:
        # GET /dags/{id} first: a missing DAG is named as such, and a paused one said so
        # (MWAA pauses new DAGs; their runs wait in "queued" until someone unpauses them).
        try:
            _, dag = rest_call(self.client, self.environment, "GET", f"/dags/{_segment(dag_id)}")
        except RestApiError as exc:
            if exc.status == 404:
                raise MwaaApiError(f"no DAG {dag_id!r} on {self.environment!r} (Airflow: {exc.detail})") from None
            raise
        paused = dag.get("is_paused") if isinstance(dag, dict) else None
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": conf}
        if self.major >= 3:
            # REST API v2 requires logical_date and lets it be null: a run with no logical
            # date, run now. API v1 (Airflow 2) defaults it to now when left out.
            body["logical_date"] = None
        path = f"/dags/{_segment(dag_id)}/dagRuns"
        status, answer = rest_call(self.client, self.environment, "POST", path, body=body)
        if not 200 <= status < 300 or not isinstance(answer, dict):
            raise MwaaApiError(f"Airflow REST API POST {path} answered {status}: {str(answer)[:300]}")
        return DagRun(
            dag_id, str(answer.get("dag_run_id") or run_id), str(answer.get("state") or "queued"), _flag(paused)
        )

    def state(self, dag_id: str, run_id: str) -> str:
        path = f"/dags/{_segment(dag_id)}/dagRuns/{_segment(run_id)}"
        status, answer = rest_call(self.client, self.environment, "GET", path)
        if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("state"), str):
            raise MwaaApiError(f"Airflow REST API GET {path} answered {status}: {str(answer)[:300]}")
        return answer["state"].lower()


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


class CliRuns:
    """`dags trigger` and `dags list-runs` through the web server's CLI endpoint."""

    via = WebServerCli.via

    def __init__(self, cli: WebServerCli, version: str) -> None:
        self.cli = cli
        self.major = major(version)

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> DagRun:
        # The run id is ours, so the run can be found again whatever the command prints.
        self._stdout(["dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf)])
        return DagRun(dag_id, run_id, "queued", None)  # Airflow queues a triggered run

    def state(self, dag_id: str, run_id: str) -> str:
        # Airflow 3 takes the DAG id as an argument, Airflow 2 as -d.
        words = ["dags", "list-runs", dag_id] if self.major >= 3 else ["dags", "list-runs", "-d", dag_id]
        for run in json_output(self._stdout([*words, "-o", "json"]), "dags list-runs"):
            if run.get("run_id") == run_id:
                return str(run.get("state") or "").lower()
        raise MwaaApiError(f"`airflow dags list-runs` does not list run {run_id!r} of {dag_id!r}")

    def _stdout(self, words: list[str]) -> str:
        command = shlex.join(words)
        output = self.cli.run(command)
        if output.failure:
            tail = output.error_text.strip()[-500:] or output.text.strip()[-500:]
            raise MwaaApiError(f"`airflow {command}` failed on the environment ({output.failure}): {tail}")
        return output.text


class AutoRuns:
    """InvokeRestApi, or the CLI route when this boto3 or the environment cannot use it."""

    def __init__(self, rest: RestRuns, cli: CliRuns) -> None:
        self.rest = rest
        self.cli = cli
        self.chosen: Runs | None = None if hasattr(rest.client, "invoke_rest_api") else cli

    @property
    def via(self) -> str:
        return (self.chosen or self.rest).via

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> DagRun:
        if self.chosen is not None:
            return self.chosen.trigger(dag_id, run_id, conf)
        try:
            run = self.rest.trigger(dag_id, run_id, conf)
        except ClientError as exc:
            # These codes are MWAA refusing the call itself, before Airflow saw it, so the
            # run was not triggered and the CLI route cannot trigger it twice.
            if error_code(exc) not in FALLBACK_CODES:
                raise
            self.chosen = self.cli
            try:
                return self.cli.trigger(dag_id, run_id, conf)
            except (*AWS_ERRORS, MwaaApiError) as cli_exc:
                detail = explain(cli_exc) if isinstance(cli_exc, AWS_ERRORS) else str(cli_exc)
                raise MwaaApiError(f"InvokeRestApi: {explain(exc)}; CLI fallback: {detail}") from None
        self.chosen = self.rest
        return run

    def state(self, dag_id: str, run_id: str) -> str:
        return (self.chosen or self.rest).state(dag_id, run_id)


def runs(client: BaseClient, environment: str, version: str, api: str = "auto", timeout: float = CLI_TIMEOUT) -> Runs:
    """The way to trigger and follow runs: "rest", "cli" or "auto" (REST, else CLI)."""
    rest = RestRuns(client, environment, version)
    cli = CliRuns(WebServerCli(client, environment, timeout), version)
    if api == "rest":
        return rest
    if api == "cli":
        return cli
    return AutoRuns(rest, cli)


def trigger(
    api: Runs, dag_id: str, conf: dict[str, Any], now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> DagRun:
    """Trigger a run under the run id Airflow itself would give a manual run now."""
    return api.trigger(dag_id, f"manual__{now().isoformat()}", conf)


@dataclass(frozen=True)
class Outcome:
    state: str  # the last state seen
    timed_out: bool


def wait_for_run(
    api: Runs,
    run: DagRun,
    *,
    timeout: float,
    interval: float,
    on_state: Callable[[str], None] = lambda state: None,
    on_retry: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll the run's state until it is success or failed, or `timeout` passes."""
    deadline = clock() + timeout
    state, seen, first = run.state, run.state, True  # the trigger already said its state
    while True:
        try:
            state = api.state(run.dag_id, run.run_id)
        except (*AWS_ERRORS, MwaaApiError) as exc:
            # Wrong names or permissions show on the first poll; later failures (throttling,
            # a web server restarting) are retried until the deadline.
            if first:
                raise
            on_retry(explain(exc) if isinstance(exc, AWS_ERRORS) else str(exc))
        else:
            if state != seen:
                on_state(state)
                seen = state
            if state in FINISHED:
                return Outcome(state, timed_out=False)
        first = False
        remaining = deadline - clock()
        if remaining <= 0:
            return Outcome(state, timed_out=True)
        sleep(min(interval, remaining))
