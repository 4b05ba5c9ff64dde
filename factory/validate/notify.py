"""Checks of a spec's `notify` the schema cannot make: each kind of target must be set up
in the platform file, and no target is named twice.

The platform file is the platform team's, so whether email, SNS or Slack can be reached
is theirs to say (`notifications:`): a spec naming a kind that is not set up would pass
lint and then fail to tell anyone on the night it matters. The spec cache is keyed by
the platform file's bytes (factory/load/layout.py, cache_inputs), so this stays right.
"""

from __future__ import annotations

from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document
from factory.model.platform import Notifications
from factory.model.spec import NOTIFY_TARGETS
from factory.validate.durations import duration_problem

_KINDS = {"email": "email", "sns": "SNS", "slack": "Slack"}


def check(
    merged: dict[str, Any], origin: dict[str, Document], notifications: Notifications, platform_name: str
) -> list[Diagnostic]:
    problems = _deadline_problems(merged, origin)
    items = merged.get("notify")
    if not isinstance(items, list):
        return problems  # absent, or the schema's to report
    doc = origin["notify"]  # the spec's own, or the _defaults.yaml it comes from
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        for target in NOTIFY_TARGETS:
            address = item.get(target)
            if not isinstance(address, str):
                continue
            where = ("notify", index, target)
            if not notifications.enabled(target):
                problems.append(
                    doc.error(
                        where,
                        f"{_KINDS[target]} notifications are not set up on this platform: "
                        f"{platform_name} has no notifications.{target}",
                        key=True,
                        rule="notify",
                        hint=f"ask the platform team to add notifications.{target} to {platform_name}, "
                        "or tell this target another way",
                    )
                )
            first = seen.setdefault((target, address), index)
            if first != index:
                problems.append(
                    doc.error(
                        where,
                        f"{address} is already told at notify[{first}]: a target is named once",
                        rule="notify",
                        hint="put every event for it in one item's when",
                    )
                )
    return problems


def _deadline_problems(merged: dict[str, Any], origin: dict[str, Document]) -> list[Diagnostic]:
    deadline = merged.get("deadline")
    if not isinstance(deadline, dict):
        return []
    doc = origin["deadline"]
    problems = []
    problem = duration_problem("within", deadline.get("within"), "a run may take")
    if problem:
        problems.append(doc.error(("deadline", "within"), problem, rule="duration"))
    items = merged.get("notify") if isinstance(merged.get("notify"), list) else []
    told = [i for i in items if isinstance(i, dict) and isinstance(i.get("when"), list) and "late" in i["when"]]
    if not told:
        problems.append(
            doc.error(
                ("deadline",),
                "nobody is told when a run misses this deadline: no notify target is told of late",
                key=True,
                rule="deadline",
                hint="add late to the when of a notify target, e.g. when: [failure, late]",
            )
        )
    return problems
