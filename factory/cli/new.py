"""`factory new specs/<team>/<name>.yaml`: start a spec that lints clean. No Airflow import."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from factory.diagnostics import SpecError
from factory.lint import lint_paths
from factory.load.layout import Project
from factory.report.formats import text
from factory.review.scaffold import Choices, ScaffoldError, check_target, spec_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "new",
        help="start a spec: the keys to fill, none its _defaults.yaml already gives",
        description="Write a new spec that lints clean, with the schema modeline for editors. "
        "Never overwrites a file. Exit 2 if the file exists or its name cannot be a DAG id.",
    )
    parser.add_argument("spec", type=Path, help="the file to write, e.g. specs/sales/weekly_report.yaml")
    parser.add_argument("--image", help="the task's container image (default: a Python image, to replace)")
    parser.add_argument("--command", help='what the container runs, e.g. "python job.py --date {{ ds }}"')
    parser.add_argument("--schedule", help='a cron expression, e.g. "0 3 * * *" (default: manual runs only)')
    parser.add_argument("--description", help="what the pipeline does, in a sentence")
    parser.add_argument("--owner", help="the team that answers for it (default: its _defaults.yaml's, or the folder)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.spec
    project = Project.containing(path.parent if not path.parent.exists() else path)
    try:
        check_target(project, path)
        body = spec_text(
            project, path, Choices(args.image, args.command, args.schedule, args.description, args.owner), date.today()
        )
    except ScaffoldError as exc:
        for line in str(exc).splitlines():
            print(f"factory new: error: {line}", file=sys.stderr)
        return 2
    except SpecError as exc:  # a _defaults.yaml of the folder that cannot be read
        print(text(exc.diagnostics), file=sys.stderr)
        return 1
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
        out.write(body)
    # The promise is a spec that lints clean where it stands (its defaults, the platform's
    # policy, an --image or --schedule the checks refuse): if not, nothing is left behind.
    result = lint_paths([path])
    if result.errors:
        print(text(result.errors), file=sys.stderr)
        path.unlink()
        for folder in created:
            folder.rmdir()
        print(f"factory new: {path} not written: the spec would not lint (above)", file=sys.stderr)
        return 1
    print(f"wrote {path} (DAG id {project.dag_id(path.resolve())})")
    print(f"next: edit it, then `factory lint {path}` and `factory render {path}`")
    return 0
