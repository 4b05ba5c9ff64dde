"""The spec language reference, generated from the JSON Schemas (their single source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_DOCS = (
    ("spec.schema.json", "Spec files (`specs/**/*.yaml`)"),
    ("defaults.schema.json", "Defaults files (`_defaults.yaml`)"),
    ("platform.schema.json", "The platform file (`specs/_platform.yaml`)"),
)


def _resolve(node: dict[str, Any], documents: dict[str, Any], base: str) -> tuple[dict[str, Any], str]:
    ref = node.get("$ref")
    if not ref:
        return node, base
    file, _, pointer = ref.partition("#")
    file = file or base
    target: Any = documents[file]
    for part in [p for p in pointer.split("/") if p]:
        target = target[part]
    resolved, where = _resolve(target, documents, file)
    return {**resolved, **{k: v for k, v in node.items() if k != "$ref"}}, where


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kinds = node.get("type")
    if kinds is None:
        alternatives = node.get("oneOf") or node.get("anyOf") or []
        return " or ".join(dict.fromkeys(_type(a) for a in alternatives))
    kinds = [kinds] if isinstance(kinds, str) else kinds
    names = {"object": "mapping", "array": "list"}
    return " or ".join(names.get(k, k) for k in kinds)


def _rows(node: dict[str, Any], documents: dict[str, Any], base: str, prefix: str) -> list[str]:
    rows = []
    required = set(node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        prop, where = _resolve(prop, documents, base)
        key = f"{prefix}{name}"
        example = json.dumps(prop["examples"][0]) if prop.get("examples") else ""
        mark = " (required)" if name in required else ""
        description = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{key}`{mark} | {_type(prop)} | {description} | `{example}` |")
        if "properties" in prop:
            rows.extend(_rows(prop, documents, where, f"{key}."))
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            item, item_where = _resolve(extra, documents, where)
            if "properties" in item:
                rows.extend(_rows(item, documents, item_where, f"{key}.<name>."))
        items = prop.get("items")
        if isinstance(items, dict) and "properties" in items:
            rows.extend(_rows(items, documents, where, f"{key}[]."))
    return rows


def render(schema_dir: Path) -> str:
    documents = {f.name: json.loads(f.read_text()) for f in sorted(schema_dir.glob("*.schema.json"))}
    out = [
        "# Spec language reference",
        "",
        "Generated from `schemas/*.schema.json` by `factory schema-docs`; do not edit by hand.",
        "",
    ]
    for file, title in _DOCS:
        schema = documents[file]
        out += [f"## {title}", "", schema["description"], "", "| key | type | meaning | example |", "|---|---|---|---|"]
        out += _rows(schema, documents, file, "")
        out.append("")
    return "\n".join(out)
