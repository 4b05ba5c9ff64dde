"""Run time of a task's `for_each` (factory/compile/fan_out.py).

Each copy of a fan-out task is its operator with `fan_out_item` set by Airflow's
dynamic task mapping; `prepare_context` puts it in the template context as `item`, so
`{{ item }}` renders to it in command and env. A list parameter's items come from
`FactoryItemsOperator`, which returns the run's value of that parameter for the copies
to be mapped over (Airflow maps only over a literal list or a task's output).
"""

from __future__ import annotations

from typing import Any

try:  # Airflow 3
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2.10 / 2.11
    from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef,assignment]

try:  # Airflow 3.1+ (3.0 has it in airflow.exceptions too)
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,assignment]

from factory.operators.dates import fill_dates_from_run_after

ITEM = "item"
# How each copy is named in the UI (Airflow renders it from the copy's own operator).
MAP_INDEX_TEMPLATE = "{{ task.fan_out_item }}"


def prepare_context(context: Any, item: str | None) -> None:
    """What a spec task's templates may read besides Airflow's context: `{{ ds }}` in a
    run triggered without a logical date (factory/operators/dates.py), and a fan-out
    copy's `{{ item }}`."""
    fill_dates_from_run_after(context)
    if item is not None:
        context[ITEM] = item


class SpecTemplating:
    """Mixed into the operators of spec tasks (before the provider's operator), so each
    renders its templates with `prepare_context`'s additions."""

    fan_out_item: str | None = None  # this copy's item of a for_each; set by the operator

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        # Not render_template_fields: a for_each copy is rendered through this alone (the
        # mapped operator calls it on the copy it unmaps), on every supported Airflow.
        if parent is self:
            prepare_context(context, self.fan_out_item)
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)  # type: ignore[misc]


class FactoryItemsOperator(BaseOperator):
    """Returns the items of a fan-out: this run's value of the list parameter `param`."""

    ui_color = "#e8f0fe"

    def __init__(self, *, param: str, fanned_task: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.param = param
        self.fanned_task = fanned_task

    def execute(self, context: Any) -> list[str]:
        value = context["params"].get(self.param)
        if isinstance(value, str):  # a form or the REST API may send one item as text
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and 0 < len(v) <= 250 for v in value):
            raise AirflowFailException(
                f"run parameter {self.param!r} must be a list of strings of 1 to 250 characters, not {value!r}"
            )
        if not value:
            raise AirflowFailException(f"run parameter {self.param!r} is empty: {self.fanned_task} has nothing to run")
        items = list(dict.fromkeys(value))  # one copy per distinct item
        if len(items) > 1024:
            raise AirflowFailException(f"run parameter {self.param!r} has {len(items)} items: at most 1024")
        self.log.info("%s runs once for each of: %s", self.fanned_task, ", ".join(items))
        return items
