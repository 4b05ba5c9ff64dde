"""A spec's place among pipelines, in Airflow's data-aware scheduling.

Every name a spec runs after or a task updates (factory/validate/pipelines.py checks
them across the project) becomes one Airflow asset, `x-factory://<name>`: an `Asset` on
Airflow 3, a `Dataset` on 2.10 and 2.11 (MWAA), from the same spec.

- The scheme starts with `x-` because Airflow leaves such URIs as written. Any other
  scheme makes Airflow ask every installed provider for its URI normaliser, the first
  time a DAG file makes an asset: on Airflow 3.3 that imported the Amazon provider's S3
  hook and boto3 into every loader file's process, on-prem too, about 0.25 s of CPU and
  12 MiB in each (docs/benchmarks.md, "Why thirty-two loader files").

- A successful run of a pipeline updates the asset of its own DAG id: the `verdict`
  task (all spec tasks succeeded) has it as outlet, so `after: [sales.daily_rollup]`
  needs nothing declared on the other side. A task's `updates` are its own outlets.
- `after` (all of) and `after_any` (any of) become the DAG's asset condition. With a
  `schedule` as well, the run also comes on the clock, whichever is first (Airflow's
  AssetOrTimeSchedule, DatasetOrTimeSchedule on 2.x); the clock keeps the plain
  schedule's meaning of `{{ ds }}` (a data-interval timetable).
"""

from __future__ import annotations

import functools
from typing import Any

from factory.model import Spec

SCHEME = "x-factory"
# Airflow's presets as cron, for a schedule combined with `after`.
PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def asset(name: str) -> Any:
    try:  # Airflow 3
        from airflow.sdk import Asset
    except ImportError:  # Airflow 2.10 / 2.11
        from airflow.datasets import Dataset

        return Dataset(f"{SCHEME}://{name}")
    return Asset(name=name, uri=f"{SCHEME}://{name}")


def _condition(names: tuple[str, ...], every: bool) -> Any:
    try:
        from airflow.sdk import AssetAll as All
        from airflow.sdk import AssetAny as Any_
    except ImportError:
        from airflow.datasets import DatasetAll as All  # type: ignore[no-redef]
        from airflow.datasets import DatasetAny as Any_  # type: ignore[no-redef]
    assets = [asset(name) for name in names]
    return All(*assets) if every else Any_(*assets)


def schedule(spec: Spec) -> Any:
    """The DAG's `schedule` argument."""
    if not spec.waits_for:
        return spec.schedule
    condition = _condition(spec.waits_for, every=bool(spec.after))
    if spec.schedule is None:
        return condition
    from airflow.timetables.interval import CronDataIntervalTimetable

    try:
        from airflow.timetables.assets import AssetOrTimeSchedule as OrTime
    except ImportError:
        from airflow.timetables.datasets import DatasetOrTimeSchedule as OrTime  # type: ignore[no-redef]
    clock = CronDataIntervalTimetable(PRESETS.get(spec.schedule, spec.schedule), timezone=spec.timezone)
    return OrTime(timetable=clock, **{_assets_argument(OrTime): condition})


@functools.cache  # one answer per Airflow, asked per spec at every parse
def _assets_argument(cls: type) -> str:
    # Airflow 3 names it `assets`, 2.x `datasets`.
    import inspect

    return "assets" if "assets" in inspect.signature(cls.__init__).parameters else "datasets"


def outlets(names: tuple[str, ...]) -> list[Any]:
    return [asset(name) for name in names]
