"""A yes/no JSON Schema checker, compiled once per process into Python source.

jsonschema explains errors well but costs about a millisecond per spec (and ~100 ms
to import); parsing a thousand specs every 30 seconds cannot afford that. Valid
files, the norm, are settled here in microseconds: each subschema becomes one plain
Python function of straight-line checks, generated from the schema and compiled
with `compile()`. Only a file this checker rejects goes through jsonschema, which
then reports every error with its message. The generator supports exactly the
keywords our schemas use and refuses any other, so a schema edit cannot silently
weaken validation; a differential test holds it to jsonschema's verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"$schema", "$id", "title", "description", "examples", "$defs", "$comment", "default"}
_SUPPORTED = {
    "type", "$ref", "properties", "additionalProperties", "required", "propertyNames", "minProperties",
    "maxProperties", "items", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
    "enum", "minimum", "maximum", "exclusiveMinimum", "oneOf", "anyOf",
}  # fmt: skip

# JSON Schema's types, as Python type tests on what the YAML reader produces.
_TYPE_TESTS = {
    "object": "type(v) is dict",
    "array": "type(v) is list",
    "string": "type(v) is str",
    "boolean": "type(v) is bool",
    "null": "v is None",
    # 1.0 is an integer in JSON Schema; True is not (type() tells bool from int).
    "integer": "(type(v) is int or (type(v) is float and v.is_integer()))",
    "number": "type(v) in (int, float)",
}


class UnsupportedSchema(ValueError):
    pass


def _unique(items: list[Any]) -> bool:
    """uniqueItems, with JSON's equality: 1 and True differ, 1 and 1.0 do not."""
    seen: list[Any] = []
    for item in items:
        key = (type(item) is bool, item)
        if key in seen:
            return False
        seen.append(key)
    return True


class Compiler:
    """Generates one function per subschema; `$ref`s between files resolve by file name."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents  # file name -> schema
        self._source: list[str] = []
        self._constants: dict[str, Any] = {"_unique": _unique}
        self._names: dict[tuple[str, str], str] = {}  # (file, pointer) -> function name
        self._pending: list[tuple[str, dict[str, Any], str]] = []

    def compile(self, name: str) -> Check:
        entry = self._function(name, "", self.documents[name])
        while self._pending:
            function, schema, base = self._pending.pop()
            self._emit(function, schema, base)
        namespace = dict(self._constants)
        # Source we generated from our own schema files, never from a spec.
        exec(compile("\n".join(self._source), f"<schema {name}>", "exec"), namespace)
        return namespace[entry]

    def _function(self, file: str, pointer: str, schema: dict[str, Any]) -> str:
        """The name of the function checking `schema` (generated later, once per schema)."""
        key = (file, pointer or f"@{id(schema)}")
        if key not in self._names:
            self._names[key] = f"_check_{len(self._names)}"
            self._pending.append((self._names[key], schema, file))
        return self._names[key]

    def _const(self, value: Any) -> str:
        name = f"_c{len(self._constants)}"
        self._constants[name] = value
        return name

    def _ref(self, ref: str, base: str) -> str:
        file, _, pointer = ref.partition("#")
        file = file or base
        target: Any = self.documents[file]
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        return self._function(file, pointer, target)

    def _sub(self, schema: dict[str, Any], base: str) -> str:
        return self._function(base, "", schema)

    def _emit(self, function: str, s: dict[str, Any], base: str) -> None:
        unknown = set(s) - _ANNOTATIONS - _SUPPORTED
        if unknown:
            raise UnsupportedSchema(f"keywords not supported by the fast checker: {sorted(unknown)}")
        body: list[str] = []
        fail = "return False"
        if "type" in s:
            names = s["type"] if isinstance(s["type"], list) else [s["type"]]
            body.append(f"if not ({' or '.join(_TYPE_TESTS[n] for n in names)}): {fail}")
        if "$ref" in s:
            body.append(f"if not {self._ref(s['$ref'], base)}(v): {fail}")
        if "enum" in s:
            options = self._const([(type(o), o) for o in s["enum"]])
            body.append(f"if (type(v), v) not in {options}: {fail}")
        for keyword, combine in (("anyOf", "any"), ("oneOf", "one")):
            if keyword in s:
                checks = ", ".join(self._sub(sub, base) for sub in s[keyword])
                count = f"sum(1 for f in ({checks},) if f(v))"
                test = f"{count} == 1" if combine == "one" else f"any(f(v) for f in ({checks},))"
                body.append(f"if not ({test}): {fail}")
        strings = []
        if "minLength" in s:
            strings.append(f"if len(v) < {s['minLength']}: {fail}")
        if "maxLength" in s:
            strings.append(f"if len(v) > {s['maxLength']}: {fail}")
        if "pattern" in s:
            strings.append(f"if {self._const(re.compile(s['pattern']).search)}(v) is None: {fail}")
        numbers = []
        for keyword, op in (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<=")):
            if keyword in s:
                numbers.append(f"if v {op} {s[keyword]!r}: {fail}")
        objects = []
        if "required" in s:
            objects.append(f"for k in {tuple(s['required'])!r}:\n    if k not in v: {fail}")
        if "minProperties" in s:
            objects.append(f"if len(v) < {s['minProperties']}: {fail}")
        if "maxProperties" in s:
            objects.append(f"if len(v) > {s['maxProperties']}: {fail}")
        props = s.get("properties", {})
        for key, sub in props.items():
            objects.append(f"if {key!r} in v and not {self._sub(sub, base)}(v[{key!r}]): {fail}")
        extra = s.get("additionalProperties", True)
        if extra is False:
            objects.append(f"for k in v:\n    if k not in {self._const(frozenset(props))}: {fail}")
        elif isinstance(extra, dict):
            check, known = self._sub(extra, base), self._const(frozenset(props))
            objects.append(f"for k, x in v.items():\n    if k not in {known} and not {check}(x): {fail}")
        if "propertyNames" in s:
            objects.append(f"for k in v:\n    if not {self._sub(s['propertyNames'], base)}(k): {fail}")
        arrays = []
        if "minItems" in s:
            arrays.append(f"if len(v) < {s['minItems']}: {fail}")
        if "maxItems" in s:
            arrays.append(f"if len(v) > {s['maxItems']}: {fail}")
        if "items" in s:
            arrays.append(f"for x in v:\n    if not {self._sub(s['items'], base)}(x): {fail}")
        if s.get("uniqueItems"):
            arrays.append(f"if not _unique(v): {fail}")
        # Keywords of one type apply only to values of that type, as JSON Schema says.
        for guard, lines in (
            ("type(v) is str", strings),
            ("type(v) in (int, float)", numbers),
            ("type(v) is dict", objects),
            ("type(v) is list", arrays),
        ):
            if lines:
                body.append(f"if {guard}:")
                body.extend("    " + line for text in lines for line in text.split("\n"))
        body.append("return True")
        self._source.append(f"def {function}(v):")
        self._source.extend("    " + line for line in body)
