"""The per-document hot path: framing of BSON documents over buffered chunks.

Spec/archive.md §2: every document starts with its int32 length (5 ..= 16 MiB)
and ends with a NUL byte; ``ff ff ff ff`` is a terminator.  ``scan_run`` walks a
run of complete documents inside one buffer with nothing but ``unpack_from``
and two comparisons per document; the caller checksums the whole run at once
(§4).  Everything unusual (a terminator, a bad length, a document cut by the
buffer end) stops the loop and is sorted out by the slow path in ``Framer``.
"""

from __future__ import annotations

import contextlib
import re
import struct

from ._io import GZIP_MAGIC, Source, _GzipCorrupt, _GzipTruncated
from .errors import ArchiveError, FramingError, TruncatedError
from .model import MAX_BSON_SIZE

__all__ = [
    "MAGIC",
    "TERMINATOR",
    "Framer",
    "describe_bytes",
    "describe_document",
    "describe_magic",
    "scan_run",
    "split_run",
]

#: uint32 0x8199e26d, little-endian, at offset 0 (spec §2).
MAGIC = b"\x6d\xe2\x99\x81"
#: int32 -1 ends the prelude and every block (spec §2).
TERMINATOR = b"\xff\xff\xff\xff"
MIN_BSON_SIZE = 5

_int32 = struct.Struct("<i")
_unpack_int32 = _int32.unpack_from
CHUNK = 1 << 20
#: Bytes of a document that fails its NUL check given to ``describe_document``: a hint
#: must not copy and scan up to 16 MiB each time a length is wrong (a log line spliced
#: further into a large document is not named; the error is the same).
HINT_WINDOW = 4096


def scan_run(buf: bytearray, pos: int, limit: int) -> tuple[int, int]:
    """Skip complete, NUL-terminated documents in buf[pos:limit]; return (end, count)."""
    unpack_from = _unpack_int32
    count = 0
    while pos + 4 <= limit:
        size = unpack_from(buf, pos)[0]
        if size < 5 or size > 16777216:  # MIN_BSON_SIZE, MAX_BSON_SIZE (§2)
            break
        end = pos + size
        if end > limit or buf[end - 1]:
            break
        pos = end
        count += 1
    return pos, count


def split_run(buf: bytes | bytearray | memoryview, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each document of a run that ``scan_run`` already validated."""
    out = []
    unpack_from = _unpack_int32
    while start < end:
        size = unpack_from(buf, start)[0]
        out.append((start, start + size))
        start += size
    return out


#: Bytes counted as text by ``describe_bytes`` (deleted by ``translate`` to count them).
_TEXT_BYTES = bytes(range(32, 127)) + b"\t\n\r"


def describe_bytes(data: bytes) -> str:
    """A guess at what unexpected bytes are, phrased as a hint for the user."""
    if data.startswith(GZIP_MAGIC):
        return "a gzip stream starts here: was a compressed file concatenated or read without gunzip?"
    if data.startswith(MAGIC):
        return "a second archive starts here: two archives were concatenated"
    sample = data[:64]
    if sample and len(sample) - len(sample.translate(None, _TEXT_BYTES)) >= 0.9 * len(sample):
        text = sample.decode("ascii", "replace").split("\n")[0][:40]
        return f"text was mixed into the stream here ({text!r}): log output written to the same pipe?"
    return "the archive is damaged here; 'mongoarchive salvage' can recover the intact namespaces"


def describe_magic(head: bytes) -> str:
    """A hint for a stream whose first bytes ``head`` are not the magic number."""
    if head.startswith(GZIP_MAGIC):
        return "this is gzip data: open it with gzip sniffing (the default) or 'r:gz'"
    if len(head) >= 4 and 5 <= int.from_bytes(head[:4], "little") <= 16 * 1024 * 1024:
        return (
            "this looks like a .bson file of 'mongodump --out', not an archive "
            "('mongodump --archive' writes archives)"
        )
    return describe_bytes(head)


# A log line: a run of printable text ending in a newline.  BSON strings end in
# NUL, so such a run inside a document that fails its NUL check is a strong sign
# that text was written into the stream.
_LOG_LINE = re.compile(rb"[\x20-\x7e\t]{20,}\r?\n")


def describe_document(data: bytes, offset: int, size: int) -> str:
    """A hint for the ``size``-byte document at ``offset`` that fails the NUL check.

    ``data`` starts at the document and may run past it (a spliced line does).
    """
    found = _LOG_LINE.search(data)
    if found is not None and found.start() < size:
        text = found.group().decode("ascii").strip()[:40]
        return (
            f"text was mixed into the stream at byte {offset + found.start()} ({text!r}): "
            "log output written to the same pipe?"
        )
    return describe_bytes(data[:64])


class Framer:
    """Reads documents and terminators from a Source; tracks absolute offsets."""

    def __init__(self, source: Source, chunk: int = CHUNK) -> None:
        self.source = source
        self.chunk = chunk
        self.buf = bytearray(chunk)
        self.pos = 0  # next unread byte in buf
        self.filled = 0  # bytes of buf holding data
        self.base = 0  # absolute offset of buf[0]
        self.eof = False
        self.namespace: str | None = None  # for error messages

    @property
    def offset(self) -> int:
        """Absolute offset of the next unread byte (in the uncompressed stream)."""
        return self.base + self.pos

    # -- buffer management -------------------------------------------------
    def fill(self, need: int) -> bool:
        """Make buf[pos:pos+need] available; False if the stream ends first."""
        if self.filled - self.pos >= need:
            return True
        buf = self.buf
        rest = self.filled - self.pos
        if self.pos and (self.pos >= rest or self.pos + need > len(buf)):
            # Move the unread bytes to the front only when that costs no more than the
            # bytes consumed since (pos >= rest) or when they would not fit otherwise:
            # stepping a few bytes at a time through a 16 MiB window (a resynchronising
            # scan) must not move the whole window at every step.
            buf[:rest] = buf[self.pos : self.filled]
            self.base += self.pos
            self.pos = 0
            self.filled = rest
        if self.pos + need > len(buf):
            # Grow by replacing: old + new at the peak, never a third temporary.  Past a
            # chunk, a chunk more than asked for, so the next steps read into the tail.
            want = need + self.chunk if need > self.chunk else self.chunk
            grown = bytearray(want)
            grown[:rest] = memoryview(buf)[:rest]
            self.buf = buf = grown
        elif not self.pos and len(buf) > 4 * self.chunk and rest < self.chunk and need <= self.chunk:
            # A huge document passed: give the memory back (bounded RSS, §8).
            del buf[max(self.chunk, rest) :]
        view = memoryview(buf)
        try:
            while self.filled - self.pos < need and not self.eof:
                n = self.source.readinto(view[self.filled :])
                if n == 0:
                    self.eof = True
                else:
                    self.filled += n
        except _GzipTruncated as exc:
            raise TruncatedError(
                f"the gzip stream ends early ({exc})",
                offset=self.base + self.filled,
                namespace=self.namespace,
                hint="the compressed file was cut short (an interrupted dump or download)",
            ) from exc
        except _GzipCorrupt as exc:
            raise FramingError(
                f"the gzip stream is damaged ({exc})",
                offset=self.base + self.filled,
                namespace=self.namespace,
                code="bad-gzip",
                hint="the compressed data is corrupt; try 'gzip -t' on the file",
            ) from exc
        finally:
            view.release()
        return self.filled - self.pos >= need

    def at_end(self) -> bool:
        """True if the stream ends exactly here."""
        return not self.fill(1)

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes at the cursor, not consumed; never raises (hints, sniffing).

        Damage met while filling is raised again by the next read that needs
        the bytes, so an error built with a hint keeps its own class.
        """
        with contextlib.suppress(ArchiveError):
            self.fill(n)
        return bytes(self.buf[self.pos : min(self.pos + n, self.filled)])

    def _truncated(self, what: str) -> TruncatedError:
        return TruncatedError(
            f"the stream ends inside {what}",
            offset=self.base + self.filled,
            namespace=self.namespace,
            hint="the archive was cut short (an interrupted dump, pipe or download); "
            "'mongoarchive salvage' keeps what is complete",
        )

    # -- small structures -------------------------------------------------
    def read_magic(self) -> bytes:
        """Consume and return the 4 magic bytes (checked by the caller)."""
        if not self.fill(4):
            raise self._truncated("the magic number")
        head = bytes(self.buf[self.pos : self.pos + 4])
        self.pos += 4
        return head

    def check_next(self, what: str) -> int:
        """Validate the document or terminator at the cursor; return its size (-1: terminator).

        Nothing is consumed.  Raises FramingError or TruncatedError.
        """
        if not self.fill(4):
            raise self._truncated(f"the length of {what}")
        size: int = _unpack_int32(self.buf, self.pos)[0]
        if size == -1:
            return -1
        if size < MIN_BSON_SIZE or size > MAX_BSON_SIZE:
            raise FramingError(
                f"{size} is neither a valid BSON length (5..{MAX_BSON_SIZE}) nor a terminator "
                f"where {what} should start",
                offset=self.offset,
                namespace=self.namespace,
                code="bad-length",
                hint=describe_bytes(self.peek(64)),
            )
        if not self.fill(size):
            raise self._truncated(what)
        if self.buf[self.pos + size - 1]:
            raise FramingError(
                f"{what} of {size} bytes does not end with a NUL byte",
                offset=self.offset,
                namespace=self.namespace,
                code="missing-nul",
                hint=describe_document(self._hint_window(size), self.offset, size),
            )
        return size

    def _hint_window(self, size: int) -> bytes:
        """The bytes at the cursor that ``describe_document`` needs, and no more."""
        data = self.peek(min(size, HINT_WINDOW) + 512)
        # A log line ends in a newline: past the last one nothing can match, and the
        # line search (a regular expression, slow per byte) need not look there.
        return data[: max(data.rfind(b"\n") + 1, 64)]

    def read_doc(self, what: str) -> bytes | None:
        """Consume one document (returned) or a terminator (None)."""
        size = self.check_next(what)
        if size < 0:
            self.pos += 4
            return None
        doc = bytes(self.buf[self.pos : self.pos + size])
        self.pos += size
        return doc

    # -- the hot path -------------------------------------------------------
    def next_run(self) -> tuple[int, int, int] | None:
        """Consume a run of >= 1 complete documents, or the terminator (None).

        Returns (start, end, count): the run is buf[start:end], valid until the
        next call.  Errors at the cursor raise; documents before them come first.
        """
        end, count = scan_run(self.buf, self.pos, self.filled)
        if count == 0:
            size = self.check_next("a document")
            if size < 0:
                self.pos += 4
                return None
            end, count = scan_run(self.buf, self.pos, self.filled)
        start = self.pos
        self.pos = end
        return start, end, count
