"""`factory lint [PATH...]`: check specs the way a compiler checks code. No Airflow import."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from factory.diagnostics import Diagnostic
from factory.lint import lint_paths
from factory.report.formats import FORMATS, text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check specs: schema, dependencies, cron, runtime limits",
        description="Check specs and report every problem as path:line:col. Exit 1 if any.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="spec files or folders (default: specs/)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text", help="output format (default: text)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    paths = args.paths or [Path("specs")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"factory lint: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    result = lint_paths(paths)
    diagnostics: list[Diagnostic] = result.diagnostics
    errors = result.errors
    if args.format == "text":
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        if diagnostics:
            print(text(diagnostics, color=color))
        if errors:
            print(
                f"\nFound {len(errors)} error(s) in {result.failed_files} file(s); {result.spec_count} spec(s) checked."
            )
        else:
            notes = len(diagnostics)
            print(
                f"{chr(10) if notes else ''}All {result.spec_count} spec(s) OK"
                + (f" ({notes} note(s))." if notes else ".")
            )
    else:
        output = FORMATS[args.format](diagnostics)
        if output:
            print(output)
    # Notes (such as a size Fargate rounds up) inform; only errors fail the check.
    return 1 if errors else 0
