"""Archive models: what a writer is asked to do, and what a reader must then see (spec/archive.md §9).

An ``ArchiveModel`` holds the header fields, the prelude entries and a plan of
writes, forced flushes and closes across namespaces; ``write_model`` carries it
out with ``ArchiveWriter`` and ``expected_events`` predicts, independently of
the writer, the event stream a reader must see (a new block only when the
namespace changes, §9).
"""

from __future__ import annotations

import dataclasses
import io
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import bson

import mongoarchive

from .._crc import crc64_pure
from ..model import Document, Namespace, NamespaceEnd, Segment
from ..writer import uses_buckets

__all__ = [
    "ArchiveModel",
    "Entry",
    "Op",
    "expected_documents",
    "expected_events",
    "model_of",
    "read_all",
    "strip_offsets",
    "write_model",
]

#: A prelude entry: (db, collection, metadata string, type or None for no ``type`` field).
Entry = tuple[str, str, str, str | None]


@dataclasses.dataclass(frozen=True)
class Op:
    """One step of the plan on namespace ``index``: "write" ``doc``, "flush", "close" or "end".

    "close" is ``NamespaceWriter.close()`` (an empty block first if nothing was
    sent, as mongodump does); "end" is ``close(empty_block=False)``, an EOF block alone (§5.5).
    """

    kind: str
    index: int
    doc: bytes = b""


@dataclasses.dataclass(frozen=True)
class ArchiveModel:
    """What to write: header fields, prelude entries and the plan.

    ``header_extra`` and ``entry_extra`` are fields other writers add to the
    prelude's documents; every reader ignores them (§3.1, §3.2).
    """

    server_version: str
    tool_version: str
    concurrent_collections: int
    collections: tuple[Entry, ...]
    plan: tuple[Op, ...]
    header_extra: tuple[tuple[str, Any], ...] = ()
    entry_extra: tuple[tuple[str, Any], ...] = ()

    @property
    def namespaces(self) -> list[Namespace]:
        """The prelude's namespaces, in order."""
        return [Namespace(db, coll) for db, coll, _, _ in self.collections]

    @property
    def data_namespaces(self) -> list[Namespace]:
        """Where each entry's blocks go: ``system.buckets.X`` for a timeseries X before 8.3 (§5.4)."""
        buckets = uses_buckets(self.server_version)
        return [
            Namespace(db, "system.buckets." + coll if kind == "timeseries" and buckets else coll)
            for db, coll, _, kind in self.collections
        ]

    def documents(self) -> dict[Namespace, list[bytes]]:
        """Each data namespace's documents in write order."""
        return expected_documents(self)


def _patch_prelude(data: bytes, model: ArchiveModel) -> bytes:
    """``data`` with ``model``'s extra fields appended to the prelude's documents (§3.1, §3.2)."""
    pos, out = 4, [data[:4]]
    first = True
    while True:
        (length,) = struct.unpack_from("<i", data, pos)
        if length == -1:
            break
        doc = bson.decode(data[pos : pos + length])
        doc.update(model.header_extra if first else model.entry_extra)
        out.append(bson.encode(doc))
        pos += length
        first = False
    out.append(data[pos:])
    return b"".join(out)


def write_model(
    model: ArchiveModel, dst: str | Path | IO[bytes] | None = None, *, gzip: bool = False
) -> bytes:
    """Carry out ``model`` with ArchiveWriter; return the bytes written (b"" when ``dst`` is given)."""
    extra = bool(model.header_extra or model.entry_extra)
    out: Any = io.BytesIO() if dst is None or extra else dst
    with mongoarchive.open(
        out,
        "w:gz" if gzip and not extra else "w",
        server_version=model.server_version,
        tool_version=model.tool_version,
        concurrent_collections=model.concurrent_collections,
    ) as writer:
        ns_writers = [
            writer.add_collection(db, coll, metadata=meta, type=kind)
            for db, coll, meta, kind in model.collections
        ]
        for op in model.plan:
            w = ns_writers[op.index]
            if op.kind == "write":
                w.write(op.doc)
            elif op.kind == "flush":
                w.flush()
            else:
                w.close(empty_block=op.kind == "close")
    if not extra:
        return out.getvalue() if isinstance(out, io.BytesIO) else b""
    data = _patch_prelude(out.getvalue(), model)
    if gzip:
        import gzip as gzip_module

        data = gzip_module.compress(data, mtime=0)
    if dst is None:
        return data
    if isinstance(dst, (str, Path)):
        Path(dst).write_bytes(data)
    else:
        dst.write(data)
    return b""


def expected_events(model: ArchiveModel) -> list[tuple[Any, ...]]:
    """The events (without offsets) a reader must see, from a model of mongodump's multiplexer (§9)."""
    nss = model.data_namespaces
    parts: list[list[bytes]] = [[] for _ in nss]
    sent = [False] * len(nss)
    closed = [False] * len(nss)
    data: list[list[bytes]] = [[] for _ in nss]
    out: list[tuple[Any, ...]] = []
    current: list[int | None] = [None]

    def flush(i: int) -> None:
        if current[0] != i:
            out.append(("segment", nss[i]))
            current[0] = i
        for doc in parts[i]:
            out.append(("document", nss[i], doc))
            data[i].append(doc)
        parts[i] = []
        sent[i] = True

    def close(i: int, empty_block: bool = True) -> None:
        if closed[i]:
            return
        if parts[i] or (empty_block and not sent[i]):
            flush(i)
        closed[i] = True
        out.append(("end", nss[i], crc64_pure(b"".join(data[i]))))
        current[0] = None

    for op in model.plan:
        if closed[op.index]:
            continue
        if op.kind == "write":
            parts[op.index].append(op.doc)
        elif op.kind == "flush":
            flush(op.index)
        else:
            close(op.index, op.kind == "close")
    for i in range(len(nss)):
        close(i)
    return out


def expected_documents(model: ArchiveModel) -> dict[Namespace, list[bytes]]:
    """Each data namespace's documents in write order."""
    nss = model.data_namespaces
    docs: dict[Namespace, list[bytes]] = {ns: [] for ns in nss}
    for op in model.plan:
        if op.kind == "write":
            docs[nss[op.index]].append(op.doc)
    return docs


def strip_offsets(events: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Events as ("segment", ns) / ("document", ns, raw) / ("end", ns, crc) tuples."""
    out: list[tuple[Any, ...]] = []
    for ev in events:
        if isinstance(ev, Segment):
            out.append(("segment", ev.ns))
        elif isinstance(ev, Document):
            out.append(("document", ev.ns, ev.raw))
        elif isinstance(ev, NamespaceEnd):
            out.append(("end", ev.ns, ev.crc))
        else:
            raise AssertionError(f"unknown event {ev!r}")
    return out


def _source(src: bytes | str | Path | IO[bytes]) -> Any:
    return io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src


def read_all(data: bytes, mode: str = "r:") -> tuple[Any, ...]:
    """(header, collections, events, summaries, warnings) from ArchiveReader."""
    with mongoarchive.open(io.BytesIO(data), mode) as reader:  # type: ignore[call-overload]
        events = list(reader.events())
        return reader.header, reader.collections, events, dict(reader.namespaces), list(reader.warnings)


def model_of(src: bytes | str | Path | IO[bytes]) -> ArchiveModel:
    """Read an archive (bytes, path or file; gzip sniffed) back into an ArchiveModel.

    Each data block becomes its writes and a "flush"; each EOF block a "close"
    (or an "end" when the namespace had no data block), so that
    ``expected_events(model_of(x))`` is the event stream of ``x``.  A block of
    a namespace not in the prelude raises the reader's NamespaceError.
    """
    with mongoarchive.open(_source(src)) as reader:
        entries = tuple((c.db, c.collection, c.metadata, c.type) for c in reader.collections)
        header = reader.header
        skeleton = ArchiveModel(
            header.server_version, header.tool_version, header.concurrent_collections, entries, ()
        )
        index = {ns: i for i, ns in enumerate(skeleton.data_namespaces)}
        plan: list[Op] = []
        sent: set[int] = set()
        pending: int | None = None
        for ev in reader.events():
            if isinstance(ev, (Segment, NamespaceEnd)) and pending is not None:
                plan.append(Op("flush", pending))
                pending = None
            i = index[ev.ns]
            if isinstance(ev, Segment):
                pending = i
                sent.add(i)
            elif isinstance(ev, Document):
                plan.append(Op("write", i, ev.raw))
            else:
                plan.append(Op("close" if i in sent else "end", i))
    return dataclasses.replace(skeleton, plan=tuple(plan))
