"""`factory render SPEC`: what a spec compiles to on a runtime, for review."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from factory.check import SpecChecker
from factory.compile import RUNTIMES
from factory.diagnostics import SpecError
from factory.load.layout import Project
from factory.model import Spec
from factory.read import Reader
from factory.report.formats import text
from factory.review.picture import describe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("render", help="show the DAG a spec compiles to", description=__doc__)
    parser.add_argument("spec", type=Path, help="the spec file")
    parser.add_argument(
        "--runtime", choices=RUNTIMES, default="onprem", help="runtime to compile for (default: onprem)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.spec.is_file():
        print(f"factory render: no such spec file: {args.spec}", file=sys.stderr)
        return 2
    reader = Reader(Project.containing(args.spec), display_base=Path.cwd())
    try:
        # The loader's own checks for this runtime: what renders here loads there.
        checker = SpecChecker.for_runtime(reader, args.runtime)
    except SpecError as exc:
        print(text(exc.diagnostics), file=sys.stderr)
        return 1
    # With the whole project, as the loader reads it: what it runs after must exist.
    path = args.spec.resolve()
    models, errors = checker.check_all(list(dict.fromkeys([path, *checker.project.spec_files()])))
    if path in errors:
        print(text(errors[path]), file=sys.stderr)
        return 1
    spec = models[path]
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    from factory.compile.dag import build_dag

    try:
        dag = build_dag(spec, checker.platform, args.runtime)
    except Exception as exc:  # noqa: BLE001 - a factory bug must still be one line, never a traceback
        print(f"{spec.path}: error: cannot compile for {args.runtime}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    import yaml

    picture = describe(dag)
    picture["pipelines"] = pipelines(spec, list(models.values()))
    if spec.params:  # what the trigger form asks, and what scheduled runs get
        picture["params"] = {
            p.name: {k: v for k, v in vars(p).items() if k != "name" and v not in (None, ())} for p in spec.params
        }
    if spec.waits_for:
        picture["schedule"] = _schedule_text(spec)
    if spec.notify:  # as the spec (or its _defaults.yaml) says; the tasks show their callbacks
        picture["notify"] = [{n.target: n.address, "when": list(n.events)} for n in spec.notify]
    print(yaml.dump(picture, Dumper=_dumper(yaml), sort_keys=False, width=110), end="")
    return 0


def _dumper(yaml: Any) -> Any:
    """YAML's safe dumper, with multi-line text (the DAG docs) as a readable block."""

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def pipelines(spec: Spec, others: list[Spec]) -> dict[str, Any]:
    """Where the spec sits among the project's pipelines (factory/compile/assets.py)."""
    announcers: dict[str, list[str]] = {}
    for other in others:
        for name in other.updates:
            announcers.setdefault(name, []).append(other.dag_id)
    mine = set(spec.updates)
    return {
        "runs_after": {("all of" if spec.after else "any of"): list(spec.waits_for)} if spec.waits_for else None,
        "upstream": sorted({a for name in spec.waits_for for a in announcers.get(name, ())}),
        "announces": list(spec.updates),
        "downstream": sorted(o.dag_id for o in others if o.dag_id != spec.dag_id and mine & set(o.waits_for)),
    }


def _schedule_text(spec: Spec) -> str:
    names = ", ".join(spec.waits_for)
    when = f"after {'all' if spec.after else 'any'} of [{names}]"
    return f"{when}, or on {spec.schedule} ({spec.timezone}), whichever comes first" if spec.schedule else when
