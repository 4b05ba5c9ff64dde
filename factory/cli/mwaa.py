"""`factory mwaa`: ask an MWAA environment what it made of the specs, run Airflow CLI
commands on it, trigger DAG runs, and write its requirements.txt.

- status: which specs MWAA parsed and which it rejected (InvokeRestApi, else the CLI route).
- cli ENV -- COMMAND...: an Airflow CLI command on the environment's web server, with
  its stdout and stderr here (factory/cli/mwaa_cli.py).
- trigger ENV DAG_ID: a DAG run, followed to its end with --wait (factory/cli/mwaa_cli.py).
- requirements: the requirements.txt MWAA needs (its --constraint line).

Exit codes: 0 done; 1 MWAA rejected a spec, the command failed there, or the run failed;
2 bad arguments (or a command MWAA does not support); 3 AWS or MWAA API failure;
4 --wait timed out.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory.cli.sync import add_aws_arguments

if TYPE_CHECKING:  # imported lazily at run time: boto3 is slow to import
    from botocore.client import BaseClient

    from factory.deploy.mwaa import Report

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_AWS = 3
EXIT_TIMEOUT = 4

STATUS_DESCRIPTION = """\
`factory mwaa status ENV`: what an MWAA environment made of the synced specs.

Exit codes: 0 every spec is a DAG on MWAA, 1 MWAA rejected a spec (or, without --wait,
some are not parsed yet), 2 bad arguments, 3 AWS or MWAA API failure, 4 --wait timed out.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from factory.cli import mwaa_cli

    parser = subparsers.add_parser(
        "mwaa",
        help="ask an MWAA environment about the synced specs; run Airflow commands and DAG runs on it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="mwaa_command", required=True, metavar="COMMAND")

    status = commands.add_parser(
        "status",
        help="which specs MWAA parsed, and which it rejected (import errors)",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("environment", help="the MWAA environment's name")
    status.add_argument(
        "--project", type=Path, default=Path("."), help="folder holding specs/ (default: current folder)"
    )
    status.add_argument("--wait", action="store_true", help="poll until every spec is parsed or one is rejected")
    status.add_argument("--timeout", type=float, default=900, help="with --wait: give up after S seconds (default 900)")
    status.add_argument("--interval", type=float, default=15, help="with --wait: seconds between polls (default 15)")
    status.add_argument(
        "--settle",
        type=float,
        default=60,
        help="with --wait: ignore parses in the first S seconds after --since; MWAA may "
        "still be parsing its previous copy of the bucket then (default 60)",
    )
    status.add_argument(
        "--since",
        default=None,
        help="with --wait: ISO time the sync started (default: now), e.g. 2025-01-31T12:00:00Z",
    )
    status.add_argument(
        "--api",
        choices=("auto", "rest", "cli"),
        default="auto",
        help="InvokeRestApi, the CLI token route, or the first that works (default)",
    )
    add_aws_arguments(status)
    status.set_defaults(handler=run_status)

    requirements = commands.add_parser(
        "requirements",
        help="the requirements.txt MWAA needs for the factory (with its --constraint line)",
        description="Print or write the requirements.txt for an MWAA environment. The factory "
        "needs no package beyond MWAA's image, so the file holds the --constraint line MWAA "
        "requires; other lines of an existing --output file are kept.",
    )
    source = requirements.add_mutually_exclusive_group()
    source.add_argument("--airflow-version", default=None, help="the environment's Airflow version, e.g. 2.10.3")
    source.add_argument("--environment", default=None, help="read the Airflow version from this MWAA environment")
    requirements.add_argument("--python-version", default=None, help="override the MWAA image's Python, e.g. 3.12")
    requirements.add_argument("--output", "-o", type=Path, default=None, help="write this file (default: print)")
    add_aws_arguments(requirements)
    requirements.set_defaults(handler=run_requirements)

    mwaa_cli.register(commands)


def mwaa_client(args: argparse.Namespace) -> BaseClient:
    from factory.deploy.aws import make_client

    # A non-AWS endpoint has no "env."/"api." host prefixes for botocore to add.
    extra = {"inject_host_prefix": False} if args.endpoint_url else {}
    return make_client("mwaa", profile=args.profile, region=args.region, endpoint_url=args.endpoint_url, **extra)


def run_status(args: argparse.Namespace) -> int:
    from factory.deploy import mwaa
    from factory.deploy.aws import AWS_ERRORS, AwsError, explain
    from factory.load.layout import Project

    project = Project.at(args.project)
    if not project.specs_dir.is_dir():
        return fail(f"no specs/ folder in {args.project.resolve()} (pass --project)", EXIT_USAGE)
    since = datetime.now(UTC)
    if args.since:
        parsed = mwaa.parse_time(args.since)
        if parsed is None:
            return fail(f"--since: not an ISO time: {args.since!r}", EXIT_USAGE)
        since = parsed
    expected = mwaa.expected_dags(project)

    try:
        client = mwaa_client(args)
        api: mwaa.Api
        if args.api == "rest":
            api = mwaa.RestApi(client, args.environment)
        elif args.api == "cli":
            api = mwaa.CliApi(client, args.environment)
        else:
            api = mwaa.AutoApi(client, args.environment)
        if args.wait:
            report = mwaa.wait(
                api,
                expected,
                since=since,
                settle=args.settle,
                timeout=args.timeout,
                interval=args.interval,
                on_poll=_print_poll,
                on_retry=lambda message: print(f"retrying: {message}", file=sys.stderr, flush=True),
            )
        else:
            report = mwaa.assess(api.snapshot(), expected)
    except AwsError as exc:
        return fail(str(exc), EXIT_AWS)
    except AWS_ERRORS as exc:
        return fail(explain(exc, f"(environment {args.environment!r})"), EXIT_AWS)
    except mwaa.MwaaApiError as exc:
        return fail(str(exc), EXIT_AWS)

    _print_report(args.environment, report, len(expected))
    if report.failed:
        return EXIT_REJECTED
    if report.timed_out:
        print(f"\nTimed out after {args.timeout:g}s; still waiting for: {', '.join(report.waiting)}", file=sys.stderr)
        return EXIT_TIMEOUT
    return 0 if report.ok else EXIT_REJECTED


def _print_poll(report: Report) -> None:
    print(
        f"waiting: {len(report.parsed)} parsed, {len(report.waiting)} not yet, {len(report.broken)} rejected",
        file=sys.stderr,
        flush=True,
    )


def _print_report(environment: str, report: Report, expected: int) -> None:
    print(f"MWAA environment {environment} (via {report.via}): {len(report.parsed)} of {expected} spec DAG(s) parsed")
    for dag_id, info in sorted(report.parsed.items()):
        when = f"  (at {info.last_parsed:%Y-%m-%dT%H:%M:%SZ})" if info.last_parsed else ""
        print(f"  parsed    {dag_id}{when}")
    for dag_id in report.waiting:
        print(f"  waiting   {dag_id}  (not listed yet)")
    for path, lines in sorted(report.broken.items()):
        print(f"  rejected  {path}")
        for line in lines:
            print(f"      {line}")
    for text in report.loader_errors:
        print(f"  loader    {text}")
    for dag_id in report.extra:
        print(f"  stale     {dag_id}  (no spec any more; MWAA drops it at its next parse)")
    if report.other_errors:
        print(f"{report.other_errors} import error(s) in files that are not the factory's.")


def run_requirements(args: argparse.Namespace) -> int:
    from factory.deploy.aws import AWS_ERRORS, AwsError, explain
    from factory.deploy.requirements import LATEST, RequirementsError, python_for, render

    airflow_version = args.airflow_version or LATEST
    if not args.airflow_version and not args.environment:
        print(f"(no --airflow-version or --environment: using MWAA's newest known, {LATEST})", file=sys.stderr)
    if args.environment:
        try:
            environment = mwaa_client(args).get_environment(Name=args.environment)["Environment"]
        except AwsError as exc:
            return fail(str(exc), EXIT_AWS)
        except AWS_ERRORS as exc:
            return fail(explain(exc, f"(environment {args.environment!r})"), EXIT_AWS)
        airflow_version = environment["AirflowVersion"]
    try:
        python_version = python_for(airflow_version, args.python_version)
    except RequirementsError as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.output is None:
        print(render(airflow_version, python_version), end="")
        return 0
    existing = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
    args.output.write_text(render(airflow_version, python_version, existing), encoding="utf-8")
    print(f"wrote {args.output} (Airflow {airflow_version}, Python {python_version})")
    return 0


def fail(message: str, code: int) -> int:
    """Print the one line that says what went wrong; return the exit code."""
    print(f"factory mwaa: error: {message}", file=sys.stderr)
    return code
