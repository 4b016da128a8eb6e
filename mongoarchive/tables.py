"""One namespace of an archive as Arrow data: ``to_arrow`` and ``record_batches``.

Both read the archive once, front to back, and check every CRC (spec/archive.md
§4); the columns follow the same rules as ``export`` (docs/export.md).  They
need the ``arrow`` extra: ``pip install 'mongoarchive[arrow]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import open as open_archive
from ._arrow import Converter, parse_schema
from .errors import UsageError
from .model import Document, Namespace

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
        docs: list[bytes] = []
        offsets: list[int] = []
        size = 0
        for event in reader.events():
            if type(event) is not Document or event.ns != want:
                continue
            assert isinstance(event, Document)
            docs.append(event.raw)
            offsets.append(event.offset)
            size += len(event.raw)
            if size >= batch_bytes:
                yield from converter.convert(docs, offsets).to_batches()
                docs, offsets, size = [], [], 0
        if docs:
            yield from converter.convert(docs, offsets).to_batches()


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
