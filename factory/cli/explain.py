"""`factory explain SPEC`: every value the spec gets, where from, and what it becomes. No Airflow import."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from factory.diagnostics import SpecError
from factory.lint import lint_paths
from factory.load.layout import Project
from factory.load.yaml import load_file
from factory.read import Reader
from factory.report.formats import text
from factory.review.explain import Sources, as_json, as_text, explain


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="every effective value of a spec, with the file and line it came from",
        description="Every value of a spec after its _defaults.yaml chain, with where it came from "
        "(the spec's line, a _defaults.yaml's line, or the built-in default) and what it becomes "
        "on each runtime. Exit 1 if the spec has errors (printed as by factory lint).",
    )
    parser.add_argument("spec", type=Path, help="the spec file")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.spec
    if not path.is_file():
        print(f"factory explain: no such spec file: {path}", file=sys.stderr)
        return 2
    # Only a spec the loader accepts has effective values: lint's verdict first.
    result = lint_paths([path])
    if result.errors:
        print(text(result.diagnostics), file=sys.stderr)
        return 1
    project = Project.containing(path)
    reader = Reader(project, display_base=Path.cwd())
    try:
        spec = reader.read_spec(path.resolve())
        platform = reader.read_platform()
        chain = [load_file(str(p), reader.name(p)) for p in project.defaults_chain(path.resolve())]
        schema = json.loads((project.schema_dir / "spec.schema.json").read_text(encoding="utf-8"))
    except SpecError as exc:  # a file changed under us since lint read it
        print(text(exc.diagnostics), file=sys.stderr)
        return 1
    document = reader.document(path.resolve())
    assert document is not None  # it was read just above
    explanation = explain(spec, Sources(document, chain), platform, schema)
    print(
        as_text(explanation) if args.format == "text" else as_json(explanation),
        end="" if args.format == "text" else "\n",
    )
    return 0
