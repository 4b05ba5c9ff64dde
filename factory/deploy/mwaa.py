"""What an MWAA environment made of the synced specs: its DAGs and import errors.

Two ways in, both through the MWAA API (boto3 client "mwaa"):
- `InvokeRestApi` (MWAA with Airflow 2.4.3+): GET /dags and GET /importErrors of the
  environment's Airflow REST API (v1 on Airflow 2, v2 on Airflow 3; MWAA picks it).
  Both versions page with limit/offset and answer {"dags": [...], "total_entries": N}
  and {"import_errors": [...], "total_entries": N}.
- Fallback: `CreateCliToken`, then POST `dags list -o json` and
  `dags list-import-errors -o json` to https://{WebServerHostname}/aws_mwaa/cli, which
  answers {"stdout": base64, "stderr": base64}. Both routes are in
  factory/deploy/mwaa_api.py, which `factory mwaa cli` and `trigger` use too.

The factory reports broken specs as one import error on factory_spec_errors.py whose text holds
`specs/...yaml:line:col: message` lines; `assess` maps those lines back to specs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from factory.deploy.aws import AWS_ERRORS, error_code, explain
from factory.deploy.bundle import REPORTER_FILE
from factory.deploy.mwaa_api import CLI_TIMEOUT, FALLBACK_CODES, MwaaApiError, WebServerCli, rest_call
from factory.load.layout import Project
from factory.load.shards import LOADER_FILES

PAGE_LIMIT = 100  # Airflow's default [api] maximum_page_limit
SPEC_LINE = re.compile(r"(?P<path>specs/[^\s:]+\.ya?ml)(?::(?P<line>\d+):(?P<column>\d+))?: (?P<message>\S.*)")


@dataclass(frozen=True)
class DagInfo:
    dag_id: str
    fileloc: str
    last_parsed: datetime | None  # None where the API does not say (CLI on Airflow 2)


@dataclass(frozen=True)
class ParseError:
    filename: str
    text: str
    timestamp: datetime | None


@dataclass(frozen=True)
class Snapshot:
    dags: dict[str, DagInfo]
    import_errors: list[ParseError]
    via: str
    taken_at: datetime


class Api(Protocol):
    via: str

    def snapshot(self) -> Snapshot: ...


def _now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """Airflow 2 writes +00:00, Airflow 3 writes Z; a naive time is taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _dag(item: dict[str, Any]) -> DagInfo:
    fileloc = item.get("fileloc") or item.get("relative_fileloc") or item.get("filepath") or ""
    return DagInfo(str(item["dag_id"]), str(fileloc), parse_time(item.get("last_parsed_time")))


def _parse_error(item: dict[str, Any]) -> ParseError:
    filename = item.get("filename") or item.get("filepath") or ""
    text = item.get("stack_trace") or item.get("error") or ""
    return ParseError(str(filename), str(text), parse_time(item.get("timestamp")))


class RestApi:
    """GET /dags and /importErrors through `InvokeRestApi`."""

    via = "InvokeRestApi"

    def __init__(self, client: BaseClient, environment: str, now: Callable[[], datetime] = _now) -> None:
        self.client = client
        self.environment = environment
        self.now = now

    def snapshot(self) -> Snapshot:
        if not hasattr(self.client, "invoke_rest_api"):
            raise MwaaApiError("this boto3 has no InvokeRestApi: upgrade boto3, or use --api cli")
        taken_at = self.now()
        dags = [_dag(d) for d in self._all("/dags", "dags")]
        errors = [_parse_error(e) for e in self._all("/importErrors", "import_errors")]
        return Snapshot({d.dag_id: d for d in dags}, errors, self.via, taken_at)

    def _all(self, path: str, field_name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            query = {"limit": PAGE_LIMIT, "offset": len(items)}
            status, body = rest_call(self.client, self.environment, "GET", path, query=query)
            if status != 200 or not isinstance(body, dict) or not isinstance(body.get(field_name), list):
                raise MwaaApiError(f"Airflow REST API GET {path} answered {status}: {str(body)[:300]}")
            page = body[field_name]
            items.extend(page)
            total = body.get("total_entries")
            if not page or not isinstance(total, int) or len(items) >= total:
                return items


class CliApi:
    """`dags list` and `dags list-import-errors` through the /aws_mwaa/cli endpoint."""

    via = WebServerCli.via

    def __init__(
        self, client: BaseClient, environment: str, timeout: float = CLI_TIMEOUT, now: Callable[[], datetime] = _now
    ) -> None:
        self.cli = WebServerCli(client, environment, timeout)
        self.now = now

    def snapshot(self) -> Snapshot:
        taken_at = self.now()
        dags = json_output(self._stdout("dags list -o json"), "dags list")
        errors = json_output(self._stdout("dags list-import-errors -o json"), "dags list-import-errors")
        return Snapshot(
            {d.dag_id: d for d in (_dag(item) for item in dags)},
            [_parse_error(item) for item in errors],
            self.via,
            taken_at,
        )

    def _stdout(self, command: str) -> str:
        output = self.cli.run(command)
        if output.failure:
            raise MwaaApiError(
                f"`airflow {command}` failed on the environment ({output.failure}): {output.error_text.strip()[-500:]}"
            )
        return output.text


def json_output(stdout: str, command: str) -> list[dict[str, Any]]:
    """The JSON list in a CLI's output; Airflow prints "No data found" for an empty one, and
    warnings may come before the JSON."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\[", stdout, re.MULTILINE):
        try:
            value, _ = decoder.raw_decode(stdout, match.start())
        except ValueError:
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
    if "No data found" in stdout:
        return []
    raise MwaaApiError(f"`airflow {command} -o json` printed no JSON list: {stdout.strip()[:300]!r}")


class AutoApi:
    """InvokeRestApi, falling back to the CLI route when the environment or the
    credentials cannot use it."""

    def __init__(self, client: BaseClient, environment: str) -> None:
        self.rest = RestApi(client, environment)
        self.cli = CliApi(client, environment)
        self.chosen: Api | None = None if hasattr(client, "invoke_rest_api") else self.cli

    @property
    def via(self) -> str:
        return (self.chosen or self.rest).via

    def snapshot(self) -> Snapshot:
        if self.chosen is not None:
            return self.chosen.snapshot()
        try:
            snapshot = self.rest.snapshot()
        except ClientError as exc:
            if error_code(exc) not in FALLBACK_CODES:
                raise
            try:
                snapshot = self.cli.snapshot()
            except (*AWS_ERRORS, MwaaApiError) as cli_exc:
                detail = explain(cli_exc) if isinstance(cli_exc, AWS_ERRORS) else str(cli_exc)
                raise MwaaApiError(f"InvokeRestApi: {explain(exc)}; CLI fallback: {detail}") from None
            self.chosen = self.cli
            return snapshot
        self.chosen = self.rest
        return snapshot


def expected_dags(project: Project) -> dict[str, str]:
    """DAG id -> spec path as the factory names it on MWAA (specs/...yaml)."""
    return {
        project.dag_id(path): "specs/" + path.relative_to(project.specs_dir).as_posix() for path in project.spec_files()
    }


def _is_reporter(filename: str) -> bool:
    name = filename.replace("\\", "/")
    return name == REPORTER_FILE or name.endswith("/" + REPORTER_FILE)


def is_factory_file(filename: str) -> bool:
    """An import error on a loader file, the reporter or the package copy (paths are absolute
    on Airflow 2, relative to the dags folder on Airflow 3)."""
    name = filename.replace("\\", "/")
    return (
        any(name == f or name.endswith("/" + f) for f in (*LOADER_FILES, REPORTER_FILE))
        or name.startswith("factory/")
        or "/dags/factory/" in name
    )


@dataclass
class Report:
    via: str
    parsed: dict[str, DagInfo] = field(default_factory=dict)  # expected DAGs MWAA has, fresh enough
    waiting: list[str] = field(default_factory=list)  # expected DAG ids not (freshly) listed yet
    broken: dict[str, list[str]] = field(default_factory=dict)  # spec path -> error lines
    loader_errors: list[str] = field(default_factory=list)  # factory import errors naming no spec
    extra: list[str] = field(default_factory=list)  # factory DAGs MWAA lists that are no spec now
    other_errors: int = 0  # import errors in files that are not the factory's
    timed_out: bool = False

    @property
    def failed(self) -> bool:
        """MWAA rejected something the factory shipped."""
        return bool(self.broken or self.loader_errors)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.waiting


def assess(snapshot: Snapshot, expected: dict[str, str], cutoff: datetime | None = None) -> Report:
    """Compare what MWAA reports with the specs. With a cutoff, only evidence from parses at
    or after it counts (where the API gives no time, the time of the snapshot stands in)."""

    def fresh(when: datetime | None) -> bool:
        return cutoff is None or (when or snapshot.taken_at) >= cutoff

    report = Report(via=snapshot.via)
    for dag_id in sorted(expected):
        info = snapshot.dags.get(dag_id)
        if info is not None and fresh(info.last_parsed):
            report.parsed[dag_id] = info
        else:
            report.waiting.append(dag_id)
    spec_paths = set(expected.values())
    # The reporter's own DAG (Airflow 3.0 only, while no spec is broken) is no spec's.
    report.extra = sorted(
        dag_id
        for dag_id, info in snapshot.dags.items()
        if dag_id not in expected and is_factory_file(info.fileloc) and not _is_reporter(info.fileloc)
    )
    for error in snapshot.import_errors:
        if not is_factory_file(error.filename):
            report.other_errors += 1
            continue
        if not fresh(error.timestamp):
            continue
        named = False
        for line in error.text.splitlines():
            match = SPEC_LINE.search(line)
            if not match:
                continue
            named = True
            path = match.group("path")
            text = line[match.start() :].strip()
            if path in spec_paths or not path.rsplit("/", 1)[-1].startswith("_"):
                report.broken.setdefault(path, []).append(text)
            else:
                # _platform.yaml or a _defaults.yaml: every spec below it is affected.
                report.loader_errors.append(text)
        if not named:
            tail = [line for line in error.text.strip().splitlines() if line.strip()][-5:]
            report.loader_errors.append(f"{error.filename}: " + "\n  ".join(tail))
    # A broken spec is not also "waiting": MWAA has answered for it.
    broken_ids = {dag_id for dag_id, path in expected.items() if path in report.broken}
    report.waiting = [d for d in report.waiting if d not in broken_ids]
    return report


def wait(
    api: Api,
    expected: dict[str, str],
    *,
    since: datetime,
    settle: float,
    timeout: float,
    interval: float,
    on_poll: Callable[[Report], None] = lambda report: None,
    on_retry: Callable[[str], None] = lambda message: None,
    now: Callable[[], datetime] = _now,
    sleep: Callable[[float], None] | None = None,
) -> Report:
    """Poll until every expected DAG is parsed, a spec is rejected, or `timeout` passes.

    MWAA copies the bucket to its containers about every 30 s and re-parses each file about
    every 30 s, so a parse shortly after the sync may still have read the old files:
    evidence counts only from `since + settle` on.
    """
    sleep = sleep or time.sleep
    cutoff = since + timedelta(seconds=settle)
    deadline = now() + timedelta(seconds=timeout)
    first = True
    while True:
        try:
            report = assess(api.snapshot(), expected, cutoff)
        except (*AWS_ERRORS, MwaaApiError) as exc:
            # Wrong names or permissions show on the first poll; later failures (throttling,
            # an environment updating) are retried until the deadline.
            if first:
                raise
            report = None
            on_retry(explain(exc) if isinstance(exc, AWS_ERRORS) else str(exc))
        first = False
        if report is not None:
            on_poll(report)
            if report.failed or report.ok:
                return report
        remaining = (deadline - now()).total_seconds()
        if remaining <= 0:
            final = report or Report(via=api.via, waiting=sorted(expected))
            final.timed_out = True
            return final
        sleep(min(interval, remaining))
