"""`factory graph [SPEC...]`: pipelines, their tasks and what runs after what, as a
diagram for review (Mermaid or Graphviz DOT). No Airflow import."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from factory.cache import SpecCache, default_dir
from factory.diagnostics import Diagnostic
from factory.lint import read_project
from factory.load.layout import Project, cache_inputs
from factory.read import Reader
from factory.report.formats import text
from factory.review.graph import RENDERERS, build, mermaid_too_big

DESCRIPTION = """\
Draw pipelines: each one's tasks and their depends_on (a wait_for sensor as a node of
its own, a for_each as name \N{MULTIPLICATION SIGN}N), one box per pipeline, titled with its DAG id and when
it runs, and arrows between pipelines for `after` (solid) and `after_any` (dashed),
from the task that updates the data named, or from the whole pipeline for its DAG id.

With no SPEC: every spec of the project this folder is in (a specs/ folder here or
above). With SPECs (files, or folders under specs/): those pipelines, and each pipeline
they run after or that runs after them as one dashed node, so no upstream is hidden.

Mermaid (the default) goes in a ```mermaid block, which GitHub renders; DOT goes to
Graphviz (`dot -Tsvg`). Specs with errors are not drawn: their errors are printed as
factory lint prints them, the rest is drawn, and the exit status is 1.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="draw pipelines, their tasks and what runs after what (Mermaid or DOT)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("specs", nargs="*", type=Path, metavar="SPEC", help="spec files or folders (default: all)")
    parser.add_argument(
        "--format", choices=list(RENDERERS), default="mermaid", help="diagram language (default: mermaid)"
    )
    parser.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the diagram here, not to stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    found = _selection(args.specs)
    if isinstance(found, str):
        print(f"factory graph: {found}", file=sys.stderr)
        return 2
    project, files = found
    reader = Reader(
        project, display_base=Path.cwd(), cache=SpecCache(default_dir(), project.specs_dir, cache_inputs(project))
    )
    reading = read_project(reader, files)
    # Whole project: every spec's errors; named specs: their own (as lint reports them).
    asked = files or project.spec_files()
    failed = [path for path in asked if path in reading.errors]
    problems: list[Diagnostic] = [d for d in reading.platform if d.severity == "error"]
    problems += [d for path in failed for d in reading.errors[path]]
    drawn = [reading.models[path] for path in asked if path in reading.models]
    graph = build(drawn, list(reading.models.values()), tuple(reader.name(path) for path in failed))
    diagram = RENDERERS[args.format](graph)
    too_big = mermaid_too_big(graph, diagram) if args.format == "mermaid" else None
    if too_big:  # the diagram is still right; a renderer with higher limits draws it
        print(
            f"factory graph: note: the diagram has {too_big}, so GitHub and mmdc show an error in its place "
            "unless configured higher; draw fewer specs (a folder), or use --format dot",
            file=sys.stderr,
        )
    if args.output is None:
        sys.stdout.write(diagram)
    else:
        try:
            args.output.write_text(diagram, encoding="utf-8")
        except OSError as exc:
            print(f"factory graph: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if problems:
        color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        print(text(problems, color=color), file=sys.stderr)
        if failed:
            print(f"\n{len(failed)} spec(s) not drawn, for the errors above.", file=sys.stderr)
        return 1
    return 0


def _selection(paths: list[Path]) -> tuple[Project, list[Path]] | str:
    """The project and the spec files asked for ([]: all of them), or why there are none."""
    if not paths:
        cwd = Path.cwd()
        for folder in (cwd, *cwd.parents):
            if folder.name == "specs" or (folder / "specs").is_dir():
                project = Project.containing(folder if folder.name == "specs" else folder / "specs")
                return (project, []) if project.spec_files() else f"no spec files in {project.specs_dir}"
        return f"no specs/ folder in {cwd} or above: run it in a project, or name spec files"
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        return f"no such file or folder: {', '.join(missing)}"
    projects: dict[Path, Project] = {}
    files: list[Path] = []
    for path in paths:
        here = path.resolve()
        if here.is_dir() and here.name != "specs" and (here / "specs").is_dir():
            here = here / "specs"  # a project's root: all of it
        if not any(folder.name == "specs" for folder in (here, *here.parents)):
            return f"{path} is not in a specs/ folder, nor is it a folder that has one"
        project = Project.containing(here)
        projects.setdefault(project.specs_dir, project)
        chosen = [here] if here.is_file() else project.spec_files(under=here)
        if not chosen:
            return f"no spec files in {path}"
        files.extend(chosen)
    if len(projects) > 1:
        return f"the specs are in {len(projects)} projects ({', '.join(map(str, projects))}): draw one at a time"
    return next(iter(projects.values())), list(dict.fromkeys(files))
