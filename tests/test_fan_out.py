"""Fan-out (factory/validate/fan_out.py, factory/compile/fan_out.py,
factory/operators/fan_out.py): the checks with their positions, and the mapped
operators each runtime's DAG gets. Copies running containers, at most `at_once` at a
time, with the downstream after all of them, are on the test bed
(tests/deployment/test_runs.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from spec_projects import compiled, spec_project

from factory.lint import lint_paths
from factory.load.layout import Project

IMAGE = '    image: "busybox:1"\n'
PARAMS = "params:\n  regions: {type: list, default: [eu, us]}\n"


def _project(tmp_path: Path, body: str) -> Project:
    files = {"_defaults.yaml": "owner: o\nstart_date: 2024-01-01\n", "job.yaml": f"description: d\n{body}"}
    return spec_project(tmp_path, files)


def _errors(tmp_path: Path, body: str) -> list[str]:
    return [f"{d.line}:{d.column}: {d.message}" for d in lint_paths([_project(tmp_path, body).specs_dir]).errors]


def test_a_fan_out_over_values_or_a_list_parameter_lints_clean(tmp_path: Path) -> None:
    body = (
        f"{PARAMS}tasks:\n  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: [x, y], at_once: 1}}\n"
        f"  b:\n{IMAGE}    command: [run, '{{{{ item }}}}']\n    for_each: {{param: regions}}\n"
    )
    assert _errors(tmp_path, body) == []


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        # The schema.
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{}}\n",
         ["9:15: 'for_each' of task 'a' needs exactly one of values, param: it has none"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: [x], param: regions}}\n",
         ["9:15: 'for_each' of task 'a' needs exactly one of values, param: it has values and param"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: []}}\n",
         ["9:24: 'for_each.values' of task 'a' must not be empty"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: [x, x]}}\n",
         ["9:24: 'for_each.values' of task 'a' lists the same value twice"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: [x], at_once: 0}}\n",
         ["9:38: 'for_each.at_once' of task 'a': 0 is less than the minimum of 1"]),
        # What the schema cannot say.
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n",
         ["8:14: 'item' is only set in a task with for_each"]),
        (f"  a:\n{IMAGE}    env: {{R: x}}\n    for_each: {{values: [x, y]}}\n",
         ["9:5: no copy can tell its item: read {{ item }} in command or env"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{param: region}}\n",
         ["9:23: 'region' is not a parameter of this spec"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{param: day}}\n",
         ["9:23: parameter 'day' is of type string, not list"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{param: regions}}\n  a_items:\n{IMAGE}",
         ["10:3: task name 'a_items' is taken by the task that reads a's items"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: [x]}}\n"
         "    wait_for: {s3: 's3://drop/{{ item }}/_SUCCESS', timeout: 1h}\n",
         ["10:20: a wait cannot read {{ item }}: it runs once, before every copy"]),
        (f"  a:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n    for_each: {{values: [x]}}\n    updates: [team.data]\n",
         ["10:5: a for_each task cannot announce data: each copy would, as it succeeds, before the others"]),
    ],
)  # fmt: skip
def test_a_bad_fan_out_is_an_error_at_its_line(tmp_path: Path, tasks: str, expected: list[str]) -> None:
    params = "params:\n  regions: {type: list, default: [eu, us]}\n  day: {type: string, default: x}\n"
    assert _errors(tmp_path, f"{params}tasks:\n{tasks}") == expected


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("{type: list, default: eu}", "3:34: default 'eu' is not a list"),
        ("{type: string, default: [eu]}", "3:36: default ['eu'] is not a string"),
        ("{type: list, default: []}", "3:34: 'params.regions.default' must not be empty"),
    ],
)
def test_a_list_parameter_needs_a_list_default(tmp_path: Path, param: str, expected: str) -> None:
    assert _errors(tmp_path, f"params:\n  regions: {param}\ntasks:\n  a:\n{IMAGE}") == [expected]


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_each_runtime_maps_its_operator_over_the_items(tmp_path: Path, runtime: str) -> None:
    body = (
        f"{PARAMS}tasks:\n  fixed:\n{IMAGE}    env: {{R: '{{{{ item }}}}'}}\n"
        "    for_each: {values: [x, y], at_once: 1}\n"
        f"  asked:\n{IMAGE}    command: [run, '{{{{ item }}}}']\n    for_each: {{param: regions}}\n"
        f"  after:\n{IMAGE}    depends_on: [fixed, asked]\n"
    )
    dags, _ = compiled(_project(tmp_path, body), runtime)
    dag = dags["job"]
    operator = "FactoryDockerOperator" if runtime == "onprem" else "FactoryEcsRunTaskOperator"
    fixed, asked = dag.get_task("fixed"), dag.get_task("asked")
    for mapped in (fixed, asked):
        assert type(mapped).__name__ == "MappedOperator" and mapped.operator_class.__name__ == operator
        assert mapped.partial_kwargs["map_index_template"] == "{{ task.fan_out_item }}"
    assert fixed.expand_input.value["fan_out_item"] == ["x", "y"]
    assert fixed.partial_kwargs["max_active_tis_per_dagrun"] == 1
    assert (
        "max_active_tis_per_dagrun" not in asked.partial_kwargs
        or asked.partial_kwargs["max_active_tis_per_dagrun"] is None
    )
    # A list parameter's items come from the task that reads it.
    reader = dag.get_task("asked_items")
    assert asked.expand_input.value["fan_out_item"].operator is reader
    assert reader.upstream_task_ids == set() and "asked_items" in asked.upstream_task_ids
    assert dag.get_task("after").upstream_task_ids == {"fixed", "asked"}
    assert {"fixed", "asked"} <= dag.get_task("verdict").upstream_task_ids


def test_the_items_task_returns_the_runs_list_and_refuses_anything_else() -> None:
    from factory.operators.fan_out import FactoryItemsOperator

    reader = FactoryItemsOperator(task_id="a_items", param="regions", fanned_task="a")
    assert reader.execute({"params": {"regions": ["eu", "us", "eu"]}}) == ["eu", "us"]
    assert reader.execute({"params": {"regions": "apac"}}) == ["apac"]
    for bad in ([], [""], [1], {"eu": 1}, ["x" * 251], [f"r{i}" for i in range(1025)]):
        with pytest.raises(Exception, match="regions") as refused:
            reader.execute({"params": {"regions": bad}})
        assert type(refused.value).__name__ == "AirflowFailException"  # not retried: the input is wrong


def test_a_copy_renders_its_item_and_the_run_dates() -> None:
    from factory.operators.fan_out import prepare_context

    context = {"run_id": "r", "dag_run": SimpleNamespace(logical_date=None, run_after=None)}
    prepare_context(context, "eu")
    assert context["item"] == "eu"
