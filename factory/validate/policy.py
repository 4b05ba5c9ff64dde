"""What the platform team allows specs to ask for, where a spec could weaken isolation.

Specs are written by analysts; the platform file (specs/_platform.yaml) by the platform
team, so the limits are theirs. Today that is the on-prem network mode: `host` gives the
container the worker's own network (its ports, its loopback services, the metadata DB
if it listens there), and `container:<name>` joins another container's network. By
default a spec may choose neither; the platform file can list exactly the modes specs
may choose instead (`onprem.allowed_network_modes`).

The check needs the platform file, so the spec cache is keyed by its bytes too
(factory/load/layout.py, cache_inputs).
"""

from __future__ import annotations

from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.platform import OnpremPlatform

# Modes that take a container's network isolation away, refused unless allowed.
UNSAFE_BY_DEFAULT = {"host": "it gives the container the worker's own network"}
UNSAFE_PREFIXES = {"container:": "it joins the network of another container"}


def network_mode_problem(mode: str, onprem: OnpremPlatform) -> str | None:
    """Why a spec may not choose `mode`, or None when it may."""
    allowed = onprem.allowed_network_modes
    if allowed is not None:
        if mode in allowed:
            return None
        listed = ", ".join(f"'{m}'" for m in allowed) or "none"
        return f"network mode '{mode}' is not one the platform allows specs to choose (allowed: {listed})"
    reason = UNSAFE_BY_DEFAULT.get(mode) or next(
        (why for prefix, why in UNSAFE_PREFIXES.items() if mode.startswith(prefix)), None
    )
    if reason is None:
        return None
    return f"network mode '{mode}' is not allowed in a spec: {reason}"


def check(
    tasks: dict[str, dict[str, Any]], spec: Document, onprem: OnpremPlatform, platform_name: str
) -> list[Diagnostic]:
    problems = []
    for name, task in tasks.items():
        # Only what has the right shape: the schema reports the rest.
        block = task.get("onprem") if isinstance(task, dict) else None
        mode = block.get("network_mode") if isinstance(block, dict) else None
        if not isinstance(mode, str):
            continue
        problem = network_mode_problem(mode, onprem)
        if problem:
            hint = (
                f"leave network_mode out to use the platform's default ('{onprem.network_mode}'), or ask the "
                f"platform team to add '{mode}' to onprem.allowed_network_modes in {platform_name}"
            )
            problems.append(
                spec.error(("tasks", name, "onprem", "network_mode"), problem, rule="network-policy", hint=hint)
            )
    return problems
