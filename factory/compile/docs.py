"""The DAG's documentation in the Airflow UI (its Docs panel), built from the spec.

What a person opening a pipeline in the UI needs: what it does and who owns it, where
its spec lives (a link when the platform file gives `spec_link`), when it runs, and its
tasks with their images and sizes. Never env values or secrets: only what the UI may show.
"""

from __future__ import annotations

from factory import __version__
from factory.compile.fargate import FargateSizeError, fargate_size
from factory.model import Platform, Spec
from factory.model.spec import Task
from factory.model.units import format_memory

SPECS_FOLDER = "specs"


def spec_file(spec: Spec) -> str:
    """The spec's path in the repository, as people know it (specs/sales/daily_rollup.yaml)."""
    return f"{SPECS_FOLDER}/{spec.dag_id.replace('.', '/')}.yaml"


def doc_md(spec: Spec, platform: Platform, runtime: str) -> str:
    path = spec_file(spec)
    where = f"[`{path}`]({platform.spec_link.replace('{path}', path)})" if platform.spec_link else f"`{path}`"
    lines = [
        _text(spec.description),
        "",
        f"- **Owner:** {_text(spec.owner)}",
        f"- **Spec:** {where}",
        f"- **Runs:** {_when(spec)}",
        f"- **Runtime:** {runtime}, built by factory {__version__}",
        *([f"- **Tells:** {_told(spec)}"] if spec.notify else []),
        "",
        "| Task | Image | CPU | Memory | After |",
        "|---|---|---|---|---|",
        *(_row(task, runtime, platform) for task in spec.tasks),
    ]
    return "\n".join(lines) + "\n"


def _when(spec: Spec) -> str:
    clock = f"`{spec.schedule}` ({spec.timezone})" if spec.schedule else "when triggered"
    if spec.waits_for:
        names = ", ".join(f"`{n}`" for n in spec.waits_for)
        after = f"after {'all' if spec.after else 'any'} of {names}"
        clock = f"{after}, or {clock}, whichever comes first" if spec.schedule else after
    if spec.wait_for:
        clock += f"; first waits up to {spec.wait_for.timeout} for `{spec.wait_for.url}`"
    return clock


def _told(spec: Spec) -> str:
    return "; ".join(f"{n.target} {_text(n.address)} of {', '.join(n.events)}" for n in spec.notify)


def _row(task: Task, runtime: str, platform: Platform) -> str:
    cpu, memory = f"{task.cpu:g} vCPU", format_memory(task.memory_mib)
    if runtime == "mwaa" and task.task_definition is None and platform.mwaa is not None:
        try:
            units, mib = fargate_size(task.cpu, task.memory_mib)
        except FargateSizeError:
            pass  # lint and the loader refuse such a spec; the docs never decide
        else:
            # What Fargate runs instead, where it rounds up (factory/compile/fargate.py).
            if units != round(task.cpu * 1024):
                cpu += f" (Fargate: {units / 1024:g})"
            if mib != task.memory_mib:
                memory += f" (Fargate: {format_memory(mib)})"
    after = ", ".join(task.depends_on) or "-"
    if task.run_if != "all_succeeded":
        after += f" ({task.run_if.replace('_', ' ')})"
    image = f"task definition `{task.task_definition}`" if task.task_definition else f"`{task.image}`"
    name = task.name
    if task.for_each is not None:
        each = task.for_each
        items = f"param `{each.param}`" if each.param else ", ".join(_text(v) for v in each.values)
        limit = f", {each.at_once} at once" if each.at_once else ""
        name += f" (for each of {items}{limit})"
    return f"| {name} | {image} | {cpu} | {memory} | {after} |"


def _text(value: str) -> str:
    # An analyst's words, shown as Markdown: a table pipe or raw HTML must stay text.
    return value.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
