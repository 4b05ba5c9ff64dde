"""Safe YAML with source positions, built from libyaml's event stream.

Why events and not `yaml.load`: the C composer recurses once per nesting level and
crashes the interpreter on a deeply nested file (a segfault takes every DAG of the
loader with it), and `load` throws away where each value came from. Building the
tree here, iteratively, lets us bound depth, size and alias expansion (YAML bombs),
reject duplicate keys and any explicit tag that is not plain data, and keep the
line and column of every key and value for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from factory.diagnostics import Diagnostic, SpecError

try:  # libyaml makes the event stream about ten times faster; fall back if absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - every supported platform ships libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 1024 * 1024  # a spec is a few hundred bytes; a megabyte is a mistake
MAX_DEPTH = 32
MAX_NODES = 50_000  # counted after alias expansion, so a "billion laughs" stops early

Path_ = tuple[str | int, ...]
Mark = tuple[int, int]  # 1-based line, 1-based column

# Tags a spec may spell out explicitly; anything else (!!python/object, !Ref, ...) is
# refused. Dates are kept as the text the user wrote so the schema can check the format.
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()
_SCALAR_BUILDERS = {
    "tag:yaml.org,2002:int": _constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _constructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": _constructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": _constructor.construct_yaml_null,
}


@dataclass
class Document:
    """A parsed file: its data, and where every key and value sits in the source."""

    path: str
    data: Any
    text: str
    value_marks: dict[Path_, Mark] = field(default_factory=dict)
    key_marks: dict[Path_, Mark] = field(default_factory=dict)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """The position of `path`, or of its nearest ancestor that has one."""
        marks = self.key_marks if key else self.value_marks
        while path:
            if path in marks:
                return marks[path]
            if key and path in self.value_marks:
                return self.value_marks[path]
            path = path[:-1]
        return self.value_marks.get((), (1, 1))

    def error(self, path: Path_, message: str, *, key: bool = False, rule: str = "", hint: str = "") -> Diagnostic:
        line, column = self.mark(path, key=key)
        return Diagnostic(self.path, line, column, message, rule, hint)


def _char_at(text: str, mark: Any) -> str:
    lines = text.splitlines()
    if mark.line < len(lines) and mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


def _show_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _mark(m: Any) -> Mark:
    return (m.line + 1, m.column + 1)


def _fail(path: str, mark: Mark | None, message: str, hint: str = "") -> SpecError:
    line, column = mark or (0, 0)
    return SpecError([Diagnostic(path, line, column, message, "yaml", hint)])


def decode(path: str, raw: bytes) -> str:
    """Bytes to text, refusing what is not a UTF-8 text file."""
    if len(raw) > MAX_BYTES:
        raise _fail(path, None, f"file is {len(raw):,} bytes; a spec may be at most {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _fail(
            path, (line, column), f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _fail(path, (line, 1), "binary file (contains NUL bytes); a spec is YAML text")
    return text


def parse(path: str, text: str) -> Document:
    """Parse one YAML document into plain dicts, lists and scalars, with positions."""
    doc = Document(path=path, data=None, text=text)
    try:
        doc.data = _build(path, text, doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "indent with spaces: YAML does not allow tabs" if mark and _char_at(text, mark) == "\t" else ""
        raise _fail(path, _mark(mark) if mark else None, f"invalid YAML: {problem}", hint) from None
    except yaml.YAMLError as exc:
        raise _fail(path, None, f"invalid YAML: {exc}") from None
    return doc


def read_bytes(path: str, name: str | None = None) -> bytes:
    """A file's bytes (at most one past the size limit); a SpecError naming it if unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _fail(name or path, None, f"cannot read file: {exc.strerror}") from None


def load_file(path: str, name: str | None = None) -> Document:
    """Read, decode and parse a file; any problem becomes a SpecError naming it `name`."""
    name = name or path
    return parse(name, decode(name, read_bytes(path, name)))


def _build(path: str, text: str, doc: Document) -> Any:
    """Turn libyaml events into data; every limit is checked as we go."""
    # Each open collection on the stack: [container, path, pending_key, anchor, key_mark, seen_keys]
    stack: list[list[Any]] = []
    anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, node count)
    nodes = 0
    root: Any = None
    documents = 0

    def attach(value: Any, start: Mark, size: int) -> None:
        nonlocal root, nodes
        nodes += size
        if nodes > MAX_NODES:
            raise _fail(path, start, f"document is too large: more than {MAX_NODES:,} values (an alias bomb?)")
        if not stack:
            root = value
            doc.value_marks[()] = start
            return
        top = stack[-1]
        container = top[0]
        if isinstance(container, list):
            item_path = (*top[1], len(container))
            container.append(value)
            doc.value_marks[item_path] = start
            return
        if top[2] is _NO_KEY:  # this value is a key
            if isinstance(value, (dict, list)):
                raise _fail(path, start, "a mapping key must be a plain value, not a list or mapping")
            key = value if isinstance(value, str) else _key_text(value)
            if key in top[5]:
                first = top[5][key]
                raise _fail(path, start, f"duplicate key '{key}' (first defined at line {first[0]})")
            top[5][key] = start
            top[2] = key
            top[4] = start
            return
        key = top[2]
        item_path = (*top[1], key)
        container[key] = value
        doc.value_marks[item_path] = start
        doc.key_marks[item_path] = top[4]
        top[2] = _NO_KEY

    def current_path() -> Path_:
        if not stack:
            return ()
        top = stack[-1]
        if isinstance(top[0], list):
            return (*top[1], len(top[0]))
        return (*top[1], top[2])

    for event in _events(text):
        kind = type(event)
        if kind is yaml.ScalarEvent:
            start = _mark(event.start_mark)
            value = _scalar(path, event, start)
            if event.anchor:
                anchors[event.anchor] = (value, 1)
            attach(value, start, 1)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            start = _mark(event.start_mark)
            if event.tag and event.tag not in _PLAIN_TAGS and event.tag != "!":
                raise _fail(path, start, f"tag '{_show_tag(event.tag)}' is not allowed: a spec holds plain data only")
            if len(stack) >= MAX_DEPTH:
                raise _fail(path, start, f"nesting deeper than {MAX_DEPTH} levels")
            if stack and not isinstance(stack[-1][0], list) and stack[-1][2] is _NO_KEY:
                raise _fail(path, start, "a mapping key must be a plain value, not a list or mapping")
            container: Any = {} if kind is yaml.MappingStartEvent else []
            stack.append([container, current_path(), _NO_KEY, event.anchor, None, {}, start, nodes])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            container, _, _, anchor, _, _, start, nodes_before = stack.pop()
            if anchor:
                anchors[anchor] = (container, nodes - nodes_before + 1)
            attach(container, start, 1)
        elif kind is yaml.AliasEvent:
            start = _mark(event.start_mark)
            if event.anchor not in anchors:
                raise _fail(path, start, f"alias '*{event.anchor}' refers to no anchor defined before it")
            value, size = anchors[event.anchor]
            # Aliases share the anchored object; the model never mutates data, so
            # sharing is safe, and counting its size stops exponential expansion.
            attach(value, start, size)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _fail(path, _mark(event.start_mark), "more than one YAML document ('---'); a spec file holds one")
    return root


def _events(text: str) -> Any:
    """libyaml's events, pulled straight from the C parser (yaml.parse adds a Python layer)."""
    parser = _Loader(text)
    try:
        while True:
            event = parser.get_event()
            if event is None or type(event) is yaml.StreamEndEvent:
                return
            yield event
    finally:
        parser.dispose()


class _NoKey:
    __slots__ = ()


_NO_KEY: Any = _NoKey()


def _key_text(value: Any) -> str:
    # YAML turns `on:` into True and `1:` into 1; spec keys are names, so use the text.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


_IMPLICIT = _resolver.yaml_implicit_resolvers
_STR = "tag:yaml.org,2002:str"


def _resolve_plain(value: str) -> str:
    """The tag of an unquoted scalar, as PyYAML's resolver decides it, minus its overhead:
    most values (names, images, commands) start with a letter no implicit type can have."""
    for tag, regexp in _IMPLICIT.get(value[:1] or "", ()):
        if regexp.match(value):
            return tag
    return _STR


def _scalar(path: str, event: Any, start: Mark) -> Any:
    value = event.value
    tag = event.tag
    if tag is None or tag == "!":
        # Quoted scalars are always strings; plain ones are resolved like PyYAML does.
        tag = _resolve_plain(value) if event.implicit[0] else _STR
    elif tag not in _PLAIN_TAGS:
        raise _fail(path, start, f"tag '{_show_tag(tag)}' is not allowed: a spec holds plain data only")
    if tag == "tag:yaml.org,2002:str" or tag == "tag:yaml.org,2002:timestamp":
        return value
    builder = _SCALAR_BUILDERS.get(tag)
    if builder is None:
        raise _fail(path, start, f"tag '{tag}' is not allowed for a plain value")
    try:
        return builder(yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style))
    except (ValueError, yaml.constructor.ConstructorError):
        raise _fail(path, start, f"'{value}' is not a valid {tag.rsplit(':', 1)[-1]}") from None
