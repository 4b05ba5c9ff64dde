"""The arguments every runtime's operator takes alike: when a task runs, how it retries,
and which shared limits it counts against. One place, so both runtimes agree."""

from __future__ import annotations

import functools
import sys
from typing import Any

from factory.model.spec import Task

# A spec's run_if, as Airflow's trigger rules.
TRIGGER_RULES = {
    "all_succeeded": "all_success",
    "all_done": "all_done",
    "one_failed": "one_failed",
    "none_failed": "none_failed",
}
# run_if values whose task handles another's failure: it does not decide the run's
# verdict (factory/compile/dag.py), or a run that went well would end skipped.
FAILURE_HANDLERS = frozenset({"one_failed"})


def operator_args(task: Task) -> dict[str, Any]:
    args: dict[str, Any] = {
        "retries": task.retries,
        "retry_delay": task.retry_delay,
        "execution_timeout": task.timeout,
        "trigger_rule": TRIGGER_RULES[task.run_if],
        "depends_on_past": task.depends_on_past,
        "priority_weight": task.priority,
    }
    if task.pool is not None:
        args["pool"] = task.pool
    if task.retry_exponential:
        args["retry_exponential_backoff"] = _doubling()
        if task.max_retry_delay is not None:
            args["max_retry_delay"] = task.max_retry_delay
    return args


@functools.cache
def _doubling() -> bool | float:
    """`retry_exponential_backoff` that doubles the delay on this Airflow.

    Up to 3.0 it is a bool (True doubles; a float is refused as the wrong type). From
    3.1 it is the multiplier itself, and True would be 1: no backoff at all. The type
    the installed BaseOperator checks it against says which one this is.
    """
    from factory.compile.airflow_compat import EmptyOperator

    # 3.0 has two BaseOperators (airflow.models' on top of the SDK's); the SDK's checks.
    for cls in EmptyOperator.__mro__:
        expected = getattr(sys.modules[cls.__module__], "BASEOPERATOR_ARGS_EXPECTED_TYPES", None)
        if cls.__name__ == "BaseOperator" and expected is not None:
            return True if expected.get("retry_exponential_backoff") is bool else 2.0
    return 2.0
