"""The `factory` command. Each subcommand is a module with `register(subparsers)`.

Subcommand modules import heavy things (Airflow, boto3) inside their handlers, so
`factory lint` starts fast and never imports Airflow.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from factory import __version__

# "up" registers `factory up` and `factory down`.
COMMANDS = ("new", "lint", "explain", "diff", "graph", "render", "schema-docs", "sync", "mwaa", "run", "up")


EXIT_STATUS = """\
exit status (every command):
  0    done: no problem found
  1    the input has problems, each printed as path:line:col: message (a run: a task failed)
  2    the command cannot run as asked (unknown file, unreachable service, bad option)
  3    a bug in factory: one line says what; FACTORY_DEBUG=1 shows the traceback
  130  interrupted
"""
EXIT_INTERNAL = 3


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` (what a command line names first):
    importing every command's module costs `factory lint` in a pre-commit hook more than
    the lint itself."""
    parser = argparse.ArgumentParser(
        prog="factory",
        description="YAML container-task specs -> Airflow DAGs",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"factory {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [only] if only in COMMANDS else COMMANDS:
        importlib.import_module(f"factory.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    first = words[0] if words else None
    args = build_parser({"down": "up"}.get(first or "", first)).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        # Every expected problem is reported by the command itself; reaching here is a
        # bug, said in one line that names it (tests/test_cli_never_crashes.py looks).
        if os.environ.get("FACTORY_DEBUG"):
            traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"factory {args.command}: internal error: {type(exc).__name__}: {exc} "
            f"(at {os.path.basename(where.filename)}:{where.lineno}; please report it; "
            "FACTORY_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
