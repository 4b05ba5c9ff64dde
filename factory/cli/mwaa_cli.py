"""`factory mwaa cli` and `factory mwaa trigger`: an Airflow CLI command on an MWAA
environment, and a DAG run triggered there and followed to its end."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import IO, TYPE_CHECKING, Any

from factory.cli import mwaa as mwaa_command
from factory.cli.mwaa import EXIT_AWS, EXIT_REJECTED, EXIT_TIMEOUT, EXIT_USAGE, fail
from factory.cli.sync import add_aws_arguments

if TYPE_CHECKING:
    from factory.deploy.mwaa_cli import DagRun

CLI_DESCRIPTION = """\
Run an Airflow CLI command on an MWAA environment, the way MWAA offers it: a CLI token
from the MWAA API (CreateCliToken), then the command line POSTed to the environment's
web server (https://WEB_SERVER_HOSTNAME/aws_mwaa/cli). The command's stdout and stderr
come out on this command's stdout and stderr, byte for byte.

Everything after ENV is the Airflow command, without the word "airflow"; put this
command's own options before ENV. `--` before the command is optional:

  factory mwaa cli my-env -- dags list -o json
  factory mwaa cli --region eu-west-1 my-env variables get sales_bucket

MWAA does not run every Airflow command through this endpoint: the ones its
"Apache Airflow CLI command reference" lists as unsupported (scheduler, webserver,
celery worker, db init/reset/migrate, users create, tasks run, ...) are refused here
before any AWS call (--force sends them anyway). MWAA prefers the REST API to the CLI;
`factory mwaa trigger` uses it for DAG runs.

MWAA's answer carries no exit status, so a command counts as failed when the web server
answers an HTTP error, Airflow prints its usage error, or the command prints only on
stderr (warnings beside a result on stdout are not a failure).

exit codes: 0 the command succeeded, 1 it failed on the environment, 2 bad arguments or a
command MWAA does not support, 3 AWS or MWAA API failure (credentials, unknown
environment, web server unreachable, an answer that is not the CLI's, a timeout).
"""

TRIGGER_DESCRIPTION = """\
Trigger a run of DAG_ID on an MWAA environment and print its run id on stdout; with
--wait, follow its state (on stderr) until it succeeds or fails.

The run is triggered through InvokeRestApi (POST /dags/DAG_ID/dagRuns of the Airflow REST
API, v1 on Airflow 2, v2 on Airflow 3; GetEnvironment tells which), or, where this boto3
or the credentials cannot use InvokeRestApi, through the Airflow CLI on the web server
(`dags trigger`, then `dags list-runs` to follow it).

  factory mwaa trigger my-env sales_daily_rollup --conf '{"day": "2026-12-01"}' --wait

exit codes: 0 triggered (with --wait: the run succeeded), 1 the run failed, 2 bad
arguments, 3 AWS or MWAA API failure (unknown environment or DAG, access denied, ...),
4 --wait timed out (the run goes on).
"""


def register(commands: argparse._SubParsersAction) -> None:
    cli = commands.add_parser(
        "cli",
        help="run an Airflow CLI command on the environment (its stdout and stderr come here)",
        description=CLI_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="factory mwaa cli [options] ENV [--] COMMAND [ARG ...]",
    )
    cli.add_argument("environment", metavar="ENV", help="the MWAA environment's name")
    cli.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="the Airflow command and its arguments, e.g. dags list -o json",
    )
    cli.add_argument(
        "--timeout",
        type=_some_seconds,
        default=60,
        metavar="S",
        help="seconds to wait for the web server's answer (default 60)",
    )
    cli.add_argument(
        "--force",
        action="store_true",
        help="send COMMAND even if MWAA's documentation lists it as unsupported",
    )
    add_aws_arguments(cli)
    cli.set_defaults(handler=run_cli)

    trigger = commands.add_parser(
        "trigger",
        help="trigger a DAG run on the environment; with --wait, follow it to success or failure",
        description=TRIGGER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trigger.add_argument("environment", metavar="ENV", help="the MWAA environment's name")
    trigger.add_argument("dag_id", metavar="DAG_ID", help="the DAG to run, e.g. sales_daily_rollup")
    trigger.add_argument(
        "--conf", default=None, metavar="JSON", help='the run\'s conf: a JSON object, e.g. \'{"day": "2026-12-01"}\''
    )
    trigger.add_argument("--wait", action="store_true", help="poll the run until it succeeds or fails")
    trigger.add_argument(
        "--timeout",
        type=_seconds,
        default=3600,
        metavar="S",
        help="with --wait: give up after S seconds (default 3600)",
    )
    trigger.add_argument(
        "--interval", type=_seconds, default=15, metavar="S", help="with --wait: seconds between polls (default 15)"
    )
    trigger.add_argument(
        "--api",
        choices=("auto", "rest", "cli"),
        default="auto",
        help="InvokeRestApi, the CLI token route, or InvokeRestApi falling back to the CLI (default)",
    )
    add_aws_arguments(trigger)
    trigger.set_defaults(handler=run_trigger)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {text!r}")
    return value


def _some_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def airflow_argv(command: list[str]) -> tuple[list[str], str | None]:
    """The Airflow command line from what followed ENV, or why there is none."""
    argv = command[1:] if command[:1] == ["--"] else list(command)
    if argv[:1] == ["airflow"]:  # MWAA's endpoint takes the command without it
        argv = argv[1:]
    if not argv:
        return (
            argv,
            "no Airflow command: factory mwaa cli ENV [--] COMMAND [ARG ...], e.g. factory mwaa cli ENV dags list",
        )
    if argv[0].startswith("-"):
        return argv, (
            f"{argv[0]!r} is not an Airflow command: put factory's options (--profile, --region, "
            "--endpoint-url, --timeout, --force) before ENV; everything after ENV is the Airflow "
            "command, e.g. factory mwaa cli --region eu-west-1 ENV dags list"
        )
    return argv, None


def run_cli(args: argparse.Namespace) -> int:
    from factory.deploy.aws import AWS_ERRORS, AwsError, explain
    from factory.deploy.mwaa_api import MwaaApiError, WebServerCli
    from factory.deploy.mwaa_cli import unsupported

    argv, problem = airflow_argv(args.command)
    if problem:
        return fail(problem, EXIT_USAGE)
    if not args.force:
        refusal = unsupported(argv)
        if refusal:
            return fail(refusal, EXIT_USAGE)
    command = shlex.join(argv)
    try:
        cli = WebServerCli(mwaa_command.mwaa_client(args), args.environment, timeout=args.timeout)
        output = cli.run(command)
    except AwsError as exc:
        return fail(str(exc), EXIT_AWS)
    except AWS_ERRORS as exc:
        return fail(explain(exc, f"(environment {args.environment!r})"), EXIT_AWS)
    except MwaaApiError as exc:
        return fail(str(exc), EXIT_AWS)
    _write(sys.stdout, output.stdout)
    _write(sys.stderr, output.stderr)
    if output.failure:
        return fail(f"`airflow {command}` failed on {args.environment}: {output.failure}", EXIT_REJECTED)
    return 0


def _write(stream: IO[str], data: bytes) -> None:
    """The remote stream's bytes as they are, after what this process printed before."""
    if not data:
        return
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (a test's StringIO, an IDE console)
        stream.write(data.decode("utf-8", "replace"))
    else:
        buffer.write(data)
        buffer.flush()


def parse_conf(text: str | None) -> tuple[dict[str, Any], str | None]:
    """--conf as a dict, or why it is not a JSON object."""
    if text is None:
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        return {}, f"--conf is not JSON ({exc}): {text!r}"
    if not isinstance(value, dict):
        return {}, f'--conf must be a JSON object such as \'{{"day": "2026-12-01"}}\', not a {type(value).__name__}'
    return value, None


def run_trigger(args: argparse.Namespace) -> int:
    from factory.deploy import mwaa_cli
    from factory.deploy.aws import AWS_ERRORS, AwsError, explain
    from factory.deploy.mwaa_api import MwaaApiError

    problem = mwaa_cli.dag_id_problem(args.dag_id)
    if problem:
        return fail(problem, EXIT_USAGE)
    conf, problem = parse_conf(args.conf)
    if problem:
        return fail(problem, EXIT_USAGE)
    try:
        client = mwaa_command.mwaa_client(args)
        version = mwaa_cli.airflow_version(client, args.environment)
        api = mwaa_cli.runs(client, args.environment, version, args.api)
        run = mwaa_cli.trigger(api, args.dag_id, conf)
        _print_triggered(args, run, api.via, version)
        if not args.wait:
            return 0
        outcome = mwaa_cli.wait_for_run(
            api,
            run,
            timeout=args.timeout,
            interval=args.interval,
            on_state=lambda state: print(f"state: {state}", file=sys.stderr, flush=True),
            on_retry=lambda message: print(f"retrying: {message}", file=sys.stderr, flush=True),
        )
    except AwsError as exc:
        return fail(str(exc), EXIT_AWS)
    except AWS_ERRORS as exc:
        return fail(explain(exc, f"(environment {args.environment!r})"), EXIT_AWS)
    except MwaaApiError as exc:
        return fail(str(exc), EXIT_AWS)
    if outcome.timed_out:
        print(
            f"timed out after {args.timeout:g}s: run {run.run_id} of {run.dag_id} is still "
            f"{outcome.state or 'unknown'} (it goes on without us)",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    print(f"run {run.run_id} of {run.dag_id}: {outcome.state}", file=sys.stderr)
    return 0 if outcome.state == "success" else EXIT_REJECTED


def _print_triggered(args: argparse.Namespace, run: DagRun, via: str, version: str) -> None:
    print(run.run_id, flush=True)
    print(
        f"triggered {run.dag_id} on {args.environment} (Airflow {version}, via {via}): run {run.run_id}, {run.state}",
        file=sys.stderr,
        flush=True,
    )
    if run.paused:
        print(
            f"warning: {run.dag_id} is paused: its runs wait in 'queued' until it is unpaused "
            f"(factory mwaa cli {args.environment} dags unpause {run.dag_id})",
            file=sys.stderr,
            flush=True,
        )
