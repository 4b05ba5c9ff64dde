"""`factory schema-docs`: regenerate docs/spec-reference.md from the schemas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from factory.load.layout import BUNDLED_SCHEMAS
from factory.schema_docs import render


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("schema-docs", help="print the spec language reference built from the schemas")
    parser.add_argument("--schemas", type=Path, default=BUNDLED_SCHEMAS, help="schema folder")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = render(args.schemas)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
