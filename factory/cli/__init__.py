"""The `factory` command. Each subcommand is a module with `register(subparsers)`.

Subcommand modules import heavy things (Airflow, boto3) inside their handlers, so
`factory lint` starts fast and never imports Airflow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from factory import __version__

# "up" registers `factory up` and `factory down`.
COMMANDS = ("lint", "render", "schema-docs", "sync", "mwaa", "run", "up")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factory", description="YAML container-task specs -> Airflow DAGs")
    parser.add_argument("--version", action="version", version=f"factory {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"factory.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
