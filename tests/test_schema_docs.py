"""The spec reference in docs/ is generated from the schemas and kept up to date."""

from __future__ import annotations

from pathlib import Path

from factory.schema_docs import render

REPO = Path(__file__).resolve().parents[1]


def test_reference_matches_the_schemas() -> None:
    expected = render(REPO / "schemas") + "\n"
    actual = (REPO / "docs" / "spec-reference.md").read_text()
    fix = "factory schema-docs --output docs/spec-reference.md"
    assert actual == expected, f"docs/spec-reference.md is stale: run `{fix}`"


def test_reference_documents_every_task_key() -> None:
    text = render(REPO / "schemas")
    for key in ("image", "command", "env", "secrets", "cpu", "memory", "depends_on", "onprem.docker_conn_id"):
        assert f"`tasks.<name>.{key}`" in text
