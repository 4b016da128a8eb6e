"""The columns of an Arrow export: their kinds, schema inference and ``--schema`` files.

A namespace's columns are inferred from its first row group (docs/export.md
gives the rule) or given by the caller; they are fixed from then on, so every
row group of a file has the same columns.  ``program`` encodes them for the
compiled check (mongoarchive/_arrow_c.c).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from ._bsonwalk import elements
from .errors import UsageError

__all__ = ["DEEP", "EXTRA", "KINDS", "TAKES", "Node", "infer", "parse_schema", "program"]

#: The column holding, per row, the fields that did not fit their column (or null).
EXTRA = "_extra"

#: Column kinds, each a BSON type (or group of types) with one Arrow type (docs/export.md).
KINDS = (
    "int32", "int64", "double", "string", "bool", "objectId", "date", "decimal",
    "binary", "code", "struct", "list", "json", "null",
)  # fmt: skip

# The BSON types a column of each scalar kind takes as they are (null fits every column).
TAKES: dict[str, frozenset[int]] = {
    "int32": frozenset({0x10}),
    "int64": frozenset({0x10, 0x12}),
    "double": frozenset({0x01, 0x10}),  # int32 is exact as a double; int64 is not
    "string": frozenset({0x02}),
    "bool": frozenset({0x08}),
    "objectId": frozenset({0x07}),
    "date": frozenset({0x09}),
    "decimal": frozenset({0x13}),
    "binary": frozenset({0x05}),
    "code": frozenset({0x0D}),
    "struct": frozenset({0x03}),
    "list": frozenset({0x04}),
    "null": frozenset(),
}
_SINGLE = {0x02: "string", 0x08: "bool", 0x07: "objectId", 0x09: "date", 0x13: "decimal", 0x0D: "code"}
DEEP = frozenset({"struct", "list", "binary"})


@dataclasses.dataclass(slots=True)
class Node:
    """The column kind of one field path; ``children`` for a struct, ``item`` for a list."""

    kind: str
    children: dict[bytes, Node] | None = None
    item: Node | None = None
    subtype: int | None = None
    #: The BSON types this column takes by their type byte alone; None when the value must be looked at.
    takes: frozenset[int] | None = dataclasses.field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("double", "binary", "struct", "list", "json", "null"):
            self.takes = TAKES[self.kind]

    def to_json(self) -> Any:
        if self.kind == "struct" and self.children is not None:
            return {"struct": {k.decode("utf-8", "replace"): c.to_json() for k, c in self.children.items()}}
        if self.kind == "list" and self.item is not None:
            return {"list": self.item.to_json()}
        if self.kind == "binary":
            return {"binary": self.subtype}
        return self.kind


# -- inference --------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class _Seen:
    """The BSON types met at one field path."""

    types: set[int] = dataclasses.field(default_factory=set)
    subtypes: set[int] = dataclasses.field(default_factory=set)
    children: dict[bytes, _Seen] = dataclasses.field(default_factory=dict)
    item: _Seen | None = None
    odd_key: bool = False  # a key pymongoarrow's dotted paths cannot carry


def _observe(seen: _Seen, buf: bytes, kind: int, vstart: int, vend: int) -> None:
    seen.types.add(kind)
    if kind == 0x05:
        seen.subtypes.add(buf[vstart + 4])
    elif kind == 0x03:
        dup: set[bytes] = set()
        for k, key, s, e in elements(buf, vstart):
            if b"." in key or b"[" in key or key in dup:
                seen.odd_key = True
            dup.add(key)
            _observe(seen.children.setdefault(key, _Seen()), buf, k, s, e)
    elif kind == 0x04:
        if seen.item is None:
            seen.item = _Seen()
        for k, _, s, e in elements(buf, vstart):
            _observe(seen.item, buf, k, s, e)


def _decide(seen: _Seen, nested: bool) -> Node:
    types = seen.types - {0x0A}
    if not types:
        return Node("null")
    if types == {0x10}:
        return Node("int32")
    if types <= {0x10, 0x12}:
        return Node("int64")
    if 0x01 in types and types <= {0x01, 0x10}:
        return Node("double")
    if len(types) == 1:
        (only,) = types
        if only in _SINGLE:
            return Node(_SINGLE[only])
        if only == 0x05 and len(seen.subtypes) == 1:
            return Node("binary", subtype=next(iter(seen.subtypes)))
        if only == 0x03 and seen.children and not seen.odd_key:
            children = {k: _decide(c, True) for k, c in seen.children.items()}
            if all(c.kind not in ("json", "null") for c in children.values()):
                return Node("struct", children=children)
        if only == 0x04 and seen.item is not None and seen.item.types:
            item = _decide(seen.item, True)
            if item.kind not in ("json", "null"):
                return Node("list", item=item)
    return Node("json")


def infer(docs: Iterable[bytes]) -> dict[bytes, Node]:
    """The columns for ``docs``: top-level keys in order of first appearance, each with its kind.

    Only the types met count, never how often: ``docs`` may be just the first
    document of each shape (``_arrow_scan.shapes``), with the same result.
    """
    top: dict[bytes, _Seen] = {}
    for raw in docs:
        for kind, key, s, e in elements(raw):
            _observe(top.setdefault(key, _Seen()), raw, kind, s, e)
    columns = {}
    for key, seen in top.items():
        if key.decode("utf-8") == EXTRA:
            continue
        # pymongoarrow reads "a.b" and "a[]" as paths into "a": such a name is kept as text.
        odd = b"." in key or b"[" in key
        columns[key] = Node("json") if odd else _decide(seen, False)
    return columns


# -- a schema given by the caller ------------------------------------------------
def _parse_node(spec: Any, where: str, nested: bool = False) -> Node:
    if nested and spec in ("json", "null"):
        raise UsageError(
            f"--schema: {where}: {spec!r} is for top-level fields only",
            hint="make the whole top-level field 'json' instead",
        )
    if isinstance(spec, str):
        if spec not in KINDS or spec in ("struct", "list", "binary"):
            raise UsageError(
                f"--schema: {where}: unknown kind {spec!r}", hint=f"use one of {', '.join(KINDS)}"
            )
        return Node(spec)
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((kind, inner),) = spec.items()
        if kind == "struct" and isinstance(inner, Mapping) and inner:
            children = {k.encode(): _parse_node(v, f"{where}.{k}", True) for k, v in inner.items()}
            return Node("struct", children=children)
        if kind == "list":
            return Node("list", item=_parse_node(inner, f"{where}[]", True))
        if kind == "binary" and isinstance(inner, int) and 0 <= inner <= 255:
            return Node("binary", subtype=inner)
    raise UsageError(
        f"--schema: {where}: expected a kind name, {{'struct': {{...}}}}, {{'list': KIND}} or {{'binary': N}}"
    )


def parse_schema(spec: Mapping[str, Any]) -> dict[bytes, Node]:
    """A namespace's columns from their JSON form (see docs/export.md, "--schema")."""
    if not isinstance(spec, Mapping):
        raise UsageError("--schema: a namespace's schema must be an object of field -> kind")
    for key in spec:
        if "." in key or "[" in key:
            raise UsageError(f"--schema: field {key!r}: '.' and '[' cannot be in a column name")
    return {k.encode(): _parse_node(v, k) for k, v in spec.items() if k != EXTRA}



# -- the program of the compiled check -------------------------------------------
_CODES = {kind: i + 1 for i, kind in enumerate(KINDS)}


def _encode(node: Node, out: bytearray) -> None:
    out.append(_CODES[node.kind])
    if node.kind == "binary":
        out.append(node.subtype or 0)
    elif node.kind == "struct":
        _encode_children(node.children or {}, out)
    elif node.kind == "list":
        assert node.item is not None
        _encode(node.item, out)


def _encode_children(children: Mapping[bytes, Node], out: bytearray) -> None:
    out += struct.pack("<H", len(children))
    for key, child in children.items():
        out += struct.pack("<H", len(key)) + key
        _encode(child, out)


def program(columns: Mapping[bytes, Node]) -> bytes | None:
    """``columns`` as the byte program of ``_arrow_scan.check``; None if it cannot hold them.

    A node is its kind's number (1-based, in KINDS order); a binary adds its
    subtype byte, a struct a uint16 count and (uint16 key length, key, node)
    per child, a list its item's node.  The top level is a struct.
    """
    out = bytearray()
    try:
        out.append(_CODES["struct"])
        _encode_children(columns, out)
    except struct.error:  # more than 65,535 fields or a key that long: the careful path then
        return None
    return bytes(out)
