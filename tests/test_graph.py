"""`factory graph` (factory/review/graph.py): every task a node in its pipeline's box,
every depends_on an edge, a sensor before what waits, and the edges between pipelines
for `after` and `after_any`, by DAG id and by data a task `updates`.

Each diagram is checked by what draws it: the Mermaid is parsed by the strict grammar
below and then rendered by mermaid-cli (mmdc, scripts/node) in Debian's chromium, all
cases in one call, and the nodes, edges and labels Mermaid drew must be those parsed;
the DOT is laid out by Graphviz, whose own reading of it (`dot -Tjson`) is what is
checked. The project's own specs/ must render in both.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from needs import need
from spec_projects import spec_project

from factory.cli import main
from factory.lint import lint_paths
from factory.load.layout import Project
from factory.model.spec import Spec
from factory.read import Reader

REPO = Path(__file__).resolve().parents[1]
NODE_TOOLS = REPO / "scripts" / "node"
MMDC = NODE_TOOLS / "node_modules" / ".bin" / "mmdc"
PUPPETEER_CONFIG = NODE_TOOLS / "puppeteer-config.json"
CHROMIUM = Path("/usr/bin/chromium")

# A URL with every character that means something to Mermaid, DOT, HTML or Jinja.
AWKWARD_URL = 's3://drop-zone/q"uote#hash&lt;amp<b>tag</b>%%pct|bar\\back\\new`tick;semi{{ ds }}/end'
SPECS = {
    "_defaults.yaml": "owner: o\nstart_date: 2024-01-01\n",
    # DAG ids with '-' and '.', a task named like Mermaid's `end`, data with '-' and '.'.
    "raw-zone/land-orders.yaml": f"""\
description: land the orders
schedule: "0 5 * * *"
wait_for:
  s3: '{AWKWARD_URL.replace("'", "''")}'
  timeout: 1h
tasks:
  land:
    image: busybox:1
    updates: [raw.orders-v2]
  end:
    image: busybox:1
    depends_on: [land]
""",
    "down-stream/totals.yaml": """\
description: after data a task updates
after: [raw.orders-v2]
tasks:
  totals:
    image: busybox:1
""",
    "down-stream/publish.yaml": """\
description: after a pipeline's DAG id, or at 09:00
after: [down-stream.totals]
schedule: "0 9 * * *"
tasks:
  publish:
    image: busybox:1
""",
    "down-stream/either.yaml": """\
description: after any of a DAG id and data
after_any: [down-stream.totals, raw.orders-v2]
tasks:
  first:
    image: busybox:1
  second:
    image: busybox:1
    depends_on: [first]
""",
    # A deadline: what SpecChecker would import Airflow for (factory/compile/deadline.py).
    "solo.yaml": """\
description: fan-outs, a task's own wait, a task that runs on failure
schedule: "@daily"
timezone: Europe/Paris
deadline: {within: 2h}
notify:
  - email: team@example.com
    when: [failure, late]
params:
  regions: {type: list, default: [eu, us]}
tasks:
  each_value:
    image: busybox:1
    command: [echo, "{{ item }}"]
    for_each: {values: [a, b, c]}
  each_region:
    image: busybox:1
    command: [echo, "{{ item }}"]
    for_each: {param: regions}
  late:
    image: busybox:1
    wait_for: {s3: "s3://bucket-x/new\\nline\\tand tab/", timeout: 30m}
    depends_on: [each_value, each_region]
  on_failure:
    image: busybox:1
    run_if: one_failed
    depends_on: [late]
""",
}
# The edges between pipelines: (from, to, label, dashed); a pipeline's DAG id alone is
# the whole pipeline (a Mermaid subgraph, a DOT cluster via ltail/lhead, or a node for one
# not drawn in full), "dag_id:task" one of its tasks.
BETWEEN = Counter(
    {
        ("raw-zone.land-orders:land", "down-stream.totals", "raw.orders-v2", False): 1,
        ("down-stream.totals", "down-stream.publish", "down-stream.totals", False): 1,
        ("down-stream.totals", "down-stream.either", "down-stream.totals (any of)", True): 1,
        ("raw-zone.land-orders:land", "down-stream.either", "raw.orders-v2 (any of)", True): 1,
    }
)
# `factory graph specs/down-stream/totals.yaml`: its neighbours as one node each.
AROUND_TOTALS = Counter(
    {
        ("raw-zone.land-orders", "down-stream.totals", "raw.orders-v2", False): 1,
        ("down-stream.totals", "down-stream.publish", "down-stream.totals", False): 1,
        ("down-stream.totals", "down-stream.either", "down-stream.totals (any of)", True): 1,
    }
)


@dataclass
class Drawn:
    """A diagram as its reader sees it, whatever the format: named by labels, not ids."""

    pipelines: dict[str, tuple[str, ...]] = field(default_factory=dict)  # DAG id -> its box's title
    nodes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "dag_id:name" -> label lines
    shapes: dict[str, str] = field(default_factory=dict)  # "dag_id:name" -> task, wait
    others: set[str] = field(default_factory=set)  # pipelines drawn as one node
    inside: Counter = field(default_factory=Counter)  # (from, to) within a pipeline
    between: Counter = field(default_factory=Counter)  # as BETWEEN


def _run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", autouse=True)
def _private_spec_cache(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_CACHE_DIR", str(tmp_path_factory.mktemp("spec-cache")))
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("graph-project")
    spec_project(root, SPECS)
    return root


@pytest.fixture(scope="module")
def drawings(project: Path) -> dict[str, str]:
    """Every case drawn once, by name: the test project whole and around one spec, and
    the repository's own specs."""
    cases = {
        "whole": (project, []),
        "around-totals": (project, ["specs/down-stream/totals.yaml"]),
        "repository": (REPO, []),
        "rollup": (REPO, ["specs/sales/daily_rollup.yaml"]),
    }
    found = {}
    for name, (cwd, argv) in cases.items():
        for form in ("mermaid", "dot"):
            status, out, err = _run(["graph", *argv, "--format", form], cwd)
            assert (status, err) == (0, ""), f"{name} ({form})"
            found[f"{name}.{form}"] = out
    return found


def _models(root: Path) -> list[Spec]:
    project = Project.at(root)
    reader = Reader(project)
    return [reader.read_spec(path) for path in project.spec_files()]


# Mermaid, as factory graph writes it; any other line is an error of the writer.
MERMAID_ID = r"[a-z][a-z0-9_]*"
MERMAID_LABEL = r'"((?:[^"#%`<>&|\\]|#\d+;|<br>)*)"'
MERMAID_SHAPES = {"task": ("[", "]"), "wait": ("{{", "}}"), "pipeline": ("([", "])")}
MERMAID_NODE = re.compile(rf"(?P<id>{MERMAID_ID})(?P<open>\[|\{{\{{|\(\[){MERMAID_LABEL}(?P<close>\]|\}}\}}|\]\))$")
MERMAID_EDGE = re.compile(
    rf"(?P<source>{MERMAID_ID}) (?P<arrow>-->|-\.->)(?:\|{MERMAID_LABEL}\|)? (?P<target>{MERMAID_ID})$"
)
MERMAID_SUBGRAPH = re.compile(rf"subgraph (?P<id>{MERMAID_ID})\[{MERMAID_LABEL}\]$")
# Words Mermaid's flowchart grammar reads as syntax where an id stands.
MERMAID_KEYWORDS = {"end", "subgraph", "graph", "flowchart", "direction", "style", "class", "classDef", "click"}


def _mermaid_text(label: str) -> tuple[str, ...]:
    return tuple(_seen(re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), part)) for part in label.split("<br>"))


def _seen(text: str) -> str:
    """What a reader sees: without the zero-width space that keeps Mermaid from reading
    a '\\' and 'n' as a line break."""
    return text.replace("\N{ZERO WIDTH SPACE}", "")


@dataclass
class MermaidParse:
    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # id -> title
    nodes: dict[str, tuple[str, str | None, tuple[str, ...]]] = field(default_factory=dict)  # id -> kind, box, label
    edges: list[tuple[str, str, str | None, bool]] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)


def _parse_mermaid(text: str) -> MermaidParse:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    found = MermaidParse()
    box = None
    for line in lines[1:]:
        body = line.strip()
        indent = "    " if box and body != "end" else "  "
        assert line == indent + body, f"indentation: {line!r}"
        if body.startswith("%% "):
            continue
        if (m := MERMAID_SUBGRAPH.match(body)) and box is None:
            box = m["id"]
            found.clusters[box] = (_mermaid_text(m[2])[0],)
        elif body == "end" and box is not None:
            box = None
        elif body == "direction LR" and box is not None:
            continue
        elif m := MERMAID_NODE.match(body):
            kind = next(k for k, (o, c) in MERMAID_SHAPES.items() if (o, c) == (m["open"], m["close"]))
            assert m["id"] not in found.nodes, f"{m['id']} declared twice"
            found.nodes[m["id"]] = (kind, box, _mermaid_text(m[3]))
        elif m := MERMAID_EDGE.match(body):
            label = _mermaid_text(m[3])[0] if m[3] is not None else None
            found.edges.append((m["source"], m["target"], label, m["arrow"] == "-.->"))
        elif body == "classDef neighbour stroke-dasharray: 4 3" and box is None:
            continue
        elif (m := re.fullmatch(rf"class ({MERMAID_ID}(?:,{MERMAID_ID})*) neighbour", body)) and box is None:
            found.classes.update(dict.fromkeys(m[1].split(","), "neighbour"))
        else:
            pytest.fail(f"not a line factory graph writes: {line!r}")
    assert box is None, "a subgraph is not closed"
    ids = [*found.clusters, *found.nodes]
    assert len(ids) == len(set(ids)) and not set(ids) & MERMAID_KEYWORDS
    for source, target, _, _ in found.edges:
        assert source in ids and target in ids, f"an edge to an undeclared id: {source} -> {target}"
    return found


def _drawn_from_mermaid(parse: MermaidParse) -> Drawn:
    drawn = Drawn()
    title = {cid: t[0].split(" \N{MIDDLE DOT} ")[0] for cid, t in parse.clusters.items()}
    drawn.pipelines = {title[cid]: tuple(t[0].split(" \N{MIDDLE DOT} ")) for cid, t in parse.clusters.items()}
    names = dict(title)
    for nid, (kind, box, label) in parse.nodes.items():
        if box is None:
            assert kind == "pipeline" and parse.classes.get(nid) == "neighbour"
            names[nid] = label[0]
            drawn.others.add(label[0])
            continue
        names[nid] = f"{title[box]}:{label[0].split()[0]}"
        drawn.nodes[names[nid]], drawn.shapes[names[nid]] = label, kind
    boxes = {nid: box for nid, (_, box, _) in parse.nodes.items()}
    for source, target, label, dashed in parse.edges:
        if boxes.get(source) is not None and boxes.get(source) == boxes.get(target):
            assert (label, dashed) == (None, False)
            drawn.inside[(names[source], names[target])] += 1
        else:
            drawn.between[(names[source], names[target], label, dashed)] += 1
    return drawn


def _graphviz(text: str, form: str) -> str:
    """Graphviz's output for a DOT text; any warning fails."""
    if shutil.which("dot") is None:
        need("Graphviz's dot is missing; run scripts/setup (Debian's graphviz)")
    done = subprocess.run(["dot", f"-T{form}"], input=text, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout


def _drawn_from_dot(text: str) -> Drawn:
    """What Graphviz read: its JSON output, after layout. Any warning fails."""
    graph = json.loads(_graphviz(text, "json"))
    assert graph["compound"] == "true" and graph["directed"] is True
    objects = graph.get("objects", [])
    clusters = {o["name"]: o for o in objects if o["name"].startswith("cluster_")}
    titles = {name: _dot_text(o["label"]) for name, o in clusters.items()}
    box_of = {index: name for name, o in clusters.items() for index in o.get("nodes", ())}
    drawn = Drawn(pipelines={t[0]: t for t in titles.values()})
    names = {}
    for o in objects:
        if o["name"] in clusters:
            continue
        label = _dot_text(o["label"])
        box = box_of.get(o["_gvid"])
        if box is None:
            assert "dashed" in o["style"]
            names[o["_gvid"]] = label[0]
            drawn.others.add(label[0])
        else:
            names[o["_gvid"]] = key = f"{titles[box][0]}:{label[0].split()[0]}"
            drawn.nodes[key] = label
            drawn.shapes[key] = "wait" if o["shape"] == "cds" else "task"
    for edge in graph.get("edges", []):
        # Graphviz lists an attribute that some edge has on every edge, empty where unset.
        source = titles[edge["ltail"]][0] if edge.get("ltail") else names[edge["tail"]]
        target = titles[edge["lhead"]][0] if edge.get("lhead") else names[edge["head"]]
        label = _dot_text(edge["label"])[0] if edge.get("label") else None
        dashed = edge.get("style") == "dashed"
        same_box = box_of.get(edge["tail"]) is not None and box_of.get(edge["tail"]) == box_of.get(edge["head"])
        if same_box and not edge.get("ltail") and not edge.get("lhead"):
            assert (label, dashed) == (None, False)
            drawn.inside[(source, target)] += 1
        else:
            drawn.between[(source, target, label, dashed)] += 1
    return drawn


def _dot_text(label: str) -> tuple[str, ...]:
    """A DOT label as shown: escapes and entities undone (JSON gives it as written)."""
    lines = re.split(r"(?<!\\)\\n", label)
    return tuple(html.unescape(line.replace('\\"', '"').replace("\\\\", "\\")) for line in lines)


def _drawn(text: str, form: str) -> Drawn:
    return _drawn_from_mermaid(_parse_mermaid(text)) if form == "mermaid" else _drawn_from_dot(text)


def _expected_inside(specs: list[Spec]) -> Counter:
    """The edges inside each pipeline, from its model: depends_on, and the sensors."""
    edges = Counter()
    for spec in specs:
        for task in spec.tasks:
            me = f"{spec.dag_id}:{task.name}"
            edges.update((f"{spec.dag_id}:{dep}", me) for dep in task.depends_on)
            if task.wait_for:
                edges[(f"{spec.dag_id}:wait_for_{task.name}", me)] += 1
                if spec.wait_for:
                    edges[(f"{spec.dag_id}:wait_for", f"{spec.dag_id}:wait_for_{task.name}")] += 1
            elif spec.wait_for and not task.depends_on:
                edges[(f"{spec.dag_id}:wait_for", me)] += 1
    return edges


def _assert_every_task_and_dependency(drawn: Drawn, specs: list[Spec]) -> None:
    assert set(drawn.pipelines) == {spec.dag_id for spec in specs}
    tasks = {f"{s.dag_id}:{t.name}" for s in specs for t in s.tasks}
    waits = {f"{s.dag_id}:wait_for" for s in specs if s.wait_for}
    waits |= {f"{s.dag_id}:wait_for_{t.name}" for s in specs for t in s.tasks if t.wait_for}
    assert {n for n, shape in drawn.shapes.items() if shape == "task"} == tasks
    assert {n for n, shape in drawn.shapes.items() if shape == "wait"} == waits
    assert drawn.inside == _expected_inside(specs)


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_every_task_is_a_node_and_every_dependency_an_edge(form, drawings, project) -> None:
    for case, root in (("whole", project), ("repository", REPO)):
        drawn = _drawn(drawings[f"{case}.{form}"], form)
        _assert_every_task_and_dependency(drawn, _models(root))
        assert not drawn.others, "the whole project has no pipeline outside it"


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_pipelines_run_after_a_dag_id_or_data_solid_for_all_dashed_for_any(form, drawings) -> None:
    assert _drawn(drawings[f"whole.{form}"], form).between == BETWEEN


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_a_named_spec_shows_its_neighbours_as_one_node_each(form, drawings) -> None:
    drawn = _drawn(drawings[f"around-totals.{form}"], form)
    assert set(drawn.pipelines) == {"down-stream.totals"}
    assert drawn.others == {"raw-zone.land-orders", "down-stream.publish", "down-stream.either"}
    assert drawn.between == AROUND_TOTALS


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_markers_and_awkward_names_read_as_written(form, drawings) -> None:
    drawn = _drawn(drawings[f"whole.{form}"], form)
    assert drawn.nodes["raw-zone.land-orders:wait_for"] == ("wait_for", AWKWARD_URL)
    assert drawn.nodes["raw-zone.land-orders:end"] == ("end",)
    assert drawn.nodes["solo:each_value"] == ("each_value \N{MULTIPLICATION SIGN}3",)
    assert drawn.nodes["solo:each_region"] == ("each_region \N{MULTIPLICATION SIGN}N (params.regions)",)
    assert drawn.nodes["solo:on_failure"] == ("on_failure", "run_if: one_failed")
    # Control characters are shown, not obeyed (a newline would end a Mermaid statement).
    assert drawn.nodes["solo:wait_for_late"] == (
        "wait_for_late",
        "s3://bucket-x/new\N{SYMBOL FOR LINE FEED}line\N{SYMBOL FOR HORIZONTAL TABULATION}and tab/",
    )
    assert drawn.pipelines["solo"] == ("solo", "@daily Europe/Paris")
    assert drawn.pipelines["down-stream.publish"] == ("down-stream.publish", "0 9 * * *, or after all upstream")
    assert drawn.pipelines["down-stream.either"] == ("down-stream.either", "after any upstream")


def test_graphviz_draws_every_dot_as_svg_with_labels_as_written(drawings) -> None:
    for name, text in drawings.items():
        if name.endswith(".dot"):
            assert "</svg>" in _graphviz(text, "svg"), name
    svg = _graphviz(drawings["whole.dot"], "svg")
    texts = [html.unescape(m[1]) for m in re.finditer(r"<text [^>]*>(.*?)</text>", svg)]
    assert AWKWARD_URL in texts and "each_value \N{MULTIPLICATION SIGN}3" in texts


@pytest.fixture(scope="module")
def mermaid_svgs(drawings: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every Mermaid case rendered by mermaid-cli in one call (chromium starts once)."""
    if not (MMDC.exists() and shutil.which("node") and CHROMIUM.exists()):
        need(f"mermaid-cli ({MMDC.relative_to(REPO)}) or {CHROMIUM} is missing; run scripts/setup")
    folder = tmp_path_factory.mktemp("mermaid")
    names = [name for name in drawings if name.endswith(".mermaid")]
    blocks = "\n".join(f"## {name}\n\n```mermaid\n{drawings[name]}```\n" for name in names)
    (folder / "cases.md").write_text(blocks, encoding="utf-8")
    done = subprocess.run(
        [str(MMDC), "-p", str(PUPPETEER_CONFIG), "-i", "cases.md", "-o", "out.md", "-e", "svg", "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    drawn = sorted(folder.glob("out-*.svg"), key=lambda p: int(p.stem.split("-")[1]))
    if done.returncode != 0:
        failed = names[len(drawn)] if len(drawn) < len(names) else "?"
        pytest.fail(f"mmdc refused the Mermaid of {failed!r}:\n{done.stderr}{done.stdout}")
    assert len(drawn) == len(names)
    return {name: path.read_text(encoding="utf-8") for name, path in zip(names, drawn, strict=True)}


def _svg_label(fragment: str) -> tuple[str, ...]:
    """The text of the first HTML label in an SVG fragment, line by line."""
    match = re.search(r"<p>(.*?)</p>", fragment, re.S)
    assert match, fragment[:300]
    return tuple(_seen(html.unescape(part)) for part in re.split(r"<br\s*/?>", match[1]))


def test_mermaid_cli_draws_every_diagram_as_parsed(drawings, mermaid_svgs) -> None:
    for name, svg in mermaid_svgs.items():
        parse = _parse_mermaid(drawings[name])
        nodes = {}
        for match in re.finditer(r'<g class="node [^"]*" id="[^"]*?flowchart-(.+?)-\d+"', svg):
            end = svg.find('<g class="node ', match.end())
            nodes[match[1]] = _svg_label(svg[match.end() : end if end > 0 else len(svg)])
        assert nodes == {nid: label for nid, (_, _, label) in parse.nodes.items()}, name
        clusters = {}
        for match in re.finditer(r'<g class="cluster[^"]*" id="(?:[^"]*?-)?(p\d+)"', svg):
            clusters[match[1]] = _svg_label(svg[match.end() :])[0]
        assert clusters == {cid: title[0] for cid, title in parse.clusters.items()}, name
        edges = [re.search(r'\bdata-id="L_(.+?)_\d+"', tag) for tag in re.findall(r"<path [^>]*>", svg)]
        dashed = [re.search(r'\bclass="[^"]*\bedge-pattern-dotted\b', m.string) is not None for m in edges if m]
        drawn = Counter(zip((m[1] for m in edges if m), dashed, strict=True))
        assert drawn == Counter((f"{s}_{t}", d) for s, t, _, d in parse.edges), name
        labels = {}
        for match in re.finditer(r'<g class="label" data-id="L_(.+?)_\d+"', svg):
            text = _svg_label(svg[match.end() : svg.find("</g>", match.end())] + "<p></p>")
            labels.setdefault(match[1], []).append(text[0] or None)
        expected = {}
        for s, t, label, _ in parse.edges:
            expected.setdefault(f"{s}_{t}", []).append(label)
        assert {k: sorted(v, key=str) for k, v in labels.items()} == {
            k: sorted(v, key=str) for k, v in expected.items()
        }, name


def test_specs_with_errors_are_not_drawn_and_their_errors_fail_the_run(tmp_path: Path) -> None:
    spec_project(
        tmp_path,
        {
            "_defaults.yaml": "owner: o\nstart_date: 2024-01-01\n",
            "good.yaml": "description: fine\ntasks:\n  a:\n    image: busybox:1\n",
            "broken.yaml": "description: typo\ntasks:\n  a:\n    image: busybox:1\n    comand: [x]\n",
            "after_broken.yaml": "description: waits\nafter: [broken]\ntasks:\n  a:\n    image: busybox:1\n",
        },
    )
    status, out, err = _run(["graph"], tmp_path)
    out_before = out
    assert status == 1
    assert set(_drawn(out, "mermaid").pipelines) == {"good"}
    assert "  %%   specs/after_broken.yaml\n  %%   specs/broken.yaml\n" in out
    assert re.search(r"^specs/broken\.yaml:5:5: error: ", err, re.M), err
    assert re.search(
        r"^specs/after_broken\.yaml:2:9: error: 'broken' comes only from a spec that has errors", err, re.M
    )
    assert err.rstrip().endswith("2 spec(s) not drawn, for the errors above.")
    # Written all the same with --output: the good ones are worth a look.
    status, out, _ = _run(["graph", "-o", "g.mmd"], tmp_path)
    assert (status, out) == (1, "")
    assert (tmp_path / "g.mmd").read_text() == out_before


def test_with_no_spec_it_draws_the_project_of_the_folder_it_is_in(project: Path, drawings) -> None:
    assert _run(["graph"], project / "specs" / "down-stream") == (0, drawings["whole.mermaid"], "")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nowhere.yaml"], "no such file or folder: nowhere.yaml"),
        (["elsewhere"], "elsewhere is not in a specs/ folder, nor is it a folder that has one"),
        ([], "no specs/ folder in {cwd} or above: run it in a project, or name spec files"),
        (["proj/specs/empty"], "no spec files in proj/specs/empty"),
        (["proj/specs/a.yaml", "other/specs/b.yaml"], "the specs are in 2 projects ("),
        (["proj", "-o", "missing/g.mmd"], "cannot write missing/g.mmd: No such file or directory"),
    ],
    ids=["no-such-file", "no-specs-folder", "no-project-here", "empty-folder", "two-projects", "unwritable"],
)
def test_what_cannot_run_as_asked_is_one_line_and_status_2(argv, message, tmp_path: Path) -> None:
    spec = "description: d\nowner: o\nstart_date: 2024-01-01\ntasks:\n  a:\n    image: busybox:1\n"
    for name in ("proj", "other"):
        (tmp_path / name / "specs" / "empty").mkdir(parents=True)
    (tmp_path / "proj" / "specs" / "a.yaml").write_text(spec)
    (tmp_path / "other" / "specs" / "b.yaml").write_text(spec)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "c.yaml").write_text(spec)
    status, out, err = _run(["graph", *argv], tmp_path)
    assert (status, out) == (2, "")
    assert err.startswith("factory graph: " + message.format(cwd=tmp_path)), err
    assert err.count("\n") == 1, err


BAD = sorted(p for p in (REPO / "tests" / "bad_specs" / "specs").iterdir() if not p.name.startswith("_"))


def test_the_specs_it_leaves_out_are_those_lint_fails() -> None:
    status, out, err = _run(["graph", "tests/bad_specs/specs"], REPO)
    assert status == 1 and "Traceback" not in err
    left_out = {line.removeprefix("  %%   ") for line in out.splitlines() if line.startswith("  %%   ")}
    with contextlib.chdir(REPO):
        failing = {d.path for d in lint_paths([REPO / "tests" / "bad_specs" / "specs"]).errors}
    assert left_out == {p for p in failing if not Path(p).name.startswith("_")}


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_a_bad_spec_gives_a_clean_verdict(path: Path) -> None:
    status, out, err = _run(["graph", str(path.relative_to(REPO))], REPO)
    assert status in (0, 1), err
    _parse_mermaid(out)
    assert "Traceback" not in err and "internal error" not in err, err
    for line in err.splitlines():
        if " error: " in line:
            assert re.match(r"^[^\s:]+\.ya?ml(:\d+:\d+)?: error: ", line), line


def test_it_never_imports_airflow(project: Path) -> None:
    # A fresh interpreter: this session may have imported Airflow for other tests. The
    # project has a deadline, which SpecChecker would ask Airflow about.
    code = (
        "import sys\nfrom factory.cli import main\n"
        "status = main(['graph', '-o', 'graph.mmd'])\n"
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert done.stdout == "0 []\n", done.stderr


def test_a_diagram_past_mermaids_limits_is_drawn_with_a_note(tmp_path: Path) -> None:
    chain = "".join(
        f"  t{i}:\n    image: busybox:1\n" + (f"    depends_on: [t{i - 1}]\n" if i else "") for i in range(170)
    )
    spec = f"description: long\nowner: o\nstart_date: 2024-01-01\ntasks:\n{chain}"
    spec_project(tmp_path, {f"long{k}.yaml": spec for k in range(3)})
    status, out, err = _run(["graph"], tmp_path)
    assert status == 0 and len(_parse_mermaid(out).edges) == 3 * 169
    assert err.startswith("factory graph: note: the diagram has 507 edges, more than Mermaid's default maxEdges of 500")
    assert err.count("\n") == 1
