"""A spec's `deadline`, as Airflow's Deadline Alerts (3.1 and later).

"Done within 2h of its scheduled time" is a DeadlineAlert on when the run was queued plus
the interval: the moment a scheduled run is due (the scheduler creates it then), or a
pipeline-triggered or manual run is asked for. Not the logical date: a run of a spec with
`after` and a schedule has the start of the previous period as its logical date (a data-
interval timetable), so it would be late the moment it is created; a pipeline-triggered
run has none on Airflow 3, so it would have no deadline; and catch-up runs would all be
late at once. When a run is still going then, the scheduler queues the alert's callback
and the triggerer runs it: `factory.operators.notify.run_is_late`, which tells the
spec's notify targets that asked for `late`. The callback is a path and JSON kwargs,
stored with the serialized DAG, so the targets and settings travel as plain data.

An Airflow without Deadline Alerts (3.0, 2.x) cannot keep the promise: the loader gives
such a spec a located error naming the version that can (factory/check.py), and loads
the others.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import metadata
from typing import Any

from factory.compile import importable
from factory.compile.docs import spec_file
from factory.model import Platform, Spec
from factory.model.units import format_duration

SINCE = "3.1"
CALLBACK = "factory.operators.notify.run_is_late"


@functools.cache
def unsupported() -> str | None:
    """Why this Airflow cannot alert on deadlines (its version), or None when it can."""
    if importable("airflow.sdk.definitions.deadline"):
        return None
    try:
        version = metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"Airflow {version}"


def dag_arguments(spec: Spec, platform: Platform) -> dict[str, Any]:
    if spec.deadline is None:
        return {}
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    targets = [[n.target, n.address] for n in spec.notify if "late" in n.events]
    kwargs = {
        "targets": targets,
        "settings": dataclasses.asdict(platform.notifications),
        "spec_path": spec_file(spec),
        "within": format_duration(spec.deadline),
    }
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=spec.deadline,
        callback=AsyncCallback(CALLBACK, kwargs=kwargs),
    )
    return {"deadline": alert}
