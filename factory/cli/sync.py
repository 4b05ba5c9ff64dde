"""`factory sync s3://BUCKET[/PREFIX]`: lint, then ship the dags folder to an MWAA bucket.

Exit codes: 0 synced (or nothing to do), 1 refused (lint errors or conflicts; nothing
was uploaded), 2 bad arguments or not a factory project, 3 AWS failure (bucket
missing, access denied, bad credentials, network) or another sync writing the same
prefix at once; re-running after a fix converges.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from factory.report.formats import text

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_AWS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="lint, then upload the dags folder to an MWAA bucket (only what changed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", metavar="s3://BUCKET[/PREFIX]", help="the environment's dags folder (default prefix dags/)"
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path("."),
        help="folder holding specs/, schemas/ and dags/ (default: current folder)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan (upload/delete/unchanged); change nothing"
    )
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="replace objects the factory did not write where its files must go (first sync over `aws s3 sync`)",
    )
    add_aws_arguments(parser)
    parser.set_defaults(handler=run)


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    """The AWS CLI's connection options; unset, the AWS_* variables and ~/.aws apply."""
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="endpoint URL (default: AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL, else AWS)",
    )
    parser.add_argument("--profile", default=None, help="AWS profile (default: AWS_PROFILE)")
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")


def run(args: argparse.Namespace) -> int:
    # boto3 is imported here, not at module level, so `factory lint` stays fast.
    from factory.deploy.aws import AWS_ERRORS, AwsError, explain, make_client
    from factory.deploy.bucket import Bucket, ConcurrentSyncError, S3Location
    from factory.deploy.bundle import BundleError, build_bundle
    from factory.deploy.manifest import MANIFEST_NAME, ManifestError
    from factory.deploy.plan import make_plan
    from factory.deploy.progress import BarProgress, PlainProgress
    from factory.deploy.sync import SyncInterrupted, apply_plan
    from factory.lint import lint_paths
    from factory.read import Reader

    try:
        location = S3Location.parse(args.target)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        bundle = build_bundle(args.project)
    except (BundleError, OSError) as exc:
        return _fail(str(exc), EXIT_USAGE)

    lint = lint_paths([bundle.project.specs_dir])
    if lint.errors:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        print(text(lint.diagnostics, color=color))
        print(
            f"\nFound {len(lint.errors)} error(s) in {lint.failed_files} file(s). Nothing was uploaded to {location}."
        )
        return EXIT_REFUSED
    print(f"lint: {lint.spec_count} spec(s) OK")
    # Lint accepts a platform file without an mwaa: block (on-prem needs none), but on MWAA
    # every spec would then fail to compile: refuse rather than ship a folder of errors.
    if Reader(bundle.project).read_platform().mwaa is None:
        print(
            f"{bundle.project.platform_file} has no 'mwaa:' block, which MWAA needs to compile any spec. "
            f"Nothing was uploaded to {location}."
        )
        return EXIT_REFUSED

    try:
        bucket = Bucket(
            make_client("s3", profile=args.profile, region=args.region, endpoint_url=args.endpoint_url), location
        )
        manifest = bucket.read_manifest()
        remote = bucket.list()
        plan = make_plan(bundle, remote, manifest, bucket.sha256_of, adopt=args.adopt)
    except AwsError as exc:
        return _fail(str(exc), EXIT_AWS)
    except AWS_ERRORS as exc:
        return _fail(explain(exc, f"s3://{location.bucket}"), EXIT_AWS)
    except ManifestError as exc:
        return _fail(
            f"{location}{MANIFEST_NAME} is not a manifest this factory can read ({exc}); nothing was changed. "
            "If it is damaged, delete it: the next sync takes back the files that carry the factory's metadata "
            "or match the project, but cannot know which files it wrote that the project has dropped since.",
            EXIT_REFUSED,
        )

    for key in plan.unrelated:
        if key.startswith(("specs/", "schemas/", "factory/")):
            print(
                f"warning: {location}{key} was not written by the factory but sits in its folders: "
                "MWAA will load it; remove it from the bucket if it is not meant to be there"
            )

    if args.dry_run:
        print(f"Plan for {location} (dry run: nothing is changed)")
        for action in plan.actions:
            print(f"  {action.verb.value:9}  {action.key}  ({action.reason})")
        print(plan.summary())
        return EXIT_REFUSED if plan.conflicts else 0

    for action in plan.releases:
        print(f"release    {action.key}  ({action.reason})")
    if plan.conflicts:
        for action in plan.conflicts:
            print(f"conflict   {action.key}  ({action.reason})")
        print(
            f"\n{len(plan.conflicts)} object(s) under {location} were not written by the factory and differ from "
            "what it must put there. Nothing was uploaded. Move them away, or re-run with --adopt to replace them."
        )
        return EXIT_REFUSED

    print(f"{location}: {plan.summary()}")
    interactive = sys.stderr.isatty()
    progress = BarProgress(sys.stderr) if interactive else PlainProgress(sys.stdout)
    try:
        result = apply_plan(bucket, plan, manifest, progress)
    except SyncInterrupted as exc:
        cause = exc.cause
        if isinstance(cause, ConcurrentSyncError | AwsError):
            reason = str(cause)
        elif isinstance(cause, AWS_ERRORS):
            reason = explain(cause, f"s3://{location.bucket}")
        else:
            raise
        done = exc.result.uploaded + exc.result.deleted
        return _fail(
            f"{reason}\nstopped after {done} of {exc.total} change(s); "
            "fix the cause and re-run `factory sync`: it continues from what is in the bucket",
            EXIT_AWS,
        )
    print(f"Synced {location}: {result.uploaded} uploaded, {result.deleted} deleted, {plan.unchanged} unchanged.")
    return 0


def _fail(message: str, code: int) -> int:
    print(f"factory sync: error: {message}", file=sys.stderr)
    return code
