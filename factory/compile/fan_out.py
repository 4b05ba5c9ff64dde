"""A task's `for_each`, as Airflow's dynamic task mapping: the same on both runtimes.

The runtime's operator is built with `.partial(...)` (everything but the item) and
`.expand(fan_out_item=...)`: over the spec's values, or over the output of the task
that reads a list parameter (`<task>_items`; Airflow maps only over a literal list or a
task's output). Each copy is named by its item in the UI (map_index_template), and
`at_once` is Airflow's max_active_tis_per_dagrun. The tasks after a fan-out wait for
every copy: with the default trigger rule, all of them must succeed.
"""

from __future__ import annotations

from typing import Any

from factory.model.spec import Task, items_task_id


def operator(cls: type, task: Task, dag: Any, **kwargs: Any) -> Any:
    """The runtime's operator for `task`: one, or one per item of its for_each."""
    fan_out = task.for_each
    if fan_out is None:
        return cls(task_id=task.name, dag=dag, **kwargs)
    from factory.operators.fan_out import MAP_INDEX_TEMPLATE, FactoryItemsOperator

    limits = {"max_active_tis_per_dagrun": fan_out.at_once} if fan_out.at_once else {}
    partial = cls.partial(task_id=task.name, dag=dag, map_index_template=MAP_INDEX_TEMPLATE, **limits, **kwargs)
    if fan_out.param is None:
        return partial.expand(fan_out_item=list(fan_out.values))
    reader = FactoryItemsOperator(task_id=items_task_id(task.name), dag=dag, param=fan_out.param, fanned_task=task.name)
    return partial.expand(fan_out_item=reader.output)
