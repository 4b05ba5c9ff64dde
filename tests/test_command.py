"""A command written as one string: split like a shell splits words, but never through a
Jinja template, because Airflow renders each argument on its own (factory/model/command.py).

The second half renders every example spec's commands the way each runtime's operator
renders them when the task runs, with the context Airflow's own task runner builds: a
command element that is a cut template (`{{`, `ds`, `}}`) fails there, at night, while
lint said OK. That is how examples/marketing's `--until {{ ds }}` was found (on the MWAA
test bed, tests/mwaa/test_mwaa_deployment.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from task_context import runtime_context

from factory.compile.dag import build_dag
from factory.load.layout import Project
from factory.model.command import split_command
from factory.read import Reader

REPO = Path(__file__).resolve().parents[1]
RUN_AFTER = datetime(2026, 5, 11, 6, 30, tzinfo=UTC)
LOGICAL = datetime(2026, 5, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("fetch --until {{ ds }}", ["fetch", "--until", "{{ ds }}"]),
        ('fetch --since "{{ macros.ds_add(ds, -7) }}"', ["fetch", "--since", "{{ macros.ds_add(ds, -7) }}"]),
        # The template's own quotes are not the shell's.
        (
            "close --period {{ dag_run.conf.get('period', ds[:7]) }}",
            ["close", "--period", "{{ dag_run.conf.get('period', ds[:7]) }}"],
        ),
        ("out/{{ ds }}/part-{{ ti.try_number }}.csv", ["out/{{ ds }}/part-{{ ti.try_number }}.csv"]),
        (
            "run {% if dag_run.conf.get('full') %}--full{% endif %}",
            ["run", "{% if dag_run.conf.get('full') %}--full{% endif %}"],
        ),
        ("say {# a note #} hi", ["say", "{# a note #}", "hi"]),
        # The shell's own rules, where no template is involved.
        ("""echo 'a b' "c d" e\\ f""", ["echo", "a b", "c d", "e f"]),
        ('sh -c "echo \\"{{ ds }}\\""', ["sh", "-c", 'echo "{{ ds }}"']),
    ],
)
def test_a_command_string_splits_into_words_without_cutting_a_template(text: str, words: list[str]) -> None:
    assert split_command(text) == words


def test_an_unclosed_quote_is_still_an_error() -> None:
    with pytest.raises(ValueError, match="No closing quotation"):
        split_command("echo 'never closed {{ ds }}")


def _rendered_commands(runtime: str) -> dict[tuple[str, str], list[str]]:
    project = Project.at(REPO)
    reader = Reader(project)
    platform = reader.read_platform()
    found = {}
    for path in project.spec_files():
        spec = reader.read_spec(path)
        dag = build_dag(spec, platform, runtime)
        for task in spec.tasks:
            if task.command is None:
                continue
            operator = dag.get_task(task.name)
            item = None
            if task.for_each is not None:  # a fan-out: its first copy, as Airflow unmaps it
                items = task.for_each.values or next(p.default for p in spec.params if p.name == task.for_each.param)
                item = items[0]
                operator = operator.unmap({"fan_out_item": item})
            context = runtime_context(
                operator, run_after=RUN_AFTER, logical_date=LOGICAL, data_interval=(LOGICAL, LOGICAL)
            )
            context["dag_run"].conf = {}
            if item is not None:
                context["item"] = item
            if runtime == "onprem":
                command = operator.render_template(operator.command, context)
            else:
                (override,) = operator.render_template(operator.overrides, context)["containerOverrides"]
                command = override["command"]
            found[(spec.dag_id, task.name)] = command
    return found


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_every_example_command_renders_as_the_analyst_wrote_it_on_each_runtime(runtime: str) -> None:
    commands = _rendered_commands(runtime)
    assert commands, "the examples have commands"
    for where, command in commands.items():
        assert not any(marker in part for part in command for marker in ("{{", "{%", "}}")), (where, command)
    # The string command of the marketing example: one argument per template.
    assert commands[("marketing.campaign_attribution", "fetch_ads")] == [
        "fetch",
        "--since",
        "2026-05-04",
        "--until",
        "2026-05-11",
    ]
    assert commands[("finance.monthly_close", "close_ledger")] == ["ledger", "close", "--period", "2026-05"]
