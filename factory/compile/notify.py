"""A spec's `notify`, as Airflow callbacks: the same on every runtime and version.

- failure and retry are each spec task's (and each wait's) `on_failure_callback` and
  `on_retry_callback`, given through the DAG's default_args so a mapped task gets them
  too; the factory's own tasks (cleanup, verdict) opt out, so nobody is paged for the
  platform's housekeeping;
- success and recovery are the verdict's `on_success_callback`: the verdict succeeds
  exactly when the run's work did (factory/compile/dag.py), and a recovery is a success
  whose previous run failed.

The callbacks are FactoryNotifier objects (factory/operators/notify.py) built from the
spec's closed vocabulary: no callable or import path ever comes from YAML.
"""

from __future__ import annotations

from typing import Any

from factory.compile import importable
from factory.compile.docs import spec_file
from factory.model import Platform, Spec

_TASK_EVENTS = {"failure": "on_failure_callback", "retry": "on_retry_callback"}
NO_CALLBACKS = {name: None for name in _TASK_EVENTS.values()}


def task_callbacks(spec: Spec, platform: Platform) -> dict[str, Any]:
    """default_args for the spec's tasks: a callback per event some target is told of."""
    args = {}
    for event, name in _TASK_EVENTS.items():
        notifier = _notifier(spec, platform, event, (event,))
        if notifier is not None:
            args[name] = notifier
    return args


def verdict_callbacks(spec: Spec, platform: Platform) -> dict[str, Any]:
    notifier = _notifier(spec, platform, "success", ("success", "recovery"))
    return {**NO_CALLBACKS, "on_success_callback": notifier}


def _notifier(spec: Spec, platform: Platform, event: str, wanted: tuple[str, ...]) -> Any:
    targets = tuple((n.target, n.address, n.events) for n in spec.notify if set(n.events) & set(wanted))
    if not targets:
        return None
    # Imported only by the specs that notify: it is small, but parse time is per import.
    from factory.operators.notify import FactoryNotifier

    return FactoryNotifier(event, targets, platform.notifications, spec_file(spec))


# What a kind of target needs of the Airflow it runs on. Email and SNS use providers that
# every supported Airflow has (smtp is a dependency of Airflow, amazon of the factory).
_NEEDED = {"slack": ("airflow.providers.slack.hooks.slack", "apache-airflow-providers-slack")}


def missing_package(target: str) -> str | None:
    """The package this Airflow lacks to reach `target`, or None."""
    module, package = _NEEDED.get(target, (None, None))
    return package if module is not None and not importable(module) else None
