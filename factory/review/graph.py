"""A project's pipelines as a picture for review: each pipeline's tasks and their
`depends_on`, its waits, and which pipelines run after which (`after`, `after_any`),
as Mermaid (what GitHub renders in a ```mermaid block) or Graphviz DOT.

Drawn from the models of the specs that lint clean, read the way `factory lint` reads
them (factory/lint.py), so the picture never shows a pipeline the loader would refuse.
No Airflow import.

Every id in the output is made here (p0, p0_t1, n0, ...): DAG ids and task names hold
'.', '-' and words such as `end` that the formats read as syntax, so they appear only
in quoted, escaped labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from factory.model import Spec
from factory.model.spec import Task, wait_task_id

TIMES = "\N{MULTIPLICATION SIGN}"
# Mermaid's defaults (maxTextSize, maxEdges), which renderers such as GitHub's keep:
# past either, it draws an error in place of the diagram.
MERMAID_MAX_TEXT = 50_000
MERMAID_MAX_EDGES = 500
_DEFAULT_RUN_IF = {f.name: f.default for f in dataclasses.fields(Task)}["run_if"]


@dataclass(frozen=True)
class Node:
    id: str
    lines: tuple[str, ...]  # the label, line by line
    kind: Literal["task", "wait", "pipeline"]  # a pipeline: one not drawn in full


@dataclass(frozen=True)
class Edge:
    source: str  # a node's id, or a cluster's: the whole pipeline
    target: str
    label: str | None = None
    dashed: bool = False  # any of several (after_any)


@dataclass(frozen=True)
class Cluster:
    """One pipeline drawn in full."""

    id: str
    lines: tuple[str, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    first: str  # a node that runs first: where DOT points an edge into the whole pipeline
    last: str  # a node that runs last: where DOT starts an edge from the whole pipeline


@dataclass(frozen=True)
class Graph:
    clusters: tuple[Cluster, ...]
    neighbours: tuple[Node, ...]  # pipelines not drawn in full that drawn ones connect to
    edges: tuple[Edge, ...]  # between pipelines
    left_out: tuple[str, ...] = ()  # spec files not drawn, because they have errors


def build(drawn: list[Spec], every: list[Spec], left_out: tuple[str, ...] = ()) -> Graph:
    """The picture of the `drawn` pipelines. `every`: all the project's pipelines that
    load, so those that a drawn one runs after, or that run after it, appear as one node
    each, with the edge to it: the picture does not hide an upstream."""
    clusters = {spec.dag_id: _cluster(f"p{i}", spec) for i, spec in enumerate(drawn)}
    ids = {spec.dag_id: _task_ids(f"p{i}", spec) for i, spec in enumerate(drawn)}
    links = []  # (upstream pipeline, its announcing task or None, downstream pipeline, name)
    announcers: dict[str, list[tuple[Spec, Task | None]]] = {}
    for spec in every:
        announcers.setdefault(spec.dag_id, []).append((spec, None))
        for task in spec.tasks:
            for name in dict.fromkeys(task.updates):
                announcers.setdefault(name, []).append((spec, task))
    for spec in every:
        for name in spec.waits_for:
            for upstream, task in announcers.get(name, ()):
                if upstream.dag_id in clusters or spec.dag_id in clusters:
                    links.append((upstream, task, spec, name))
    outside = sorted({s.dag_id for up, _, down, _ in links for s in (up, down) if s.dag_id not in clusters})
    neighbours = {dag_id: Node(f"n{k}", (dag_id,), "pipeline") for k, dag_id in enumerate(outside)}
    edges = []
    for upstream, task, downstream, name in links:
        if upstream.dag_id not in clusters:
            source = neighbours[upstream.dag_id].id
        elif task is None:
            source = clusters[upstream.dag_id].id
        else:
            source = ids[upstream.dag_id][task.name]
        target = (clusters.get(downstream.dag_id) or neighbours[downstream.dag_id]).id
        any_of = not downstream.after
        edges.append(Edge(source, target, f"{name} (any of)" if any_of else name, dashed=any_of))
    return Graph(tuple(clusters.values()), tuple(neighbours.values()), tuple(edges), left_out)


def _task_ids(cid: str, spec: Spec) -> dict[str, str]:
    return {task.name: f"{cid}_t{j}" for j, task in enumerate(spec.tasks)}


def _cluster(cid: str, spec: Spec) -> Cluster:
    ids = _task_ids(cid, spec)
    nodes: list[Node] = []
    edges: list[Edge] = []
    # The sensors as factory/compile/waits.py links them: the pipeline's before its
    # first tasks and before the tasks' own sensors, a task's before the task.
    pipeline_wait = f"{cid}_w" if spec.wait_for else None
    if spec.wait_for:
        nodes.append(Node(f"{cid}_w", (wait_task_id(None), spec.wait_for.url), "wait"))
    starts = []  # what runs first in each branch: a task's sensor, or the task
    for task in spec.tasks:
        start = ids[task.name]
        if task.wait_for:
            start = f"{ids[task.name]}_w"
            nodes.append(Node(start, (wait_task_id(task.name), task.wait_for.url), "wait"))
            edges.append(Edge(start, ids[task.name]))
            if pipeline_wait:
                edges.append(Edge(pipeline_wait, start))
        elif pipeline_wait and not task.depends_on:
            edges.append(Edge(pipeline_wait, start))
        if not task.depends_on:
            starts.append(start)
        nodes.append(Node(ids[task.name], _task_lines(task), "task"))
        edges.extend(Edge(ids[dep], ids[task.name]) for dep in task.depends_on)
    needed = {dep for task in spec.tasks for dep in task.depends_on}
    last = [ids[task.name] for task in spec.tasks if task.name not in needed][-1]
    return Cluster(cid, (spec.dag_id, _when(spec)), tuple(nodes), tuple(edges), pipeline_wait or starts[0], last)


def _task_lines(task: Task) -> tuple[str, ...]:
    """The task's name, with what a reviewer should not miss: how many copies of it run
    (for_each), and when it runs if not after its upstream succeeded (run_if)."""
    name = task.name
    if task.for_each is not None:
        fan = task.for_each
        name += f" {TIMES}{len(fan.values)}" if fan.param is None else f" {TIMES}N (params.{fan.param})"
    return (name, f"run_if: {task.run_if}") if task.run_if != _DEFAULT_RUN_IF else (name,)


def _when(spec: Spec) -> str:
    """When a pipeline runs, in a few words: its schedule, and/or after its upstream."""
    clock = spec.schedule and (spec.schedule if spec.timezone == "UTC" else f"{spec.schedule} {spec.timezone}")
    data = ("after all upstream" if spec.after else "after any upstream") if spec.waits_for else None
    if clock and data:
        return f"{clock}, or {data}"
    return clock or data or "manual runs only"


def _printable(text: str) -> str:
    """Control characters (a newline in an S3 key) shown, not obeyed: as their Unicode
    pictures (\N{SYMBOL FOR LINE FEED}), others as Python escapes."""
    return "".join(c if c.isprintable() else _picture(c) for c in text)


def _picture(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: U+2400 + the C0 code
    return "\N{SYMBOL FOR DELETE}" if code == 0x7F else repr(char)[1:-1]


def _notes(graph: Graph) -> list[str]:
    if not graph.left_out:
        return []
    return ["not drawn, because they have errors (factory lint shows them):", *(f"  {p}" for p in graph.left_out)]


# Mermaid: labels in double quotes, where these characters still mean something
# (entities, comments, Markdown strings, HTML, '\n' as a line break); its numeric entity
# codes stand for them.
_MERMAID_ESCAPES = {ord(c): f"#{ord(c)};" for c in '"#&<>`%|\\'}
_MERMAID_SHAPES = {"task": '["{}"]', "wait": '{{{{"{}"}}}}', "pipeline": '(["{}"])'}


def mermaid(graph: Graph) -> str:
    """A Mermaid flowchart: one subgraph per pipeline, titled with its DAG id and when it runs."""
    out = ["flowchart LR"]
    out += [f"  %% {_printable(line)}" for line in _notes(graph)]
    for cluster in graph.clusters:
        # One line: Mermaid draws a second line of a subgraph's title under its nodes.
        title = " \N{MIDDLE DOT} ".join(_mermaid_text(line) for line in cluster.lines)
        out.append(f'  subgraph {cluster.id}["{title}"]')
        out.append("    direction LR")  # as the whole; a pipeline with no link outside would go top-down
        out += [f"    {_mermaid_node(node)}" for node in cluster.nodes]
        out += [f"    {_mermaid_edge(edge)}" for edge in cluster.edges]
        out.append("  end")
    out += [f"  {_mermaid_node(node)}" for node in graph.neighbours]
    out += [f"  {_mermaid_edge(edge)}" for edge in graph.edges]
    if graph.neighbours:
        out.append("  classDef neighbour stroke-dasharray: 4 3")
        out.append(f"  class {','.join(node.id for node in graph.neighbours)} neighbour")
    return "\n".join(out) + "\n"


def mermaid_too_big(graph: Graph, text: str) -> str | None:
    """Why Mermaid's default limits refuse this diagram, if they do."""
    edges = len(graph.edges) + sum(len(cluster.edges) for cluster in graph.clusters)
    if len(text) > MERMAID_MAX_TEXT:
        return f"{len(text):,} characters, more than Mermaid's default maxTextSize of {MERMAID_MAX_TEXT:,}"
    if edges > MERMAID_MAX_EDGES:
        return f"{edges:,} edges, more than Mermaid's default maxEdges of {MERMAID_MAX_EDGES:,}"
    return None


def _mermaid_label(lines: tuple[str, ...]) -> str:
    return "<br>".join(_mermaid_text(line) for line in lines)


def _mermaid_text(line: str) -> str:
    # Mermaid breaks the line at a '\' and 'n' even written as an entity: a zero-width
    # space between them keeps what a reader sees.
    return _printable(line).translate(_MERMAID_ESCAPES).replace("#92;n", "#92;#8203;n")


def _mermaid_node(node: Node) -> str:
    return node.id + _MERMAID_SHAPES[node.kind].format(_mermaid_label(node.lines))


def _mermaid_edge(edge: Edge) -> str:
    arrow = "-.->" if edge.dashed else "-->"
    label = f'|"{_mermaid_label((edge.label,))}"|' if edge.label else ""
    return f"{edge.source} {arrow}{label} {edge.target}"


_DOT_SHAPES = {"task": "", "wait": ", shape=cds", "pipeline": ', style="rounded,dashed"'}


def dot(graph: Graph) -> str:
    """A Graphviz digraph: one cluster per pipeline; an edge from or to a whole pipeline
    is clipped at its cluster (compound=true, ltail/lhead)."""
    out = [
        "digraph factory {",
        '  graph [rankdir=LR, compound=true, fontname="Helvetica", fontsize=12];',
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    out += [f"  // {_printable(line)}" for line in _notes(graph)]
    clusters = {cluster.id: cluster for cluster in graph.clusters}
    for cluster in graph.clusters:
        out.append(f'  subgraph "cluster_{cluster.id}" {{')
        out.append(f"    label={_dot_label(cluster.lines)};")
        out += [f"    {_dot_node(node)}" for node in cluster.nodes]
        out += [f"    {_dot_edge(edge, clusters)}" for edge in cluster.edges]
        out.append("  }")
    out += [f"  {_dot_node(node)}" for node in graph.neighbours]
    out += [f"  {_dot_edge(edge, clusters)}" for edge in graph.edges]
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_label(lines: tuple[str, ...]) -> str:
    # In a quoted DOT string '"' ends it and '\' starts an escape (\n, \N, ...), and in
    # a label Graphviz reads '&...;' as an HTML entity.
    escaped = (_printable(line).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;") for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def _dot_node(node: Node) -> str:
    return f'"{node.id}" [label={_dot_label(node.lines)}{_DOT_SHAPES[node.kind]}];'


def _dot_edge(edge: Edge, clusters: dict[str, Cluster]) -> str:
    source, target, attributes = edge.source, edge.target, []
    if source in clusters:
        source = clusters[edge.source].last
        attributes.append(f'ltail="cluster_{edge.source}"')
    if target in clusters:
        target = clusters[edge.target].first
        attributes.append(f'lhead="cluster_{edge.target}"')
    if edge.label:
        attributes.append(f"label={_dot_label((edge.label,))}")
    if edge.dashed:
        attributes.append("style=dashed")
    listed = f" [{', '.join(attributes)}]" if attributes else ""
    return f'"{source}" -> "{target}"{listed};'


# The formats, the default first.
RENDERERS = {"mermaid": mermaid, "dot": dot}
