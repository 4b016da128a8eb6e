"""One namespace of an archive as Arrow data: ``to_arrow`` and ``record_batches``.

Both read the archive once, front to back, and check every CRC (spec/archive.md
§4); the columns follow the same rules as ``export`` (docs/export.md).  They
need the ``arrow`` extra: ``pip install 'mongoarchive[arrow]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import open as open_archive
from ._arrow import Converter, next_cut, parse_schema
from .errors import UsageError
from .model import Namespace, Segment

__all__ = ["record_batches", "to_arrow"]

#: BSON bytes per record batch by default.
BATCH_BYTES = 16 * 1024 * 1024


def _namespace(ns: Namespace | str) -> Namespace:
    if isinstance(ns, Namespace):
        return ns
    db, dot, collection = str(ns).partition(".")
    if not dot:
        raise UsageError(f"namespace {ns!r} has no '.'", hint="name it as db.collection")
    return Namespace(db, collection)


def record_batches(
    archive: Any,
    ns: Namespace | str,
    *,
    schema: Mapping[str, Any] | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[Any]:
    """pyarrow.RecordBatch objects of namespace ``ns`` of ``archive`` (path, file object or "-").

    Every batch has the same schema: inferred from the first batch, or
    ``schema`` (field -> kind, as one namespace of ``export --schema``).
    Memory holds one batch.  The last batch is yielded only after the
    namespace's CRC checked; a namespace without documents yields nothing.
    """
    want = _namespace(ns)
    converter = Converter(str(want), parse_schema(schema) if schema is not None else None)
    with open_archive(archive) as reader:
        if want not in {e.namespace for e in reader.collections} and want not in reader._demux.timeseries:
            raise UsageError("the archive's prelude has no such namespace", namespace=str(want))
        # Runs of documents, not one event a document: no Python runs per document (§2).
        buf = bytearray()
        spans: list[tuple[int, int]] = []  # (position in buf, archive offset)
        at = 0  # archive offset of the next run of the current block
        for item in reader._body(True, runs=True):
            if type(item) is Segment:
                at = item.offset + len(reader._last_header)
                continue
            if type(item) is not tuple:
                continue
            run_ns, piece, _ = item
            pos = 0
            while run_ns == want and pos < len(piece):
                end = next_cut(piece, pos, batch_bytes - len(buf))
                spans.append((len(buf), at + pos))
                buf += piece[pos:end]
                pos = end
                if len(buf) >= batch_bytes:
                    yield from converter.convert_buffer(bytes(buf), spans).to_batches()
                    buf, spans = bytearray(), []
            at += len(piece)
        if buf:
            yield from converter.convert_buffer(bytes(buf), spans).to_batches()


def to_arrow(archive: Any, ns: Namespace | str, *, schema: Mapping[str, Any] | None = None) -> Any:
    """Namespace ``ns`` of ``archive`` as one pyarrow.Table (in memory: mind its size).

    An empty namespace gives a table with no rows and only the ``_extra`` column
    (or the columns of ``schema``).
    """
    want = _namespace(ns)
    batches = list(record_batches(archive, want, schema=schema))
    converter = Converter(str(want), parse_schema(schema) if schema is not None else None)
    pa = converter.pa
    if not batches:
        if converter.schema is None:
            converter._prepare({})
        return converter.schema.empty_table()
    return pa.Table.from_batches(batches)
