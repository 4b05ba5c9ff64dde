"""A yes/no JSON Schema checker, compiled once per process into plain closures.

jsonschema explains errors well but costs about a millisecond per spec (and ~100 ms
to import); parsing a thousand specs every 30 seconds cannot afford that. Valid
files, the norm, are settled here in microseconds; only a file this checker rejects
goes through jsonschema, which then reports every error with its message. The
checker supports exactly the keywords our schemas use and refuses to compile any
other, so a schema edit cannot silently weaken validation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"$schema", "$id", "title", "description", "examples", "$defs", "$comment", "default"}


def _is_integer(v: Any) -> bool:
    return (type(v) is int) or (type(v) is float and v.is_integer())


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": lambda v: type(v) in (int, float),
}


class UnsupportedSchema(ValueError):
    pass


class Compiler:
    """Compiles schemas that may refer to each other by `$id`-relative `$ref`s."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents  # file name -> schema
        self._refs: dict[tuple[str, str], Check] = {}

    def compile(self, name: str) -> Check:
        return self._compile(self.documents[name], name)

    def _ref(self, ref: str, base: str) -> Check:
        file, _, pointer = ref.partition("#")
        file = file or base
        key = (file, pointer)
        if key not in self._refs:
            target: Any = self.documents[file]
            for part in [p for p in pointer.split("/") if p]:
                target = target[part]
            self._refs[key] = lambda v: False  # placeholder breaks reference cycles
            compiled = self._compile(target, file)
            self._refs[key] = compiled
        return lambda v, key=key: self._refs[key](v)

    def _compile(self, schema: dict[str, Any], base: str) -> Check:
        checks: list[Check] = []
        unknown = set(schema) - _ANNOTATIONS - _KEYWORDS.keys()
        if unknown:
            raise UnsupportedSchema(f"keywords not supported by the fast checker: {sorted(unknown)}")
        for keyword in _KEYWORDS:
            if keyword in schema:
                checks.append(_KEYWORDS[keyword](self, schema, base))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)


def _type(c: Compiler, s: dict[str, Any], base: str) -> Check:
    names = s["type"] if isinstance(s["type"], list) else [s["type"]]
    tests = [_TYPES[n] for n in names]
    return lambda v: any(t(v) for t in tests)


def _strings(check: Callable[[str], bool]) -> Check:
    return lambda v: type(v) is not str or check(v)


def _numbers(check: Callable[[float], bool]) -> Check:
    return lambda v: type(v) not in (int, float) or check(v)


def _objects(check: Callable[[dict[str, Any]], bool]) -> Check:
    return lambda v: type(v) is not dict or check(v)


def _arrays(check: Callable[[list[Any]], bool]) -> Check:
    return lambda v: type(v) is not list or check(v)


def _properties(c: Compiler, s: dict[str, Any], base: str) -> Check:
    props = {k: c._compile(sub, base) for k, sub in s["properties"].items()}
    return _objects(lambda v: all(props[k](v[k]) for k in props.keys() & v.keys()))


def _additional(c: Compiler, s: dict[str, Any], base: str) -> Check:
    known = set(s.get("properties", {}))
    extra = s["additionalProperties"]
    if extra is False:
        return _objects(lambda v: known.issuperset(v))
    if extra is True:
        return lambda v: True
    sub = c._compile(extra, base)
    return _objects(lambda v: all(sub(x) for k, x in v.items() if k not in known))


def _unique(v: list[Any]) -> bool:
    seen = {json.dumps([type(x).__name__ if isinstance(x, bool) else "", x], sort_keys=True) for x in v}
    return len(seen) == len(v)


def _one_of(c: Compiler, s: dict[str, Any], base: str) -> Check:
    subs = [c._compile(x, base) for x in s["oneOf"]]
    return lambda v: sum(1 for sub in subs if sub(v)) == 1


def _any_of(c: Compiler, s: dict[str, Any], base: str) -> Check:
    subs = [c._compile(x, base) for x in s["anyOf"]]
    return lambda v: any(sub(v) for sub in subs)


def _items(c: Compiler, s: dict[str, Any], base: str) -> Check:
    sub = c._compile(s["items"], base)
    return _arrays(lambda v: all(sub(x) for x in v))


def _property_names(c: Compiler, s: dict[str, Any], base: str) -> Check:
    sub = c._compile(s["propertyNames"], base)
    return _objects(lambda v: all(sub(k) for k in v))


def _pattern(c: Compiler, s: dict[str, Any], base: str) -> Check:
    search = re.compile(s["pattern"]).search
    return _strings(lambda v: search(v) is not None)


def _enum(c: Compiler, s: dict[str, Any], base: str) -> Check:
    options = s["enum"]
    return lambda v: any(type(v) is type(o) and v == o for o in options)


_KEYWORDS: dict[str, Callable[[Compiler, dict[str, Any], str], Check]] = {
    "type": _type,
    "$ref": lambda c, s, base: c._ref(s["$ref"], base),
    "properties": _properties,
    "additionalProperties": _additional,
    "required": lambda c, s, base: _objects(lambda v, r=tuple(s["required"]): all(k in v for k in r)),
    "propertyNames": _property_names,
    "minProperties": lambda c, s, base: _objects(lambda v, n=s["minProperties"]: len(v) >= n),
    "maxProperties": lambda c, s, base: _objects(lambda v, n=s["maxProperties"]: len(v) <= n),
    "items": _items,
    "minItems": lambda c, s, base: _arrays(lambda v, n=s["minItems"]: len(v) >= n),
    "maxItems": lambda c, s, base: _arrays(lambda v, n=s["maxItems"]: len(v) <= n),
    "uniqueItems": lambda c, s, base: _arrays(_unique) if s["uniqueItems"] else (lambda v: True),
    "minLength": lambda c, s, base: _strings(lambda v, n=s["minLength"]: len(v) >= n),
    "maxLength": lambda c, s, base: _strings(lambda v, n=s["maxLength"]: len(v) <= n),
    "pattern": _pattern,
    "enum": _enum,
    "minimum": lambda c, s, base: _numbers(lambda v, n=s["minimum"]: v >= n),
    "maximum": lambda c, s, base: _numbers(lambda v, n=s["maximum"]: v <= n),
    "exclusiveMinimum": lambda c, s, base: _numbers(lambda v, n=s["exclusiveMinimum"]: v > n),
    "oneOf": _one_of,
    "anyOf": _any_of,
}
