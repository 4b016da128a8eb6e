"""The writers of ``export``: one namespace's documents as text lines, or as Parquet or Arrow row groups.

A writer receives the documents of its namespace in archive order and writes
them to its output (``_export_out``); it never publishes: ``export`` does,
once the namespace's EOF block was read and its CRC matched (spec/archive.md §4).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ._bsonwalk import bad_bson
from .errors import MongoArchiveError

if TYPE_CHECKING:
    from .export import NamespaceExport

__all__ = ["SUFFIX", "Format", "_ArrowWriter", "_JsonLinesWriter", "_TextWriter", "_Writer"]

Format = Literal["parquet", "arrow", "jsonl", "csv"]
SUFFIX = {"parquet": ".parquet", "arrow": ".arrow", "jsonl": ".jsonl", "csv": ".csv"}
#: Bytes of documents a JSON lines writer converts at once.
JSONL_CHUNK = 1 << 20


class _Writer:
    """Writes one namespace's documents; subclasses per format."""

    def __init__(self, out: Any, item: NamespaceExport) -> None:
        self.out = out
        self.item = item

    def add(self, raw: bytes | memoryview, offset: int) -> None:
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        return 0

    def flush(self) -> None:
        """Write what is buffered."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
        self.out.discard()


class _TextWriter(_Writer):
    """JSON lines (one Extended JSON document a line) or mongoexport's CSV."""

    def __init__(self, out: Any, item: NamespaceExport, line: Callable[[bytes], str], head: str) -> None:
        super().__init__(out, item)
        self._line = line
        self._file = out.text()
        if head:
            self._file.write(head)

    def add(self, raw: bytes | memoryview, offset: int) -> None:
        try:
            text = self._line(bytes(raw))
        except MongoArchiveError as exc:
            # cat's converter words its hint for cat; the error here is the document's.
            detail = exc.message.removeprefix("a document is not valid BSON: ")
            raise bad_bson(detail, offset=offset, namespace=str(self.item.ns)) from exc
        self._file.write(text)

    def close(self) -> None:
        self._file.close()


class _JsonLinesWriter(_Writer):
    """JSON lines through ``cat``'s writer (``_jsonlines.JsonLines``): ``JSONL_CHUNK`` bytes of
    documents per call of the compiled converter, not a Python call per document."""

    def __init__(self, out: Any, item: NamespaceExport, mode: str) -> None:
        from ._extjson import has_bsonjs
        from ._jsonlines import JsonLines

        super().__init__(out, item)
        target = out.binary(None)
        # A local partial file, or an upload (whose close leaves it to publish's complete);
        # close() closes either.
        self._file: Any
        if isinstance(target, str):
            self._file = open(target, "wb")  # noqa: SIM115
        else:
            self._file = io.BufferedWriter(target, 1 << 20)
        self._lines = JsonLines(self._file, mode, has_bsonjs(), chunk=JSONL_CHUNK)

    @property
    def buffered(self) -> int:
        return self._lines.pending

    def add(self, raw: bytes | memoryview, offset: int) -> None:
        """Documents back to back (one, or a run of a block), starting at archive ``offset``."""
        # The count only names a failing document's namespace, which is this writer's.
        self._reported(lambda: self._lines.add(self.item.ns, memoryview(raw), 1, offset))

    def flush(self) -> None:
        self._reported(self._lines.flush)

    def _reported(self, step: Callable[[], None]) -> None:
        """Run ``step``; a document that does not convert is reported as export reports one."""
        try:
            step()
        except MongoArchiveError as exc:
            raise bad_bson(exc.message, offset=exc.offset, namespace=str(self.item.ns)) from exc

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._file.close()


class _ArrowWriter(_Writer):
    """Parquet or Arrow IPC: row groups of at most ``row_group_bytes`` of BSON."""

    def __init__(
        self,
        out: Any,
        item: NamespaceExport,
        fmt: Format,
        columns: Any,
        row_group_bytes: int,
        rows_per_file: int,
        pool: Any = None,
    ) -> None:
        from ._arrow import Converter

        super().__init__(out, item)
        self.fmt = fmt
        self.converter = Converter(str(item.ns), columns)
        self.limit = row_group_bytes
        self.rows_per_file = rows_per_file
        self.buf = bytearray()
        self.spans: list[tuple[int, int]] = []  # (position in buf, archive offset) of each piece
        self.sink: Any = None
        self.part = 0
        self.rows_in_part = 0
        self.pool = pool  # _export_pool.ConvertPool, or None to convert here
        self.key = pool.key() if pool is not None else 0

    @property
    def buffered(self) -> int:
        return len(self.buf)

    def add(self, raw: bytes | memoryview, offset: int) -> None:
        """Buffer ``raw``: one document or a run of them, starting at archive ``offset``.

        A row group ends with the document that brings it to ``limit`` bytes,
        wherever the archive's runs begin and end.
        """
        from ._arrow import next_cut

        pos = 0
        while pos < len(raw):
            end = next_cut(raw, pos, self.limit - len(self.buf))
            self.spans.append((len(self.buf), offset + pos))
            self.buf += raw[pos:end]
            pos = end
            if len(self.buf) >= self.limit:
                self.flush()

    def _open(self, schema: Any) -> None:
        pa = self.converter.pa
        where = self.out.binary(f"part-{self.part:05d}{SUFFIX[self.fmt]}" if self.out.folder else None)
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self.sink = pq.ParquetWriter(where, schema, compression="zstd")
        else:
            self.sink = pa.ipc.new_file(where, schema)
        self.rows_in_part = 0

    def _write(self, table: Any) -> None:
        if self.sink is None:
            self._open(table.schema)
        if self.fmt == "parquet":
            self.sink.write_table(table, row_group_size=max(1, len(table)))
        else:
            self.sink.write_table(table)
        self.rows_in_part += len(table)

    def flush(self) -> None:
        if not self.buf:
            return
        buf, spans = bytes(self.buf), self.spans
        self.buf, self.spans = bytearray(), []
        if self.pool is None:
            before = self.converter.extra_rows
            table = self.converter.convert_buffer(buf, spans)
            del buf
            self.take(table, self.converter.extra_rows - before)
            return
        if self.converter.columns is None:  # the columns of every row group, fixed here (docs/export.md)
            self.converter.infer_from(buf)
        self.pool.submit(self, buf, spans)

    def take(self, table: Any, extra_rows: int) -> None:
        """Write one converted row group (in the order of the archive)."""
        if self.rows_per_file:
            while len(table):
                if self.sink is not None and self.rows_in_part >= self.rows_per_file:
                    self.sink.close()
                    self.sink = None
                    self.part += 1
                room = self.rows_per_file - (self.rows_in_part if self.sink is not None else 0)
                self._write(table.slice(0, room))
                table = table.slice(room)
        else:
            self._write(table)
        self.item.extra_rows += extra_rows

    def abort(self) -> None:
        self.buf, self.spans, self.pool = bytearray(), [], None  # nothing more is converted
        super().abort()

    def close(self) -> None:
        self.flush()
        if self.pool is not None:
            self.pool.settle(self)
        if self.sink is None:  # no documents: a file with the schema and no rows
            if self.converter.schema is None:
                self.converter._prepare({})
            self._open(self.converter.schema)
        self.sink.close()
        self.sink = None
