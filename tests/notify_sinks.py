"""Where the notification tests' messages go.

- `SmtpSink`: a real SMTP server (aiosmtpd) on a loopback port. It keeps every message
  it is given, parsed, so a test reads what a person's mail client would show.
- `MotoProcess`: moto in server mode, in a process of its own, for SNS (nothing real
  serves SNS offline). Each topic a test makes has an SQS queue subscribed to it, in
  moto too, so a test reads what a subscriber of the topic would receive. A process
  rather than moto's in-process server: the in-process one shares its state with every
  test module that uses moto's mocks, and those reset it.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
from aiosmtpd.controller import Controller
from botocore.exceptions import BotoCoreError, ClientError

from factory.local.processes import free_port

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def connection(self) -> dict[str, Any]:
        """An Airflow SMTP connection to this sink, as JSON for AIRFLOW_CONN_<ID>."""
        return {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 10},
        }

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in m["X-Envelope-To"]]


def text_of(message: EmailMessage) -> str:
    """The body a reader sees (the notifier sends its text as HTML <pre>)."""
    import html
    import re

    part = message.get_body(preferencelist=("html", "plain"))
    content = part.get_content() if part is not None else ""
    return html.unescape(re.sub(r"</?pre>", "", content))


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass(frozen=True)
class MotoProcess:
    endpoint: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def topic_with_queue(self, name: str) -> tuple[str, str]:
        return topic_with_queue(self.client, name)

    def received(self, queue: str) -> list[dict[str, str]]:
        return received(self.client, queue)

    def aws_connection(self) -> dict[str, Any]:
        return {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": self.endpoint, "region_name": REGION},
        }


def topic_with_queue(client: Callable[[str], Any], name: str) -> tuple[str, str]:
    """A new SNS topic and the URL of an SQS queue subscribed to it (raw delivery off, so
    each message keeps its Subject). `client(service)` makes a boto3 client of that moto."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def received(client: Callable[[str], Any], queue: str) -> list[dict[str, str]]:
    """The SNS notifications the queue has (Subject and Message each), taken off it."""
    sqs = client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return found
        for item in batch:
            found.append(json.loads(item["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=item["ReceiptHandle"])


@contextlib.contextmanager
def moto_process(log: Path) -> Iterator[MotoProcess]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    server = MotoProcess(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.client("sns").list_topics()
                break
            except (BotoCoreError, ClientError):  # not listening yet
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
