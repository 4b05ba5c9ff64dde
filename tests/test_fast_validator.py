"""The fast yes/no checker must agree with jsonschema on every document.

If it ever said "valid" where jsonschema says "invalid", a broken spec would slip
through, so this is a differential test over systematic mutations of real specs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factory.load.yaml import load_file
from factory.validate.schema import fast_check, validator

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = str(REPO / "schemas")
CANDIDATES: list[Any] = [
    None, True, False, 0, -1, 7, 1.5, 0.0, 17, 100000, "", "x", "two words", "512MiB", "1GB", "5m", "1h30m",
    "0 3 * * *", "@daily", "@sometimes", "2024-01-01", "/prod/x", "FARGATE", "busybox:1", "bad image",
    [], ["a"], ["a", "a"], [1], [{}], {}, {"a": 1}, {"A": "b"}, {"bad-name": "x"}, {"capacity_provider": "X"},
]  # fmt: skip


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    new = copy.deepcopy(doc)
    target = new
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return new


def _mutations(doc: dict[str, Any]) -> Iterator[Any]:
    for path in _paths(doc):
        for value in CANDIDATES:
            yield _replace(doc, path, value)
        parent = doc
        for part in path:
            parent = parent[part]
        if isinstance(parent, dict):
            yield _replace(doc, path, {**parent, "unknown_key": 1})
            for key in parent:
                yield _replace(doc, path, {k: v for k, v in parent.items() if k != key})


def _documents(kind: str) -> list[Path]:
    specs = REPO / "specs"
    if kind == "platform":
        return [specs / "_platform.yaml"]
    if kind == "defaults":
        return sorted(specs.rglob("_defaults.yaml"))
    return sorted(p for p in specs.rglob("*.yaml") if not p.name.startswith("_"))


@pytest.mark.parametrize("kind", ["spec", "defaults", "platform"])
def test_fast_checker_agrees_with_jsonschema_on_mutations(kind: str) -> None:
    fast, slow = fast_check(SCHEMAS, kind), validator(SCHEMAS, kind)
    checked = 0
    for path in _documents(kind):
        base = load_file(str(path)).data
        assert fast(base) and slow.is_valid(base), path
        for mutant in _mutations(base):
            assert fast(mutant) == slow.is_valid(mutant), (path.name, mutant)
            checked += 1
    assert checked > 200


def test_fast_checker_refuses_keywords_it_does_not_implement() -> None:
    from factory.validate.fast import Compiler, UnsupportedSchema

    with pytest.raises(UnsupportedSchema, match="patternProperties"):
        Compiler({"s.json": {"type": "object", "patternProperties": {"^x": {}}}}).compile("s.json")
