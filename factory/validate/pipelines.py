"""Checks across the whole specs folder: what a pipeline runs after must exist.

A spec may run `after` (all of) or `after_any` (any of) names. A name is announced by a
pipeline's successful run (its DAG id) or by a task that `updates` it. Here, with every
spec of the project read:

- a name nothing announces is an error at its line, with a did-you-mean: that
  pipeline would never run;
- a name announced only by specs that cannot be loaded is an error too, naming them;
- pipelines that wait for each other in a cycle are errors, each naming the chain;
- data named like another pipeline's DAG id is an error (one name, one meaning).

Removing a broken spec can break the specs after it, so this runs to a fixed point.
The loader, the reporter and lint all call `cross_check` with what they read, so they
can never disagree (tests/contract holds them to it). It needs the models only; the
file of a spec is re-read for positions only when it has such an error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.spec import Spec

Locate = Callable[[Path], Document | None]  # a spec's parsed file, for positions


def announced_by_broken(path: Path, dag_id: str, locate: Locate) -> tuple[str, ...]:
    """What a spec with errors would announce: its DAG id, and the `updates` its file
    names where they are readable (so a spec waiting on its data hears why it is not)."""
    doc = locate(path)
    tasks = doc.data.get("tasks") if doc is not None and isinstance(doc.data, dict) else None
    names = [dag_id]
    for task in tasks.values() if isinstance(tasks, dict) else ():
        updates = task.get("updates") if isinstance(task, dict) else None
        names += [n for n in updates if isinstance(n, str)] if isinstance(updates, list) else []
    return tuple(dict.fromkeys(names))


def cross_check(
    models: dict[Path, Spec], broken: dict[Path, tuple[str, ...]], locate: Locate
) -> dict[Path, list[Diagnostic]]:
    """Problems per spec among `models` (the specs that passed their own checks).
    `broken`: every other spec file, with what it would announce (announced_by_broken)."""
    good = dict(models)
    found: dict[Path, list[Diagnostic]] = {}
    known = {spec.dag_id for spec in models.values()} | {name for names in broken.values() for name in names}
    known |= {name for spec in models.values() for name in spec.updates}
    while True:
        new = _round(good, {**broken, **{p: models[p].updates for p in found}}, known, locate)
        if not new:
            return found
        for path, problems in new.items():
            found[path] = problems
            good.pop(path)


def _round(
    good: dict[Path, Spec], unloadable: dict[Path, tuple[str, ...]], known: set[str], locate: Locate
) -> dict[Path, list[Diagnostic]]:
    announcers: dict[str, list[Spec]] = {}
    for spec in good.values():
        for name in dict.fromkeys(spec.updates):
            announcers.setdefault(name, []).append(spec)
    pipelines = {spec.dag_id: path for path, spec in good.items()}
    found: dict[Path, list[Diagnostic]] = {}

    def report(path: Path, where: tuple[object, ...], message: str, hint: str, rule: str) -> None:
        spec = good[path]
        doc = locate(path)
        if doc is not None:
            diagnostic = doc.error(where, message, rule=rule, hint=hint)
        else:
            diagnostic = Diagnostic(spec.path, 0, 0, message, rule, hint)
        found.setdefault(path, []).append(diagnostic)

    for path, spec in good.items():
        key = "after" if spec.after else "after_any"
        for i, name in enumerate(spec.waits_for):
            if name in announcers:
                continue
            from_broken = sorted(p for p, names in unloadable.items() if name in names)
            if from_broken:
                files = ", ".join(str(p.name) for p in from_broken)
                report(
                    path,
                    (key, i),
                    f"'{name}' comes only from a spec that has errors ({files}): this pipeline would never run",
                    "fix that spec first; its errors are listed with it",
                    "after",
                )
                continue
            close = difflib.get_close_matches(name, sorted(known - {spec.dag_id}), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "name a pipeline by its DAG id, or data a task updates"
            report(
                path,
                (key, i),
                f"'{name}' is not a pipeline or data of this project: this one would never run",
                hint,
                "after",
            )
        for task in spec.tasks:
            for j, name in enumerate(task.updates):
                other = pipelines.get(name)
                if other is not None and other != path:
                    report(
                        path,
                        ("tasks", task.name, "updates", j),
                        f"'{name}' is the DAG id of another pipeline ({good[other].path}): data needs its own name",
                        f"e.g. '{name}_data'",
                        "updates",
                    )
    for path, chain in _cycles(good, announcers).items():
        if path in found:
            continue
        spec = good[path]
        key = "after" if spec.after else "after_any"
        shown = " -> ".join(chain)
        report(
            path,
            (key,),
            f"pipelines wait for each other in a cycle: {shown}, so none of them would ever run",
            "one of them must run on its own schedule, not after the others",
            "after",
        )
    return found


def _cycles(good: dict[Path, Spec], announcers: dict[str, list[Spec]]) -> dict[Path, list[str]]:
    """Each spec on a cycle of waits, with the chain from it back to itself. Linear in
    the specs and their waits (strongly connected components): it runs at every parse."""
    by_id = {spec.dag_id: path for path, spec in good.items()}
    edges = {
        spec.dag_id: sorted({a.dag_id for name in spec.waits_for for a in announcers.get(name, ())})
        for spec in good.values()
    }
    on_cycle: dict[Path, list[str]] = {}
    for component in _components(edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue  # a pipeline alone, not waiting for itself
        for start in sorted(component):
            on_cycle[by_id[start]] = _way_back(start, edges, members)
    return on_cycle


def _components(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, without recursion (chains can be long)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _way_back(start: str, edges: dict[str, list[str]], members: set[str]) -> list[str]:
    """The shortest chain start -> ... -> start inside its component (breadth first)."""
    previous: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for nxt in edges[node]:
            if nxt not in members:
                continue
            if nxt == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(previous[chain[-1]])
                return [*reversed(chain), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return [start, start]
