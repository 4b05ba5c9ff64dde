"""Stage 4 of the pipeline: model -> Airflow DAG, for the runtime we are running on.

Each runtime lives in its own module behind one function, `add_tasks(dag, spec,
platform)`, and is imported only when chosen: MWAA has no docker provider, and an
on-prem host may lack the amazon one.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping

RUNTIMES = ("onprem", "mwaa")


class UnknownRuntimeError(Exception):
    """The runtime asked for does not exist or cannot be used here."""


def detect_runtime(environ: Mapping[str, str] = os.environ) -> str:
    """FACTORY_RUNTIME wins; otherwise MWAA is recognised by the variables it sets."""
    chosen = environ.get("FACTORY_RUNTIME", "").strip().lower()
    if chosen:
        if chosen not in RUNTIMES:
            raise UnknownRuntimeError(f"FACTORY_RUNTIME={chosen!r} is not one of {', '.join(RUNTIMES)}")
        return chosen
    if environ.get("AIRFLOW_ENV_NAME") or environ.get("MWAA_AIRFLOW_COMPONENT"):
        return "mwaa"
    return "onprem"


@functools.cache
def importable(module: str) -> bool:
    """Whether this Python has `module`, found without importing it (nor its parents'
    code beyond what find_spec needs): what the loader asks of a spec's optional needs."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing
        return False
