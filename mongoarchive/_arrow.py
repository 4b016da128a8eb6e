"""BSON documents to Arrow tables through pymongoarrow, with nothing dropped silently.

pymongoarrow (MongoDB's own BSON-to-Arrow converter, in C) builds the
columns.  On its own it loses data in a few ways: a field not in the schema
is skipped, a value of another type becomes null, a double is truncated into
an integer column, NaN becomes null, and some BSON types have no builder.
So each document is first checked here against the namespace's schema (a
walk over its elements, no decoding), and every top-level field that would
not come through intact is taken out of the bytes given to pymongoarrow and
kept, as canonical Extended JSON, in the ``_extra`` column.

The schema of a namespace is inferred from its first row group (docs/export.md
gives the rule) or given by the caller; it is fixed from then on, so every
row group of a file has the same columns.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import bson
import bson.errors
from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS

from ._bsonwalk import FIXED_SIZES as _FIXED_SIZES
from ._bsonwalk import bad_bson, elements, value_end
from .errors import UsageError

__all__ = ["EXTRA", "KINDS", "Converter", "Node", "import_arrow", "parse_schema"]

#: The column holding, per row, the fields that did not fit their column (or null).
EXTRA = "_extra"

#: Column kinds, each a BSON type (or group of types) with one Arrow type (docs/export.md).
KINDS = (
    "int32", "int64", "double", "string", "bool", "objectId", "date", "decimal",
    "binary", "code", "struct", "list", "json", "null",
)  # fmt: skip

# The BSON types a column of each scalar kind takes as they are (null fits every column).
_TAKES: dict[str, frozenset[int]] = {
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
_unpack_double = struct.Struct("<d").unpack_from
_unpack_int = struct.Struct("<i").unpack_from
_DEEP = frozenset({"struct", "list", "binary"})


def import_arrow() -> tuple[Any, Any]:
    """(pyarrow, pymongoarrow's context module); UsageError naming the extra when missing."""
    try:
        import pyarrow

        with warnings.catch_warnings():
            # pymongoarrow's wheel may be built against a neighbouring pyarrow patch release.
            warnings.simplefilter("ignore", RuntimeWarning)
            import pymongoarrow.context as context
            import pymongoarrow.lib  # noqa: F401 - the compiled part, imported under the filter
    except ImportError as exc:
        raise UsageError(
            f"Arrow, Parquet and to_arrow need pyarrow and pymongoarrow ({exc.name} is missing)",
            hint="pip install 'mongoarchive[arrow]'",
        ) from exc
    return pyarrow, context


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
            self.takes = _TAKES[self.kind]

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
    """The columns for ``docs``: top-level keys in order of first appearance, each with its kind."""
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


# -- the check before pymongoarrow -------------------------------------------------
def _fits(node: Node, buf: bytes, kind: int, vstart: int, vend: int) -> bool:
    """True if pymongoarrow turns this value into ``node``'s column exactly."""
    if kind == 0x0A or node.kind == "json":
        return True
    if kind not in _TAKES[node.kind]:
        return False
    if kind == 0x01:
        return not math.isnan(_unpack_double(buf, vstart)[0])  # pymongoarrow writes NaN as null
    if kind == 0x05:
        return buf[vstart + 4] == node.subtype
    if kind == 0x03:
        children = node.children or {}
        seen: set[bytes] = set()
        filled = False  # an embedded document with no value would read back as a null struct
        end = vstart + _unpack_int(buf, vstart)[0] - 1
        pos = vstart + 4
        index = buf.index
        # The walk of _bsonwalk.elements, inlined: this runs for every embedded document.
        while pos < end:
            k = buf[pos]
            nul = index(b"\x00", pos + 1, end)
            key = buf[pos + 1 : nul]
            s = nul + 1
            size = _FIXED_SIZES.get(k)
            e = s + size if size is not None else value_end(buf, k, s)
            child = children.get(key)
            if e > end or child is None or key in seen:
                return False
            if k != 0x0A:
                takes = child.takes
                if takes is None:
                    if not _fits(child, buf, k, s, e):
                        return False
                elif k not in takes:
                    return False
                filled = True
            seen.add(key)
            pos = e
        return filled and bool(pos == end)
    if kind == 0x04:
        item = node.item
        assert item is not None
        end = vstart + _unpack_int(buf, vstart)[0] - 1
        pos = vstart + 4
        index = buf.index
        takes = item.takes
        while pos < end:
            k = buf[pos]
            s = index(b"\x00", pos + 1, end) + 1
            size = _FIXED_SIZES.get(k)
            e = s + size if size is not None else value_end(buf, k, s)
            if e > end:
                return False
            if k != 0x0A:
                if takes is None:
                    if not _fits(item, buf, k, s, e):
                        return False
                elif k not in takes:
                    return False
            pos = e
        return bool(pos == end)
    return True


def _element_doc(parts: list[bytes]) -> bytes:
    body = b"".join(parts)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _json(raw: bytes) -> str:
    return json_util.dumps(bson.decode(raw), json_options=CANONICAL_JSON_OPTIONS)


class Converter:
    """Turns batches of one namespace's documents into Arrow tables of one fixed schema."""

    def __init__(self, namespace: str, columns: dict[bytes, Node] | None = None) -> None:
        self.pa, self._context = import_arrow()
        self.namespace = namespace
        self.columns = columns
        self.schema: Any = None
        self.extra_rows = 0  # rows whose _extra is not null
        if columns is not None:
            self._prepare(columns)

    # -- types -------------------------------------------------------------
    def _pma_type(self, node: Node) -> Any:
        """The type pymongoarrow builds for ``node`` (its extension types included)."""
        pa = self.pa
        from pymongoarrow import types as t

        simple = {
            "int32": pa.int32(), "int64": pa.int64(), "double": pa.float64(), "string": pa.string(),
            "bool": pa.bool_(), "date": pa.timestamp("ms"),
        }  # fmt: skip
        if node.kind in simple:
            return simple[node.kind]
        if node.kind == "objectId":
            return t.ObjectIdType()
        if node.kind == "decimal":
            return t.Decimal128Type()
        if node.kind == "binary":
            return t.BinaryType(node.subtype)
        if node.kind == "code":
            return t.CodeType()
        if node.kind == "struct":
            return pa.struct([(k.decode(), self._pma_type(c)) for k, c in (node.children or {}).items()])
        if node.kind == "list":
            assert node.item is not None
            return pa.list_(self._pma_type(node.item))
        raise AssertionError(node.kind)

    def _out_type(self, node: Node) -> Any:
        """The Arrow type written for ``node`` (docs/export.md, "Types")."""
        pa = self.pa
        plain = {
            "int32": pa.int32(), "int64": pa.int64(), "double": pa.float64(), "string": pa.string(),
            "bool": pa.bool_(), "date": pa.timestamp("ms", tz="UTC"), "objectId": pa.binary(12),
            "decimal": pa.string(), "binary": pa.binary(), "code": pa.string(), "json": pa.string(),
            "null": pa.null(),
        }  # fmt: skip
        if node.kind in plain:
            return plain[node.kind]
        if node.kind == "struct":
            return pa.struct([self._field(k.decode(), c) for k, c in (node.children or {}).items()])
        assert node.item is not None
        return pa.list_(self._field("item", node.item))

    def _field(self, name: str, node: Node) -> Any:
        meta = {"bson_kind": node.kind}
        if node.subtype is not None:
            meta["bson_subtype"] = str(node.subtype)
        return self.pa.field(name, self._out_type(node), metadata=meta)

    def _prepare(self, columns: dict[bytes, Node]) -> None:
        from pymongoarrow.schema import Schema

        self.columns = columns
        self._native = {k: n for k, n in columns.items() if n.kind not in ("json", "null")}
        # Scalar columns checked by type alone in the per-document loop (doubles also need NaN checks).
        self._quick = {k: _TAKES[n.kind] for k, n in self._native.items() if n.kind not in _DEEP}
        self._pma_schema = (
            Schema({k.decode(): self._pma_type(n) for k, n in self._native.items()}) if self._native else None
        )
        fields = [self._field(k.decode(), n) for k, n in columns.items()]
        fields.append(self.pa.field(EXTRA, self.pa.string(), metadata={"bson_kind": "extra"}))
        self.schema = self.pa.schema(fields, metadata={"mongoarchive.namespace": self.namespace})

    # -- values --------------------------------------------------------------
    def _plain(self, arr: Any, node: Node) -> Any:
        """pymongoarrow's array for ``node`` as the plain Arrow type of ``_out_type``."""
        pa = self.pa
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if isinstance(arr, pa.ExtensionArray):
            arr = arr.storage
        kind = node.kind
        if kind == "date":
            return arr.cast(pa.timestamp("ms", tz="UTC"))
        if kind == "decimal":
            values = [None if b is None else str(bson.Decimal128.from_bid(b)) for b in arr.to_pylist()]
            return pa.array(values, pa.string())
        if kind == "struct":
            import pyarrow.compute as pc

            children = [self._plain(arr.field(i), c) for i, c in enumerate((node.children or {}).values())]
            out_type = self._out_type(node)
            # pymongoarrow's structs have no validity: a missing or null document has null fields,
            # and a document with no non-null field never reaches it (_fits), so that is the mask.
            empty = children[0].is_null()
            for child in children[1:]:
                empty = pc.and_(empty, child.is_null())
            return pa.StructArray.from_arrays(children, fields=list(out_type), mask=empty)
        if kind == "list":
            assert node.item is not None
            values = self._plain(arr.values, node.item)
            return pa.ListArray.from_arrays(
                arr.offsets, values, type=self._out_type(node), mask=arr.is_null() if arr.null_count else None
            )
        return arr.cast(self._out_type(node)) if arr.type != self._out_type(node) else arr

    def _misfits(
        self,
        raw: bytes,
        columns: dict[bytes, Node],
        native: dict[bytes, Node],
        quick: dict[bytes, frozenset[int]],
        json_cols: dict[bytes, list[str | None]],
        row: int,
    ) -> tuple[list[bytes], list[bytes]] | None:
        """None if ``raw`` goes to pymongoarrow as it is, else (elements kept, elements for _extra).

        The walk is inlined (no generator, no call for scalar columns): it is the
        per-document cost of the export.
        """
        end = _unpack_int(raw, 0)[0] - 1
        pos = 4
        index = raw.index
        seen: set[bytes] = set()
        odd: list[tuple[int, int]] = []
        while pos < end:
            kind = raw[pos]
            nul = index(b"\x00", pos + 1, end)
            key = raw[pos + 1 : nul]
            s = nul + 1
            size = _FIXED_SIZES.get(kind)
            e = s + size if size is not None else value_end(raw, kind, s)
            if e > end:
                raise ValueError(f"the value of {key!r} runs past its document")
            takes = quick.get(key)
            if key in seen:
                odd.append((pos, e))
            elif takes is not None and (kind in takes or kind == 0x0A) and kind != 0x01:
                pass  # the common case: a scalar of its column's type
            else:
                node = columns.get(key)
                if node is None or not _fits(node, raw, kind, s, e):
                    odd.append((pos, e))
                elif node.kind == "json":
                    json_cols[key][row] = _json(_element_doc([bytes([kind]), b"v\x00", raw[s:e]]))[6:-1]
                elif node.kind == "null" and kind != 0x0A:
                    odd.append((pos, e))
            seen.add(key)
            pos = e
        if pos != end:
            raise ValueError("elements overrun the document")
        if not odd:
            return None
        bad = {a for a, _ in odd}
        kept: list[bytes] = []
        for _, key, s, e in elements(raw):
            at = s - len(key) - 2
            if at not in bad and key in native:
                kept.append(raw[at:e])
        return kept, [raw[a:b] for a, b in odd]

    def convert(self, docs: list[bytes], offsets: list[int] | None = None) -> Any:
        """A pyarrow.Table of ``docs`` (BSON bytes); the schema is inferred on the first call."""
        pa = self.pa
        if self.columns is None:
            try:
                self._prepare(infer(docs))
            except (ValueError, IndexError, struct.error, bson.errors.BSONError) as exc:
                raise bad_bson(str(exc), namespace=self.namespace) from exc
        columns = self.columns
        assert columns is not None
        json_cols: dict[bytes, list[str | None]] = {
            k: [None] * len(docs) for k, n in columns.items() if n.kind == "json"
        }
        extra: list[str | None] = [None] * len(docs)
        feed: list[bytes] = []
        native = self._native
        quick = self._quick
        for i, raw in enumerate(docs):
            try:
                misfit = self._misfits(raw, columns, native, quick, json_cols, i)
            except (ValueError, IndexError, struct.error, bson.errors.BSONError) as exc:
                where = offsets[i] if offsets is not None else None
                raise bad_bson(str(exc), offset=where, namespace=self.namespace) from exc
            if misfit is None:
                feed.append(raw)
            else:
                kept, odd = misfit
                feed.append(_element_doc(kept))
                extra[i] = _json(_element_doc(odd))
                self.extra_rows += 1
        arrays = []
        table = None
        if self._pma_schema is not None:
            ctx = self._context.PyMongoArrowContext(self._pma_schema)
            try:
                ctx.process_bson_stream(b"".join(feed))
                table = ctx.finish()
            except (TypeError, ValueError, OverflowError) as exc:  # a value _fits let through
                raise bad_bson(f"pymongoarrow refused a value: {exc}", namespace=self.namespace) from exc
        try:
            for key, node in columns.items():
                name = key.decode()
                if node.kind == "json":
                    arrays.append(pa.array(json_cols[key], pa.string()))
                elif node.kind == "null":
                    arrays.append(pa.nulls(len(docs)))
                else:
                    assert table is not None
                    arrays.append(self._plain(table.column(name), node))
            arrays.append(pa.array(extra, pa.string()))
            out = pa.Table.from_arrays(arrays, schema=self.schema)
            # pymongoarrow copies string bytes as they are: invalid UTF-8 is found here, in C.
            out.validate(full=True)
        except (pa.ArrowException, KeyError, ValueError) as exc:
            detail = f"its values cannot be converted to Arrow: {exc}"
            raise bad_bson(detail, namespace=self.namespace) from exc
        return out
