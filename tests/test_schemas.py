"""The schemas are valid 2020-12, strict, and documented for editors on every property."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

SCHEMAS = sorted((Path(__file__).resolve().parents[1] / "schemas").glob("*.schema.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return {**_resolve(schema, schema["$defs"][ref.split("/")[-1]]), **node}
    if ref.startswith("spec.schema.json#/$defs/"):
        spec = _load(SCHEMAS[0].parent / "spec.schema.json")
        return {**_resolve(spec, spec["$defs"][ref.split("/")[-1]]), **node}
    return node


def _objects(node: Any, where: str = "#"):
    """Every subschema that declares properties, anywhere in the document."""
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_passes_the_metaschema(path: Path) -> None:
    Draft202012Validator.check_schema(_load(path))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_object_is_strict_and_every_property_documented(path: Path) -> None:
    schema = _load(path)
    objects = list(_objects(schema))
    assert objects
    for where, node in objects:
        assert node.get("additionalProperties") is False, f"{where} allows unknown keys"
        for name, prop in node["properties"].items():
            resolved = _resolve(schema, prop)
            assert resolved.get("description"), f"{where}/properties/{name} has no description"
            assert resolved.get("examples"), f"{where}/properties/{name} has no examples"


def test_the_examples_in_the_spec_schema_are_themselves_valid() -> None:
    """Editors offer these examples; one that fails validation would teach a mistake."""
    schema = _load(SCHEMAS[0].parent / "spec.schema.json")
    for name, definition in schema["$defs"].items():
        if "examples" not in definition or name in ("task",):
            continue
        sub = {**definition, "$defs": schema["$defs"]}
        for example in definition["examples"]:
            assert Draft202012Validator(sub).is_valid(example), f"$defs/{name}: {example!r}"
