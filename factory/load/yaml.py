"""Safe YAML with source positions.

The authoritative reader builds the data from libyaml's event stream. Why events and
not `yaml.load`: the C composer recurses once per nesting level and crashes the
interpreter on a deeply nested file (a segfault takes every DAG of the loader with
it), and `load` throws away where each value came from. Building the tree here,
iteratively, lets us bound depth, size and alias expansion (YAML bombs), reject
duplicate keys and any explicit tag that is not plain data, and keep the line and
column of every key and value for error messages.

That costs a Python step per event, and the loader reads every spec every 30
seconds, so ordinary files take a fast path first: libyaml composes the node tree in
C (only when the file cannot nest deeply enough to hurt it) and a plain loop turns
it into data. Anything unusual there (an alias, a tag, a duplicate key, a syntax
error) sends the file down the authoritative path, which decides and explains.
Positions are only needed for errors, so a fast-path document finds them on demand.
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
    _value_marks: dict[Path_, Mark] | None = field(default=None, repr=False)
    _key_marks: dict[Path_, Mark] | None = field(default=None, repr=False)

    def _positions(self) -> None:
        if self._value_marks is None:
            # Parsed on the fast path: read it again, the slow way, for positions.
            self._value_marks, self._key_marks = {}, {}
            _build(self.path, self.text, self)

    @property
    def value_marks(self) -> dict[Path_, Mark]:
        self._positions()
        return self._value_marks  # type: ignore[return-value]

    @property
    def key_marks(self) -> dict[Path_, Mark]:
        self._positions()
        return self._key_marks  # type: ignore[return-value]

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
    if text.count("[") + text.count("{") < _FAST_MAX_FLOW:
        try:
            return Document(path=path, data=_fast_build(text), text=text)
        except (_Unusual, yaml.YAMLError):
            pass  # the authoritative path below decides, and explains any error
    doc = Document(path=path, data=None, text=text, _value_marks={}, _key_marks={})
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
            doc._value_marks[()] = start
            return
        top = stack[-1]
        container = top[0]
        if isinstance(container, list):
            item_path = (*top[1], len(container))
            container.append(value)
            doc._value_marks[item_path] = start
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
        doc._value_marks[item_path] = start
        doc._key_marks[item_path] = top[4]
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


# Flow collections are the only way to nest deeply in a small file (block nesting
# needs ever longer indentation: a 1 MiB file cannot go past ~1,400 levels), and the
# C composer was seen to handle 10,000 levels; stay well below.
_FAST_MAX_FLOW = 2000
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_KEEP_TEXT = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"}


class _Unusual(Exception):
    """The fast path declines this file; the authoritative path will read it."""


_TAG_OF: dict[str, str] = {}  # plain scalar -> tag; keys and values repeat across specs


class _FastLoader(_Loader):  # type: ignore[misc,valid-type]
    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # The C composer asks Python for each scalar's tag; answer the quick way.
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _TAG_OF.get(value)
            if tag is None:
                tag = _resolve_plain(value)
                if len(_TAG_OF) < 100_000:
                    _TAG_OF[value] = tag
            return tag
        if kind is yaml.MappingNode:
            return _MAP  # what PyYAML answers for a collection when no path resolver is set
        if kind is yaml.SequenceNode:
            return _SEQ
        return super().resolve(kind, value, implicit)

    # No path-based resolvers are registered; skip PyYAML's bookkeeping for them.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def _fast_build(text: str) -> Any:
    loader = _FastLoader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    if root is None:
        return None
    seen: set[int] = set()
    out: list[Any] = [None]
    # (node, depth, container to fill, key or index in it)
    work: list[tuple[Any, int, Any, Any]] = [(root, 0, out, 0)]
    while work:
        node, depth, target, slot = work.pop()
        if id(node) in seen or depth > MAX_DEPTH or len(seen) > MAX_NODES:
            raise _Unusual  # an alias, or a limit: the slow path counts and reports
        seen.add(id(node))
        tag = node.tag
        if type(node) is yaml.ScalarNode:
            if tag in _KEEP_TEXT:
                target[slot] = node.value
            elif tag in _SCALAR_BUILDERS:
                target[slot] = _SCALAR_BUILDERS[tag](node)
            else:
                raise _Unusual
        elif tag == _MAP and type(node) is yaml.MappingNode:
            mapping: dict[Any, Any] = {}
            target[slot] = mapping
            for key_node, value_node in node.value:
                if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR or key_node.value in mapping:
                    raise _Unusual  # non-string or duplicate key: explained by the slow path
                mapping[key_node.value] = None
                work.append((value_node, depth + 1, mapping, key_node.value))
        elif tag == _SEQ and type(node) is yaml.SequenceNode:
            items: list[Any] = [None] * len(node.value)
            target[slot] = items
            work.extend((child, depth + 1, items, i) for i, child in enumerate(node.value))
        else:
            raise _Unusual
    return out[0]


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
