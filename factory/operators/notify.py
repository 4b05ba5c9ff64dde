"""Telling people about a run: the callbacks a spec's `notify` compiles to.

One `FactoryNotifier` is a task's `on_failure_callback` or `on_retry_callback`, or the
verdict's `on_success_callback` (the run succeeded; a recovery when the run before it
failed). It writes one message and sends it to each target through the platform's
connection: email through the smtp provider's SmtpHook, SNS through the amazon
provider's SnsHook, Slack through the Slack provider's SlackHook. Every Airflow the
factory supports has the first two; the hooks are imported only when a message is sent.

The message names the pipeline, the task, the run and the log URL, and ends with the
task's error: for a container that failed, the factory's operators put its exit and
last output lines there (factory/operators/docker.py; on ECS the provider's message
with the CloudWatch lines). It is masked like a task log, so a secret the log would
hide does not go out by mail either.

A target that cannot be reached is logged and skipped: the others are still told, and
the task's own state and error stay what they were.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from factory.model.platform import Notifications

log = logging.getLogger(__name__)

ERROR_CHARS = 4000  # the end of a long error: where a container's last lines are
SNS_SUBJECT_CHARS = 99  # SNS refuses a subject of 100 characters or more


ERROR_ATTRIBUTE = "factory_error"


@contextlib.contextmanager
def keeping_the_error(operator: Any) -> Iterator[None]:
    """Keep the message of the error a task fails with on its operator, for the message."""
    try:
        yield
    except Exception as exc:
        setattr(operator, ERROR_ATTRIBUTE, str(exc))
        raise


class FactoryNotifier:
    """A task callback that tells `targets` ((kind, address, events) each) of `event`."""

    def __init__(
        self,
        event: str,
        targets: tuple[tuple[str, str, tuple[str, ...]], ...],
        settings: Notifications,
        spec_path: str,
    ) -> None:
        self.event = event  # failure, retry, or success (the verdict's: success or recovery)
        self.targets = targets
        self.settings = settings
        self.spec_path = spec_path

    def __repr__(self) -> str:  # shown in the UI's task details
        told = ", ".join(f"{kind}:{address}" for kind, address, _ in self.targets)
        return f"FactoryNotifier({self.event} -> {told})"

    def __call__(self, context: Any) -> None:
        event = self.event
        if event == "success" and _previous_run_failed(context):
            event = "recovery"
        sends = [(kind, address) for kind, address, events in self.targets if _tells(events, self.event, event)]
        if not sends:
            return
        subject, body = message(event, context, self.spec_path)
        for kind, address in sends:
            try:
                _SENDERS[kind](self.settings, address, subject, body)
                log.info("Told %s %s of the %s", kind, address, event)
            except Exception:  # one unreachable target must not silence the rest
                log.exception("Could not tell %s %s of the %s", kind, address, event)


def _tells(events: tuple[str, ...], compiled_for: str, event: str) -> bool:
    if compiled_for != "success":
        return compiled_for in events
    # The verdict's callback: a recovery goes to who asked for recoveries or successes;
    # a plain success only to who asked for successes.
    return event in events or (event == "recovery" and "success" in events)


def message(event: str, context: Any, spec_path: str) -> tuple[str, str]:
    """The subject and plain-text body of a notification."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or "?"
    task_id = getattr(ti, "task_id", None) or "?"
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    try_number = getattr(ti, "try_number", None)
    retries = getattr(context.get("task"), "retries", None)
    tries = f" (try {try_number} of {retries + 1})" if isinstance(try_number, int) and retries is not None else ""
    subject = {
        "failure": f"{dag_id}: task {task_id} failed",
        "retry": f"{dag_id}: task {task_id} failed{tries}, will retry",
        "success": f"{dag_id}: run succeeded",
        "recovery": f"{dag_id}: run succeeded after a failed run",
    }[event]
    lines = [f"Pipeline: {dag_id} ({spec_path})"]
    if event in ("failure", "retry"):
        lines.append(f"Task: {task_id}{tries}")
    lines.append(f"Run: {run_id}")
    logical = context.get("logical_date")
    if logical is not None:
        lines.append(f"Logical date: {logical.isoformat() if hasattr(logical, 'isoformat') else logical}")
    url = log_url(ti) if event in ("failure", "retry") else run_url(dag_id, run_id)
    if url:
        lines.append(f"Log: {url}" if event in ("failure", "retry") else f"Run page: {url}")
    if event in ("failure", "retry"):
        error = context.get("exception")
        # Where Airflow gives the callback no exception (dag.test() on 3.0), the error the
        # factory's operator kept (on the copy that ran: the instance's task).
        kept = getattr(getattr(ti, "task", None), ERROR_ATTRIBUTE, None) or getattr(
            context.get("task"), ERROR_ATTRIBUTE, ""
        )
        text = str(error).strip() if error is not None else kept
        if len(text) > ERROR_CHARS:
            text = "...\n" + text[-ERROR_CHARS:]
        lines += ["", "Error:", text or "The task ended with no error message: see its log."]
    return _redact(f"[factory] {subject}"), _redact("\n".join(lines) + "\n")


def log_url(ti: Any) -> str | None:
    """The task try's log page: Airflow's own URL where it has one."""
    url = getattr(ti, "log_url", None)
    if url:
        return str(url)
    if ti is None:
        return None
    try_number = getattr(ti, "try_number", None)
    suffix = f"?try_number={try_number}" if isinstance(try_number, int) and try_number > 0 else ""
    return f"{_base_url()}/dags/{ti.dag_id}/runs/{quote(str(ti.run_id))}/tasks/{ti.task_id}{suffix}"


def run_url(dag_id: str, run_id: str) -> str:
    return f"{_base_url()}/dags/{dag_id}/runs/{quote(str(run_id))}"


def _base_url() -> str:
    """The UI's address, as Airflow's own log links take it (with Airflow's fallback)."""
    try:
        from airflow.configuration import conf
    except ImportError:
        return _DEFAULT_BASE_URL
    for section in ("api", "webserver"):  # Airflow 3, Airflow 2
        value = conf.get(section, "base_url", fallback=None)
        if value:
            return str(value).rstrip("/")
    return _DEFAULT_BASE_URL


_DEFAULT_BASE_URL = "http://localhost:8080"  # Airflow's, where base_url is not set


def _previous_run_failed(context: Any) -> bool:
    """Whether the run before this one (by logical date) failed: then this is a recovery."""
    ti = context.get("ti") or context.get("task_instance")
    try:
        previous = ti.get_previous_dagrun() if ti is not None else None
    except Exception:  # no logical date (a manual 3.x run), or no way to ask: not a recovery
        log.warning("Could not read the previous run's state; telling of a plain success", exc_info=True)
        return False
    state = getattr(previous, "state", None)
    return str(getattr(state, "value", state)) == "failed"


def _redact(text: str) -> str:
    for module in (
        "airflow.sdk._shared.secrets_masker",  # 3.1 and later
        "airflow.sdk.execution_time.secrets_masker",  # 3.0
        "airflow.utils.log.secrets_masker",  # 2.x
    ):
        try:
            redact = __import__(module, fromlist=["redact"]).redact
        except (ImportError, AttributeError):
            continue
        return str(redact(text))
    return text


# -- a missed deadline (factory/compile/deadline.py) --------------------------------------


async def run_is_late(
    context: dict[str, Any], targets: list[list[str]], settings: dict[str, Any], spec_path: str, within: str
) -> None:
    """A Deadline Alert's callback, run by the triggerer: the run was not done in time.

    `context` is what the scheduler gives a deadline callback: the run (as the REST API
    shows it) and the deadline. The hooks are synchronous: each send runs in a thread.
    """
    import asyncio

    subject, body = late_message(context, spec_path, within)
    notifications = Notifications(**settings)
    for kind, address in targets:
        try:
            await asyncio.to_thread(_SENDERS[kind], notifications, address, subject, body)
            log.info("Told %s %s of the late run", kind, address)
        except Exception:  # one unreachable target must not silence the rest
            log.exception("Could not tell %s %s of the late run", kind, address)


def late_message(context: dict[str, Any], spec_path: str, within: str) -> tuple[str, str]:
    run = context.get("dag_run") or {}
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id") or run.get("run_id", "?")
    deadline = (context.get("deadline") or {}).get("deadline_time")
    lines = [
        f"Pipeline: {dag_id} ({spec_path})",
        f"Run: {run_id}",
        f"Scheduled: {run.get('logical_date')}",
        f"Deadline: {deadline} ({within} after it was due)",
        f"State then: {run.get('state', '?')}",
    ]
    lines.append(f"Run page: {run_url(dag_id, run_id)}")
    subject = f"[factory] {dag_id}: run is late (not done {within} after it was due)"
    return _redact(subject), _redact("\n".join(lines) + "\n")


# -- the targets --------------------------------------------------------------------------


def _email(settings: Notifications, address: str, subject: str, body: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=settings.smtp_conn_id) as hook:
        hook.send_email_smtp(
            to=address,
            subject=subject,
            # The hook sends HTML; the body is plain text, so it is shown as written.
            html_content=f"<pre>{html.escape(body)}</pre>",
            from_email=settings.email_from,
        )


def _sns(settings: Notifications, address: str, subject: str, body: str) -> None:
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    # A topic is published to in its own region: arn:aws:sns:REGION:ACCOUNT:NAME.
    hook = SnsHook(aws_conn_id=settings.sns_conn_id, region_name=address.split(":")[3])
    hook.publish_to_target(target_arn=address, message=body, subject=subject[:SNS_SUBJECT_CHARS])


def _slack(settings: Notifications, address: str, subject: str, body: str) -> None:
    from airflow.providers.slack.hooks.slack import SlackHook

    hook = SlackHook(slack_conn_id=settings.slack_conn_id)
    hook.client.chat_postMessage(channel=address, text=f"*{subject}*\n```\n{body}```")


_SENDERS: dict[str, Callable[[Notifications, str, str, str], None]] = {
    "email": _email,
    "sns": _sns,
    "slack": _slack,
}
