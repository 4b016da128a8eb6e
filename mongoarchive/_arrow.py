"""BSON documents to Arrow tables, with nothing dropped silently.

A batch is first scanned (``_arrow_scan.check``, compiled): a document whose
every field fits its column is taken as it is; the few others take the careful
path (mongoarchive/_arrow_fit.py), where the fields that would not come through
intact are taken out and kept, as canonical Extended JSON, in the ``_extra``
column.  The columns' buffers are then built in one pass by the compiled
builder (mongoarchive/_arrow_build_c.c), or, where it is not built or declines
a batch, by pymongoarrow (MongoDB's own BSON-to-Arrow converter), whose output
the builder is tested to equal (tests/test_arrow_build.py).  The columns come
from ``_arrow_schema`` (inferred from the first row group, or given).
"""

from __future__ import annotations

import bisect
import contextlib
import importlib.util
import os
import struct
import warnings
from collections.abc import Callable
from typing import Any

import bson
import bson.errors

from . import _arrow_scan
from ._arrow_fit import element_doc, misfits, to_json
from ._arrow_schema import DEEP, EXTRA, KINDS, TAKES, Node, infer, parse_schema, program
from ._bsonwalk import bad_bson
from .errors import UsageError

__all__ = ["EXTRA", "KINDS", "Converter", "Node", "import_arrow", "parse_schema"]

_unpack_int = struct.Struct("<i").unpack_from
_BROKEN = (ValueError, IndexError, struct.error, bson.errors.BSONError)


#: The compiled builder of a batch's Arrow buffers, or None (not built, or MONGOARCHIVE_PURE=1):
#: pymongoarrow builds every batch then.  Tests set it to None to compare the two.
build: Callable[[bytes | bytearray, bytes], tuple[int, list[Any]] | None] | None = None
if os.environ.get("MONGOARCHIVE_PURE", "") in ("", "0"):
    with contextlib.suppress(ImportError):  # built without a compiler: pymongoarrow builds the columns
        from ._arrow_build_c import build


def _missing(name: str | None) -> UsageError:
    return UsageError(
        f"Arrow, Parquet and to_arrow need pyarrow and pymongoarrow ({name} is missing)",
        hint="pip install 'mongoarchive[arrow]'",
    )


def import_arrow() -> Any:
    """pyarrow, once pymongoarrow is known to be installed too; UsageError naming the extra if not."""
    try:
        import pyarrow
    except ImportError as exc:
        raise _missing(exc.name) from exc
    try:
        found = importlib.util.find_spec("pymongoarrow") is not None
    except (ImportError, ValueError):
        found = False
    if not found:  # imported only for a batch the compiled builder declines (_pymongoarrow)
        raise _missing("pymongoarrow")
    return pyarrow


def _pymongoarrow() -> Any:
    """pymongoarrow's context module."""
    try:
        with warnings.catch_warnings():
            # pymongoarrow's wheel may be built against a neighbouring pyarrow patch release.
            warnings.simplefilter("ignore", RuntimeWarning)
            import pymongoarrow.context as context
            import pymongoarrow.lib  # noqa: F401 - the compiled part, imported under the filter
    except ImportError as exc:
        raise _missing(exc.name) from exc
    return context


def next_cut(run: bytes | bytearray | memoryview, pos: int, room: int) -> int:
    """Where the piece of ``run`` (documents back to back) from ``pos`` that fills ``room`` bytes ends.

    Whole documents only: the one crossing the bound is included, so a batch
    ends with the document that brings it to its size.
    """
    from ._hotpath import scan_run

    if len(run) - pos <= room:
        return len(run)
    end = scan_run(run, pos, pos + room)[0]
    if end - pos < room:
        end += int.from_bytes(run[end : end + 4], "little")
    return end


class Converter:
    """Turns batches of one namespace's documents into Arrow tables of one fixed schema."""

    def __init__(self, namespace: str, columns: dict[bytes, Node] | None = None) -> None:
        self.pa = import_arrow()
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
        self.columns = columns
        self._native = {k: n for k, n in columns.items() if n.kind not in ("json", "null")}
        # Scalar columns checked by type alone in the per-document loop (doubles also need NaN checks).
        self._quick = {k: TAKES[n.kind] for k, n in self._native.items() if n.kind not in DEEP}
        self._pma_schema: Any = None  # made on the first batch pymongoarrow builds
        self._program = program(columns)
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

    def _assemble(self, node: Node, built: Any) -> Any:
        """The Arrow array of one column from the compiled builder's buffers (_arrow_build_c.c)."""
        pa = self.pa
        length, nulls, valid, bufs, kids = built
        buffers = [None if valid is None else pa.py_buffer(valid), *map(pa.py_buffer, bufs)]
        if node.kind == "decimal":  # the 16 bytes as they are, then their text (docs/export.md, "Types")
            raw = pa.Array.from_buffers(pa.binary(16), length, buffers, nulls)
            values = [None if b is None else str(bson.Decimal128.from_bid(b)) for b in raw.to_pylist()]
            return pa.array(values, pa.string())
        children = None
        if node.kind == "struct":
            nodes = (node.children or {}).values()
            children = [self._assemble(c, k) for c, k in zip(nodes, kids, strict=True)]
        elif node.kind == "list":
            assert node.item is not None
            children = [self._assemble(node.item, kids[0])]
        return pa.Array.from_buffers(self._out_type(node), length, buffers, nulls, children=children)

    def _by_pymongoarrow(self, feed: bytes | bytearray, count: int) -> Any:
        """pymongoarrow's table of the native columns of ``feed``."""
        context = _pymongoarrow()
        if self._pma_schema is None:
            from pymongoarrow.schema import Schema

            self._pma_schema = Schema({k.decode(): self._pma_type(n) for k, n in self._native.items()})
        ctx = context.PyMongoArrowContext(self._pma_schema)
        try:
            ctx.process_bson_stream(bytes(feed))
            table = ctx.finish()
        except (TypeError, ValueError, OverflowError) as exc:  # a value the checks let through
            raise bad_bson(f"pymongoarrow refused a value: {exc}", namespace=self.namespace) from exc
        if table.num_rows != count:
            raise bad_bson(f"pymongoarrow made {table.num_rows} rows of {count} documents")
        return table

    def convert(self, docs: list[bytes], offsets: list[int] | None = None) -> Any:
        """A pyarrow.Table of ``docs`` (BSON bytes); ``offsets`` their archive offsets, for errors."""
        spans: list[tuple[int, int]] = []
        if offsets is not None:
            pos = 0
            for raw, offset in zip(docs, offsets, strict=True):
                spans.append((pos, offset))
                pos += len(raw)
        return self.convert_buffer(b"".join(docs), spans)

    def infer_from(self, buf: bytes) -> None:
        """Fix the columns from the first document of each shape in ``buf`` (docs/export.md)."""
        try:
            firsts = _arrow_scan.shapes(buf)
            self._prepare(infer(buf[o : o + _unpack_int(buf, o)[0]] for o in firsts))
        except _BROKEN as exc:
            raise bad_bson(str(exc), namespace=self.namespace) from exc

    def convert_buffer(self, buf: bytes, spans: list[tuple[int, int]] | None = None) -> Any:
        """A pyarrow.Table of the BSON documents back to back in ``buf``.

        ``spans``: (position in ``buf``, archive offset) where each run of
        contiguous archive bytes starts, so that errors name the offset.  The
        schema is inferred on the first call (docs/export.md).
        """
        pa = self.pa
        starts = [p for p, _ in spans or ()]

        def where(pos: int) -> int | None:
            i = bisect.bisect_right(starts, pos) - 1
            if spans is None or i < 0:
                return None
            return spans[i][1] + pos - spans[i][0]

        if self.columns is None:
            self.infer_from(buf)
        columns = self.columns
        assert columns is not None
        at: list[int]
        try:
            if self._program is not None:
                count, rows, at = _arrow_scan.check(buf, self._program)
            else:  # a schema the compiled check cannot hold: every document the careful way
                at = []
                pos = 0
                while pos < len(buf):
                    at.append(pos)
                    pos += _unpack_int(buf, pos)[0]
                count, rows = len(at), list(range(len(at)))
        except _BROKEN as exc:
            raise bad_bson(str(exc), namespace=self.namespace) from exc
        json_keys = [k for k, n in columns.items() if n.kind == "json"]
        json_cols: dict[bytes, list[str | None]] = {k: [None] * count for k in json_keys} if rows else {}
        extra: list[str | None] | None = [None] * count if rows else None
        feed: bytes | bytearray = buf
        if rows:
            assert extra is not None
            parts: list[bytes] = []
            prev = 0
            native = self._native
            quick = self._quick
            for row, pos in zip(rows, at, strict=True):
                raw = buf[pos : pos + _unpack_int(buf, pos)[0]]
                try:
                    misfit = misfits(raw, columns, native, quick, json_cols, row)
                    if misfit is not None and misfit[1]:
                        extra[row] = to_json(element_doc(misfit[1]))
                        self.extra_rows += 1
                except _BROKEN as exc:
                    raise bad_bson(str(exc), offset=where(pos), namespace=self.namespace) from exc
                if misfit is not None:  # the builder gets the fields of its columns only
                    parts.append(buf[prev:pos])
                    parts.append(element_doc(misfit[0]))
                    prev = pos + len(raw)
            if parts:
                parts.append(buf[prev:])
                feed = b"".join(parts)
        built = build(feed, self._program) if build is not None and self._program is not None else None
        if built is not None and built[0] != count:
            raise bad_bson(f"the builder made {built[0]} rows of {count} documents", namespace=self.namespace)
        table = None if built is not None or not self._native else self._by_pymongoarrow(feed, count)
        arrays = []
        try:
            for i, (key, node) in enumerate(columns.items()):
                if node.kind == "json":
                    cells = json_cols.get(key)
                    arrays.append(pa.array(cells, pa.string()) if cells else pa.nulls(count, pa.string()))
                elif node.kind == "null":
                    arrays.append(pa.nulls(count))
                elif built is not None:
                    arrays.append(self._assemble(node, built[1][i]))
                else:
                    assert table is not None
                    arrays.append(self._plain(table.column(key.decode()), node))
            arrays.append(pa.nulls(count, pa.string()) if extra is None else pa.array(extra, pa.string()))
            out = pa.Table.from_arrays(arrays, schema=self.schema)
            # pymongoarrow copies string bytes as they are: invalid UTF-8 is found here, in C.
            out.validate(full=True)
        except (pa.ArrowException, KeyError, ValueError) as exc:
            detail = f"its values cannot be converted to Arrow: {exc}"
            raise bad_bson(detail, namespace=self.namespace) from exc
        return out
