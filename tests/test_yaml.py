"""The position-keeping YAML loader reads plain YAML exactly as PyYAML's safe loader does."""

from __future__ import annotations

import pytest
import yaml

from factory.load.yaml import parse

SAMPLES = [
    "a: 1\nb: -2\nc: 0x1F\nd: 1.5\ne: .inf\nf: 1e5\n",
    "a: yes\nb: No\nc: true\nd: ~\ne: null\nf: ''\ng: '1'\n",
    "cmd: [python, run.py, --date, '{{ ds }}', 7, 2.5]\nenv: {A: b, C: 'd: e'}\n",
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "base: &b {x: 1}\nuse: *b\nlist: [&s one, *s]\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_values_match_pyyaml_safe_load(text: str) -> None:
    assert parse("f.yaml", text).data == yaml.safe_load(text)


def test_dates_stay_as_written_for_the_schema_to_check() -> None:
    assert parse("f.yaml", "start_date: 2024-01-01\n").data == {"start_date": "2024-01-01"}


def test_every_key_and_value_keeps_its_position() -> None:
    doc = parse("f.yaml", "tasks:\n  load:\n    image: img:1\n    depends_on: [a, b]\n")
    assert doc.key_marks[("tasks", "load", "image")] == (3, 5)
    assert doc.value_marks[("tasks", "load", "image")] == (3, 12)
    assert doc.value_marks[("tasks", "load", "depends_on", 1)] == (4, 21)
    # A path that does not exist points at its nearest ancestor.
    assert doc.mark(("tasks", "load", "missing")) == doc.value_marks[("tasks", "load")]
