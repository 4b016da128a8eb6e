"""The bytes side of a rewrite: the input with its prelude bytes at hand, and the block writer.

The header and prelude entries that do not change are copied as read, so the
reader's source is wrapped to keep the bytes of the prelude (the public
reader yields the parsed values only); ``_Blocks`` is the one place that
writes framing bytes (spec/archive.md §2, §3.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import bson
from bson.int64 import Int64
from bson.son import SON

from ._crc import to_int64
from ._io import Source, open_source
from ._rewrite_plan import _entry_bytes, _Plan
from .model import Namespace
from .reader import ArchiveReader

__all__ = [
    "MAGIC",
    "TERMINATOR",
    "_Blocks",
    "_Tap",
    "_namespace_header",
    "open_input",
    "prelude_bytes",
    "read_ahead",
]

MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"


class _Tap:
    """A reader source that keeps the bytes of the prelude, to copy its parts as they are.

    Only the prelude: ``stop`` ends the keeping once it is read (copying every
    byte of the body would cost as much as reading it); the body's headers come
    from the reader (``ArchiveReader._last_header``).
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self.gzip = source.gzip
        self.name = source.name
        self.buf = bytearray()
        self.keeping = True

    def readinto(self, view: memoryview) -> int:
        n = self._source.readinto(view)
        if self.keeping:
            self.buf += view[:n]
        return n

    def stop(self) -> None:
        """Keep what was read so far (the prelude and some read-ahead), and no more."""
        self.keeping = False

    def take(self, offset: int) -> bytes:
        """The length-prefixed document at stream ``offset`` (in the prelude)."""
        size = int.from_bytes(self.buf[offset : offset + 4], "little")
        return bytes(self.buf[offset : offset + size])

    def read_rest(self, n: int = -1) -> bytes:
        """Read on from the source without keeping the bytes (what follows the archive)."""
        if n >= 0:
            buf = bytearray(n)
            got = self._source.readinto(memoryview(buf))
            return bytes(buf[:got])
        parts = []
        while chunk := self.read_rest(1024 * 1024):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self._source.close()


def _namespace_header(ns: Namespace, eof: bool, crc: int) -> bytes:
    # §3.3: db, collection, EOF, CRC as int64, in this order.
    return bson.encode(
        SON([("db", ns.db), ("collection", ns.collection), ("EOF", eof), ("CRC", Int64(to_int64(crc)))])
    )


class _Blocks:
    """The one place that writes framing bytes (spec §2): blocks opened, continued and closed."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.open: Namespace | None = None  # the data block being written
        self.last = -1  # the input block (by number) written last

    def data_block(self, ns: Namespace, header: bytes, block: int) -> None:
        self.sink.write(header if self.open is None else TERMINATOR + header)
        self.open = ns
        self.last = block

    def documents(self, raw: bytes) -> None:
        self.sink.write(raw)

    def eof_block(self, header: bytes, block: int) -> None:
        self.sink.write((header if self.open is None else TERMINATOR + header) + TERMINATOR)
        self.open = None
        self.last = block


def open_input(src: Any) -> tuple[_Tap, ArchiveReader]:
    """A reader of ``src`` whose source keeps the bytes needed to copy headers."""
    tap = _Tap(open_source(src))
    archive = ArchiveReader(cast(Source, tap))
    tap.stop()
    return tap, archive


def read_ahead(archive: ArchiveReader, offset: int) -> bytes:
    """What the reader read from stream ``offset`` on and did not consume (after an error there)."""
    framer = archive._framer
    return bytes(framer.buf[max(offset - framer.base, 0) : framer.filled])


def prelude_bytes(tap: _Tap, plans: Iterable[_Plan], header: bytes | None = None) -> bytes:
    """Magic, the archive header (copied unless given), the entries of ``plans``, terminator (§3)."""
    parts = [MAGIC, header if header is not None else tap.take(4)]
    parts.extend(_entry_bytes(plan, tap) for plan in plans)
    parts.append(TERMINATOR)
    return b"".join(parts)
