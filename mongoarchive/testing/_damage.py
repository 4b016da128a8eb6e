"""Damaged archives whose expected problem follows from how the damage was made (spec/archive.md §2, §6)."""

from __future__ import annotations

import dataclasses
import struct

import bson
from hypothesis import strategies as st

from ..errors import (
    ArchiveError,
    ChecksumError,
    FramingError,
    NotAnArchiveError,
    TrailingDataError,
    TruncatedError,
)
from ..model import Namespace
from ._archives import archive_models
from ._model import ArchiveModel, write_model

__all__ = ["Block", "Damage", "Layout", "damaged_archives", "layout"]


@dataclasses.dataclass(frozen=True)
class Block:
    """One body block: header document at ``start``, documents at ``docs``, ends at ``end`` (§2)."""

    ns: Namespace
    eof: bool
    start: int
    header_end: int
    end: int
    docs: tuple[tuple[int, int], ...]  # (start, end) of each data document


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the parts of a well-formed plain archive lie: prelude end and body blocks."""

    body: int
    blocks: tuple[Block, ...]


def layout(data: bytes) -> Layout:
    """Walk the framing of a well-formed plain archive by its lengths alone (§2)."""

    def length(at: int) -> int:
        return int(struct.unpack_from("<i", data, at)[0])

    pos = 4
    while length(pos) != -1:
        pos += length(pos)
    pos += 4
    body = pos
    blocks = []
    while pos < len(data):
        start = pos
        header = bson.decode(data[pos : pos + length(pos)])
        pos += length(pos)
        header_end = pos
        docs = []
        while length(pos) != -1:
            docs.append((pos, pos + length(pos)))
            pos += length(pos)
        pos += 4
        ns = Namespace(header["db"], header["collection"])
        blocks.append(Block(ns, bool(header["EOF"]), start, header_end, pos, tuple(docs)))
    return Layout(body, tuple(blocks))


@dataclasses.dataclass(frozen=True)
class Damage:
    """A damaged archive and the problem a correct reader reports first.

    ``offset`` is the byte where the reader must report it, or None where the
    construction cannot tell; ``namespace`` is "db.collection" or None.
    ``official_refuses`` says whether mongorestore's own reader (mongo-tools
    ``common/archive``) refuses these bytes too.
    """

    data: bytes
    kind: str
    error: type[ArchiveError]
    offset: int | None
    namespace: str | None
    official_refuses: bool
    model: ArchiveModel


def _unended_at(blocks: tuple[Block, ...], cut: int, model: ArchiveModel) -> str | None:
    """The first prelude namespace without its EOF block before ``cut`` (what a truncation leaves open)."""
    ended = {b.ns for b in blocks if b.eof and b.end <= cut}
    for ns in model.data_namespaces:
        if ns not in ended:
            return str(ns)
    return None


_LOG = st.sampled_from(
    [
        b"2024-05-01T10:00:00.000+0000\twriting db.coll to archive on stdout\n",
        b"Failed: error connecting to db server\n",
        b"done dumping db.coll (3 documents)\n",
    ]
)


@st.composite
def damaged_archives(draw: st.DrawFn, models: st.SearchStrategy[ArchiveModel] | None = None) -> Damage:
    """A plain archive of ``models`` with one damage: a truncation, bit flips, a splice, a log line
    or a concatenation, and the problem it must cause (error class, offset, namespace)."""
    model = draw(models if models is not None else archive_models(tolerated=False))
    data = write_model(model)
    lay = layout(data)
    blocks = lay.blocks
    with_docs = [b for b in blocks if b.docs]
    eofs = {b.ns: b for b in blocks if b.eof}
    kinds = ["truncate", "flip-magic", "log-start", "log-end", "log-between", "concatenate"]
    if with_docs:
        kinds += ["flip-document", "flip-crc", "splice-duplicate", "splice-remove"]
    kind = draw(st.sampled_from(kinds))

    def damage(
        out: bytes, error: type[ArchiveError], offset: int | None, ns: str | None, seen: bool
    ) -> Damage:
        return Damage(out, kind, error, offset, ns, seen, model)

    if kind == "truncate":
        cut = draw(st.integers(0, len(data) - 1))
        ns: str | None = None
        for b in blocks:
            if b.start < cut < b.end:
                ns = str(b.ns) if cut >= b.header_end else None
        if cut >= lay.body and not any(b.start < cut < b.end for b in blocks):
            ns = _unended_at(blocks, cut, model)  # a cut between blocks: the first open namespace
        return damage(data[:cut], TruncatedError, cut, ns, True)
    if kind == "flip-magic":
        out = bytearray(data)
        out[draw(st.integers(0, 3))] ^= draw(st.integers(1, 255))
        return damage(bytes(out), NotAnArchiveError, 0, None, True)
    if kind == "log-start":
        return damage(draw(_LOG) + data, NotAnArchiveError, 0, None, True)
    if kind == "log-end":
        return damage(data + draw(_LOG), TrailingDataError, len(data), None, True)
    if kind == "log-between":
        # Printable text read as an int32 length is far above 16 MiB (§2).
        at = draw(st.sampled_from([lay.body, *(b.end for b in blocks[:-1])]))
        if at == len(data):
            return damage(data + draw(_LOG), TrailingDataError, at, None, True)
        return damage(data[:at] + draw(_LOG) + data[at:], FramingError, at, None, True)
    if kind == "concatenate":
        other = draw(st.sampled_from([data, write_model(draw(archive_models(tolerated=False)))]))
        return damage(data + other, TrailingDataError, len(data), None, True)
    block = draw(st.sampled_from(with_docs))
    end = eofs[block.ns]
    ns = str(block.ns)
    if kind == "flip-document":
        start, stop = draw(st.sampled_from(block.docs))
        if stop - start <= 5:
            # An empty document has no byte whose change keeps its framing: flip its block's CRC instead.
            kind = "flip-crc"
        else:
            out = bytearray(data)
            out[draw(st.integers(start + 4, stop - 2))] ^= draw(st.integers(1, 255))
            return damage(bytes(out), ChecksumError, end.start, ns, True)
    if kind == "flip-crc":
        out = bytearray(data)
        at = data.index(b"\x12CRC\x00", end.start, end.header_end) + 5
        out[draw(st.integers(at, at + 7))] ^= draw(st.integers(1, 255))
        return damage(bytes(out), ChecksumError, end.start, ns, True)
    piece = data[block.start : block.end]
    if kind == "splice-duplicate":
        doubled = data[: block.end] + piece + data[block.end :]
        return damage(doubled, ChecksumError, end.start + len(piece), ns, True)
    removed = data[: block.start] + data[block.end :]
    return damage(removed, ChecksumError, end.start - len(piece), ns, True)
