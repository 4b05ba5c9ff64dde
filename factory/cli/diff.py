"""`factory diff [BASE] [HEAD]`: what a change does to the compiled DAGs, per pipeline.

exit status: 0 no DAG changes, 1 some DAG changes (or a spec stops loading), 2 the
revisions cannot be read (not a git repository, unknown revision).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from factory.review.sides import Side, SideError, checkout, default_base, repository, work_tree

EXIT_CHANGED = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="what a change does to the compiled DAGs: for a pull request's review",
        description="Compile the specs of two revisions and say, per pipeline, what changes: added, "
        "removed and renamed pipelines and tasks, schedule, image, command, resources and their "
        "Fargate sizes, secrets by name, dependencies, and every other value; then what changes "
        "in each runtime's DAG. BASE defaults to the merge base with the main branch, HEAD to the "
        "work tree.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", nargs="?", help="a git revision (default: the merge base of HEAD with main)")
    parser.add_argument("head", nargs="?", help="a git revision (default: the work tree, new files included)")
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="text (default), markdown, json"
    )
    parser.add_argument("--main", help="the main branch to find the merge base with (default: origin/main, main...)")
    parser.add_argument("--project", type=Path, default=Path("."), help="folder holding specs/ (default: here)")
    parser.add_argument("--output", "-o", type=Path, help="write the report to this file (default: print it)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from factory.review.diff import diff_sides
    from factory.review.diff_format import FORMATS

    root: Path = args.project
    if not (root / "specs").is_dir():
        return _fail(f"no specs/ folder in {root.resolve()} (pass --project)")
    with tempfile.TemporaryDirectory(prefix="factory-diff-") as tmp:
        try:
            repo, prefix = repository(root)
            base_rev = args.base or default_base(repo, args.main)
            base = checkout(repo, prefix, base_rev, Path(tmp) / "base")
            if not args.base:
                base = Side(f"the merge base with {args.main or 'main'} ({base.label[:7]})", base.project)
            head = checkout(repo, prefix, args.head, Path(tmp) / "head") if args.head else work_tree(root)
        except SideError as exc:
            return _fail(str(exc))
        report = diff_sides(base, head)
    output = FORMATS[args.format](report)
    if args.output:
        args.output.write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    return EXIT_CHANGED if report.changed else 0


def _fail(message: str) -> int:
    print(f"factory diff: error: {message}", file=sys.stderr)
    return EXIT_USAGE
