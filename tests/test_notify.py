"""Notifications (factory/validate/notify.py, factory/compile/notify.py,
factory/operators/notify.py): the checks with their positions, the callbacks each
runtime's DAG gets, and the messages as a real SMTP server, SNS and a Slack API receive
them. A failing task notifying through Airflow's own task runner, on the test bed, is in
tests/deployment/test_notify_on_failure.py.

What the messages reach here:
- email: a real SMTP server (aiosmtpd, tests/notify_sinks.py);
- SNS: moto in server mode, in its own process (nothing real serves SNS offline), with
  an SQS queue subscribed to the topic;
- Slack: a local stand-in for Slack's Web API (an HTTP server that records the
  chat.postMessage calls it is sent), since nothing real serves it offline.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from notify_sinks import ACCOUNT, REGION, MotoProcess, SmtpSink, moto_process, smtp_sink, text_of
from spec_projects import compiled, spec_project

from factory.check import SpecChecker
from factory.diagnostics import SpecError
from factory.lint import lint_paths
from factory.load.layout import Project
from factory.model.platform import Notifications
from factory.operators.notify import FactoryNotifier
from factory.read import Reader

TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:data-alerts"
TASKS = 'tasks:\n  load:\n    image: "busybox:1"\n  report:\n    image: "busybox:1"\n    depends_on: [load]\n'
PLATFORM_NOTIFY = "notifications:\n  email:\n    from: factory@example.com\n  sns: {}\n"  # the repository's kinds


def _project(tmp_path: Path, body: str, defaults: str = "", platform: str | None = None) -> Project:
    files = {"_defaults.yaml": f"owner: o\nstart_date: 2024-01-01\n{defaults}", "job.yaml": f"description: d\n{body}"}
    project = spec_project(tmp_path, files)
    if platform is not None:
        (project.specs_dir / "_platform.yaml").write_text(platform)
    return project


def _errors(project: Project) -> list[str]:
    root = f"{project.specs_dir.parent}/"
    found = lint_paths([project.specs_dir]).errors
    return [f"{d.path.split('/')[-1]}:{d.line}:{d.column}: {d.message.replace(root, '')}" for d in found]


def test_the_repositorys_platform_sets_up_email_and_sns(tmp_path: Path) -> None:
    body = f"notify:\n  - email: team@example.com\n    when: [failure, recovery]\n  - sns: {TOPIC}\n{TASKS}"
    assert _errors(_project(tmp_path, body)) == []


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        ("  - when: [failure]\n", "job.yaml:3:5: 'notify.0' needs exactly one of email, sns, slack: it has none"),
        (
            f"  - email: a@example.com\n    sns: {TOPIC}\n",
            "job.yaml:3:5: 'notify.0' needs exactly one of email, sns, slack: it has email and sns",
        ),
        ("  - email: team\n", "job.yaml:3:12: 'notify.0.email': 'team' is not valid"),
        (
            "  - email: '{{ var.value.to }}@x.com'\n",
            "job.yaml:3:12: 'notify.0.email': '{{ var.value.to }}@x.com' is not valid",
        ),
        (
            "  - sns: arn:aws:sns:eu-west-1:1234:t\n",
            "job.yaml:3:10: 'notify.0.sns': 'arn:aws:sns:eu-west-1:1234:t' is not valid",
        ),
        (
            "  - slack: '#Data Alerts'\n",
            "job.yaml:3:12: 'notify.0.slack': '#Data Alerts' is not valid",
        ),
        (
            "  - email: a@example.com\n    when: [failed]\n",
            "job.yaml:4:12: 'notify.0.when.0': 'failed' is not one of failure, retry, success, recovery, late",
        ),
        ("  - email: a@example.com\n    when: []\n", "job.yaml:4:11: 'notify.0.when' must not be empty"),
        ("  - email: a@example.com\n    on: [failure]\n", "job.yaml:4:5: unknown key 'on' in 'notify.0'"),
        # What the schema cannot say: the platform must reach the kind; a target once.
        (
            "  - slack: '#data-alerts'\n",
            "job.yaml:3:5: Slack notifications are not set up on this platform: "
            "specs/_platform.yaml has no notifications.slack",
        ),
        (
            "  - email: a@example.com\n  - email: a@example.com\n    when: [retry]\n",
            "job.yaml:4:12: a@example.com is already told at notify[0]: a target is named once",
        ),
    ],
)
def test_a_bad_notify_is_an_error_at_its_line(tmp_path: Path, notify: str, expected: str) -> None:
    # The platform sets up every kind, so each case is only its own problem.
    platform = f"{PLATFORM_NOTIFY}  slack: {{}}\n" if "slack:" in notify and "#Data" in notify else None
    assert _errors(_project(tmp_path, f"notify:\n{notify}{TASKS}", platform=platform)) == [expected]


def test_a_kind_the_platform_does_not_set_up_is_an_error(tmp_path: Path) -> None:
    body = f"notify:\n  - sns: {TOPIC}\n{TASKS}"
    assert _errors(_project(tmp_path, body, platform="onprem: {}\n")) == [
        "job.yaml:3:5: SNS notifications are not set up on this platform: specs/_platform.yaml has no notifications.sns"
    ]


def test_team_defaults_apply_and_a_spec_can_tell_nobody(tmp_path: Path) -> None:
    team = "notify:\n  - email: team@example.com\n"
    project = _project(tmp_path, TASKS, defaults=team)
    (project.specs_dir / "quiet.yaml").write_text(f"description: d\nnotify: []\n{TASKS}")
    reader = Reader(project)
    told = reader.read_spec(project.specs_dir / "job.yaml").notify
    assert [(n.target, n.address, n.events) for n in told] == [("email", "team@example.com", ("failure",))]
    assert reader.read_spec(project.specs_dir / "quiet.yaml").notify == ()


def test_a_bad_team_default_is_reported_in_the_defaults_file(tmp_path: Path) -> None:
    project = _project(tmp_path, TASKS, defaults="notify:\n  - slack: '#team'\n")
    assert _errors(project) == [
        "_defaults.yaml:4:5: Slack notifications are not set up on this platform: "
        "specs/_platform.yaml has no notifications.slack"
    ]


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_each_runtime_puts_the_callbacks_on_the_spec_tasks_only(tmp_path: Path, runtime: str) -> None:
    body = (
        "wait_for:\n  s3: s3://partner-drop/x\n  timeout: 1h\n"
        f"notify:\n  - email: team@example.com\n    when: [failure, recovery]\n  - sns: {TOPIC}\n    when: [retry]\n"
        f"{TASKS}"
    )
    dags, _ = compiled(_project(tmp_path, body), runtime)
    dag = dags["job"]

    def told(callbacks: Any) -> list[str]:
        found = callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []
        return [repr(c) for c in found]

    for task_id in ("wait_for", "load", "report"):
        task = dag.get_task(task_id)
        assert told(task.on_failure_callback) == ["FactoryNotifier(failure -> email:team@example.com)"]
        assert told(task.on_retry_callback) == [f"FactoryNotifier(retry -> sns:{TOPIC})"]
        assert told(task.on_success_callback) == []
    verdict = dag.get_task("verdict")
    assert told(verdict.on_success_callback) == ["FactoryNotifier(success -> email:team@example.com)"]
    assert told(verdict.on_failure_callback) == []
    housekeeping = [t for t in dag.task_ids if t.startswith("cleanup")]
    assert housekeeping == (["cleanup", "cleanup_done"] if runtime == "onprem" else [])
    for task_id in housekeeping:
        task = dag.get_task(task_id)
        assert told(task.on_failure_callback) == told(task.on_retry_callback) == []


def test_a_spec_without_notify_has_no_callbacks(tmp_path: Path) -> None:
    dags, _ = compiled(_project(tmp_path, TASKS), "onprem")
    for task in dags["job"].tasks:
        assert not task.on_failure_callback and not task.on_retry_callback and not task.on_success_callback


def test_the_loader_refuses_slack_where_its_provider_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = "notifications:\n  slack: {}\n"
    project = _project(tmp_path, f"notify:\n  - slack: '#data-alerts'\n{TASKS}", platform=platform)
    checker = SpecChecker.for_runtime(Reader(project), "onprem")
    checker.check(project.specs_dir / "job.yaml")  # the dev environment has the provider
    # As on an Airflow without it (MWAA's images do not install it):
    monkeypatch.setattr("factory.check.notify_missing_package", lambda target: "apache-airflow-providers-slack")
    with pytest.raises(SpecError) as raised:
        checker.check(project.specs_dir / "job.yaml")
    [problem] = raised.value.diagnostics
    assert (problem.path, problem.line, problem.column) == ("specs/job.yaml", 3, 5)
    assert problem.message == (
        "slack notifications need apache-airflow-providers-slack, which this Airflow (onprem) does not have"
    )


# -- the messages, as their receivers get them ---------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as server:
        yield server


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoProcess]:
    with moto_process(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


class _SlackApi(BaseHTTPRequestHandler):
    """A stand-in for Slack's Web API: records each call, answers ok."""

    calls: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        fields = json.loads(body) if is_json else {k: v[0] for k, v in parse_qs(body).items()}
        self.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), **fields})
        answer = json.dumps({"ok": True, "channel": "C0DATA", "ts": "1.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slack_api() -> Iterator[str]:
    _SlackApi.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch, sink: SmtpSink, moto: MotoProcess, slack_api: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_SINK", json.dumps(sink.connection()))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_MOTO", json.dumps(moto.aws_connection()))
    slack = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": slack_api}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_STANDIN", json.dumps(slack))


SETTINGS = Notifications(
    email=True,
    smtp_conn_id="smtp_sink",
    email_from="factory@example.com",
    sns=True,
    sns_conn_id="aws_moto",
    slack=True,
    slack_conn_id="slack_standin",
)
CONTAINER_ERROR = (
    "Container 0a1b2c3d4e5f of task 'load' exited with code 3.\n"
    "Last 2 line(s) of its output:\n    reading s3://raw/orders/2026-11-30\n    ERROR: no file for 2026-11-30"
)


def _context(previous_state: str | None = None, error: BaseException | None = None) -> dict[str, Any]:
    run_id = "scheduled__2026-12-01T06:00:00+00:00"
    ti = SimpleNamespace(
        dag_id="sales.daily_rollup",
        task_id="load",
        run_id=run_id,
        try_number=2,
        log_url=f"http://airflow.example.com/dags/sales.daily_rollup/runs/{run_id}/tasks/load?try_number=2",
        get_previous_dagrun=lambda: SimpleNamespace(state=previous_state) if previous_state else None,
    )
    return {
        "ti": ti,
        "task": SimpleNamespace(retries=2),
        "dag_run": SimpleNamespace(run_id=run_id),
        "logical_date": datetime(2026, 12, 1, 6, tzinfo=UTC),
        "exception": error,
    }


@pytest.mark.usefixtures("connections")
def test_a_failure_reaches_email_sns_and_slack_with_the_containers_last_lines(
    sink: SmtpSink, moto: MotoProcess
) -> None:
    topic, queue = moto.topic_with_queue("failures")
    targets = (
        ("email", "oncall@example.com", ("failure",)),
        ("sns", topic, ("failure",)),
        ("slack", "#data-alerts", ("failure", "retry")),
    )
    notifier = FactoryNotifier("failure", targets, SETTINGS, "specs/sales/daily_rollup.yaml")
    notifier(_context(error=RuntimeError(CONTAINER_ERROR)))

    expected_lines = [
        "Pipeline: sales.daily_rollup (specs/sales/daily_rollup.yaml)",
        "Task: load (try 2 of 3)",
        "Run: scheduled__2026-12-01T06:00:00+00:00",
        "Logical date: 2026-12-01T06:00:00+00:00",
        "Log: http://airflow.example.com/dags/sales.daily_rollup/runs/scheduled__2026-12-01T06:00:00+00:00"
        "/tasks/load?try_number=2",
        "    ERROR: no file for 2026-11-30",
    ]
    [mail] = sink.to("oncall@example.com")
    assert mail["Subject"] == "[factory] sales.daily_rollup: task load failed"
    assert mail["From"] == "factory@example.com"
    body = text_of(mail)
    for line in expected_lines:
        assert line in body.splitlines()

    [published] = moto.received(queue)
    assert published["Subject"] == "[factory] sales.daily_rollup: task load failed"
    for line in expected_lines:
        assert line in published["Message"].splitlines()

    [call] = _SlackApi.calls
    assert call["path"] == "/api/chat.postMessage"
    assert call["auth"] == "Bearer xoxb-test-token"
    assert call["channel"] == "#data-alerts"
    assert "ERROR: no file for 2026-11-30" in call["text"]


@pytest.mark.usefixtures("connections")
def test_the_verdict_tells_a_recovery_to_who_asked_and_a_success_only_to_who_wants_successes(
    sink: SmtpSink,
) -> None:
    targets = (
        ("email", "recoveries@example.com", ("failure", "recovery")),
        ("email", "successes@example.com", ("success",)),
    )
    notifier = FactoryNotifier("success", targets, SETTINGS, "specs/sales/daily_rollup.yaml")
    notifier(_context(previous_state="success"))
    assert sink.to("recoveries@example.com") == []
    [plain] = sink.to("successes@example.com")
    assert plain["Subject"] == "[factory] sales.daily_rollup: run succeeded"

    notifier(_context(previous_state="failed"))
    [recovered] = sink.to("recoveries@example.com")
    assert recovered["Subject"] == "[factory] sales.daily_rollup: run succeeded after a failed run"
    assert len(sink.to("successes@example.com")) == 2  # a recovery is a success too
    assert "Task:" not in text_of(recovered)


@pytest.mark.usefixtures("connections")
def test_an_unreachable_target_does_not_silence_the_others(sink: SmtpSink, moto: MotoProcess) -> None:
    settings = Notifications(email=True, smtp_conn_id="smtp_sink", email_from="factory@example.com", sns=True)
    targets = (
        ("sns", f"arn:aws:sns:{REGION}:{ACCOUNT}:no-such-connection", ("failure",)),  # aws_default is not set
        ("email", "still-told@example.com", ("failure",)),
    )
    FactoryNotifier("failure", targets, settings, "specs/x.yaml")(_context(error=RuntimeError("boom")))
    assert len(sink.to("still-told@example.com")) == 1


@pytest.mark.usefixtures("connections")
def test_a_secret_the_log_masks_is_masked_in_the_message(sink: SmtpSink) -> None:
    from factory.operators.notify import _redact

    try:
        from airflow.sdk._shared.secrets_masker import mask_secret
    except ImportError:  # pragma: no cover - an older Airflow
        from airflow.sdk.execution_time.secrets_masker import mask_secret
    mask_secret("s3cr3t-token-value")
    assert _redact("token=s3cr3t-token-value") != "token=s3cr3t-token-value"
    targets = (("email", "masked@example.com", ("failure",)),)
    error = RuntimeError("curl -H 'Authorization: s3cr3t-token-value' failed")
    FactoryNotifier("failure", targets, SETTINGS, "specs/x.yaml")(_context(error=error))
    [mail] = sink.to("masked@example.com")
    assert "s3cr3t-token-value" not in mail.as_string()
    assert "***" in text_of(mail)


@pytest.mark.usefixtures("connections")
def test_without_the_exception_in_the_context_the_error_the_operator_kept_is_told(sink: SmtpSink) -> None:
    """dag.test() on Airflow 3.0 gives a failure callback no exception: the factory's
    operators keep their error (factory/operators/notify.py, keeping_the_error)."""
    from factory.operators.notify import keeping_the_error

    operator = SimpleNamespace()
    with pytest.raises(RuntimeError), keeping_the_error(operator):
        raise RuntimeError(CONTAINER_ERROR)
    context = _context(error=None)
    context["ti"].task = operator
    targets = (("email", "kept@example.com", ("failure",)),)
    FactoryNotifier("failure", targets, SETTINGS, "specs/x.yaml")(context)
    [mail] = sink.to("kept@example.com")
    assert "    ERROR: no file for 2026-11-30" in text_of(mail).splitlines()
