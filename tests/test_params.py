"""Run parameters (factory/validate/params.py, factory/compile/params.py): declarations and
references checked with their positions, and Airflow Params on both runtimes. Runs
with params on the real deployment: tests/deployment/test_runs.py (testbed.params)."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_projects import compiled, spec_project

from factory.lint import lint_paths
from factory.load.layout import Project


def _project(tmp_path: Path, params: str, command: str = "[run]") -> Project:
    body = f"description: d\nowner: o\nstart_date: 2024-01-01\nparams:\n{params}tasks:\n  a:\n"
    return spec_project(tmp_path, {"s.yaml": body + f'    image: "busybox:1"\n    command: {command}\n'})


def _errors(tmp_path: Path, params: str, command: str = "[run]") -> list[str]:
    found = lint_paths([_project(tmp_path, params, command).specs_dir]).errors
    return [f"{d.line}:{d.column}: {d.message}" + (f" | {d.hint}" if d.hint else "") for d in found]


REGION = "  region: {type: enum, values: [eu, us], default: eu}\n"


@pytest.mark.parametrize(
    ("params", "command", "expected"),
    [
        (
            REGION,
            '[run, "{{ params.regoin }}"]',
            "9:20: 'params.regoin' is not a parameter of this spec | did you mean 'region'?",
        ),
        (
            REGION,
            "[run, \"{{ params['zone'] }}\"]",
            "9:20: 'params.zone' is not a parameter of this spec | declare it",
        ),
        (
            "  region: {type: enum, values: [eu, us], default: fr}\n",
            "[run]",
            "5:51: default 'fr' is not one of the values",
        ),
        ("  region: {type: enum, default: eu}\n", "[run]", "5:3: parameter 'region' is an enum without values"),
        (
            "  day: {type: date, default: '2024-02-30'}\n",
            "[run]",
            "5:30: default '2024-02-30' is not a date (YYYY-MM-DD)",
        ),
        ("  n: {type: integer, default: true}\n", "[run]", "5:31: default True is not an integer"),
        ("  n: {type: number, default: '1'}\n", "[run]", "5:30: default '1' is not a number"),
        ("  n: {type: string, default: a, values: [a]}\n", "[run]", "5:33: values only apply to type: enum"),
        ("  n: {type: string}\n", "[run]", "5:6: 'params.n' is missing the required key 'default'"),
        ("  n: {type: dict, default: a}\n", "[run]", "5:13: 'params.n.type': 'dict' is not one of string, integer"),
    ],
)
def test_a_bad_parameter_or_reference_is_an_error_at_its_line(
    tmp_path: Path, params: str, command: str, expected: str
) -> None:
    errors = _errors(tmp_path, params, command)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_parameters_are_airflow_params_the_trigger_form_shows(tmp_path: Path, runtime: str) -> None:
    params = (
        "  region: {type: enum, values: [eu, us], default: eu, description: Which region}\n"
        "  since: {type: date, default: '2024-01-01'}\n"
        "  limit: {type: integer, default: 10}\n"
        "  dry: {type: boolean, default: false}\n"
    )
    project = _project(tmp_path, params, '[run, "{{ params.region }}", "{{ params.since }}"]')
    dag = compiled(project, runtime)[0]["s"]
    schemas = {name: dag.params.get_param(name).schema for name in ("region", "since", "limit", "dry")}
    assert schemas == {
        "region": {"type": "string", "enum": ["eu", "us"]},
        "since": {"type": "string", "format": "date"},
        "limit": {"type": "integer"},
        "dry": {"type": "boolean"},
    }
    assert dag.params.get_param("region").description == "Which region"  # beside the field
    # Scheduled runs get the defaults, and each is valid for its own schema.
    assert dag.params.validate() == {"region": "eu", "since": "2024-01-01", "limit": 10, "dry": False}
