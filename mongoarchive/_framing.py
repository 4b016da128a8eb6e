"""The per-document hot path: framing of BSON documents over buffered chunks.

Spec/archive.md §2: every document starts with its int32 length (5 ..= 16 MiB)
and ends with a NUL byte; ``ff ff ff ff`` is a terminator.  ``scan_run`` (from
``_hotpath``: the compiled twin, or ``_hot``) walks a run of complete documents
inside one buffer; the caller checksums the whole run at once (§4).  Everything
unusual (a terminator, a bad length, a document cut by the buffer end) stops the
loop and is sorted out by the slow path in ``Framer``.
"""

from __future__ import annotations

import contextlib
import re
import struct

import bson

from ._hotpath import scan_run, split_run
from ._io import GZIP_MAGIC, Source, _GzipCorrupt, _GzipTrailing, _GzipTruncated
from ._text import plural, quote_bytes
from .errors import ArchiveError, FramingError, NotAnArchiveError, TrailingDataError, TruncatedError
from .model import MAX_BSON_SIZE

__all__ = [
    "MAGIC",
    "TERMINATOR",
    "Framer",
    "decodes",
    "describe_bytes",
    "describe_document",
    "describe_magic",
    "find_splice",
    "not_an_archive",
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
# A log line: a run of printable text ending in a newline.  BSON strings end in
# NUL, so such a run inside a document that fails its NUL check is a strong sign
# that text was written into the stream.
_LOG_LINE = re.compile(rb"[\x20-\x7e\t]{20,}\r?\n")
#: Bytes of a document that fails its NUL check given to ``describe_document`` once the
#: hint budget is spent: a hint must not copy and scan up to 16 MiB each time a length is
#: wrong (a log line spliced further into a large document is then not named; the error is
#: the same).
HINT_WINDOW = 4096
#: Hints may read whole documents (to prove where spliced text starts) while the bytes they
#: read stay under this plus four times the bytes consumed: linear in the input however
#: often a false length claims a large document.
HINT_BUDGET = 1 << 20


#: Bytes counted as text (deleted by ``translate`` to count them: no per-byte Python loop).
_TEXT_BYTES = bytes(range(32, 127)) + b"\t\n\r"


def decodes(data: bytes | bytearray | memoryview) -> bool:
    """True if ``data`` is exactly one BSON document that decodes."""
    try:
        bson.decode(data)
    except Exception:  # any undecodable bytes are simply not a document
        return False
    return True


def _looks_like_text(sample: bytes) -> bool:
    """True if at least 90% of ``sample`` is printable ASCII, tab, CR or LF."""
    return bool(sample) and len(sample) - len(sample.translate(None, _TEXT_BYTES)) >= 0.9 * len(sample)


def _first_line(sample: bytes) -> bytes | None:
    """``sample`` up to the end of its first line that is not blank (leading blank lines kept,
    so a quote starts at the first byte); None if it is all whitespace."""
    body = sample.lstrip(b" \t\r\n")
    if not body:
        return None
    end = sample.find(b"\n", len(sample) - len(body))
    return (sample if end < 0 else sample[:end]).rstrip(b"\r")


def describe_bytes(data: bytes) -> str:
    """A guess at what unexpected bytes are, phrased as a hint for the user.

    ``data`` starts at the damage itself: a quoted text is the text found there.
    """
    if data.startswith(GZIP_MAGIC):
        return "a gzip stream starts here: was a compressed file concatenated or read without gunzip?"
    if data.startswith(MAGIC):
        return "a second archive starts here: two archives were concatenated"
    sample = data[:64]
    if _looks_like_text(sample):
        line = _first_line(sample)
        if line is None:
            # Only whitespace, such as a lone newline (an editor or "echo >>"): quote it as it is.
            return (
                f"whitespace ({quote_bytes(sample)}) was added to the stream here: "
                "appended by an editor or a shell?"
            )
        return (
            f"text was mixed into the stream here ({quote_bytes(line)}): log output written to the same pipe?"
        )
    return "the archive is damaged here; 'mongoarchive salvage' can recover the intact namespaces"


def describe_magic(head: bytes) -> str:
    """A hint for a stream whose first bytes ``head`` are not the magic number."""
    if head.startswith(GZIP_MAGIC):
        return "this is gzip data: open it with gzip sniffing (the default) or 'r:gz'"
    if _looks_like_bson(head):
        return (
            "this looks like a .bson file of 'mongodump --out', not an archive "
            "('mongodump --archive' writes archives)"
        )
    return describe_bytes(head)


def _looks_like_bson(head: bytes) -> bool:
    return len(head) >= 4 and 5 <= int.from_bytes(head[:4], "little") <= MAX_BSON_SIZE


def _text_start(head: bytes) -> str | None:
    """The first line of ``head`` quoted, if ``head`` is text (ASCII or UTF-8); else None."""
    text = None
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if not text or sum(c.isprintable() or c in "\t\n\r" for c in text) < 0.9 * len(text):
        return None
    line = _first_line(text.encode())
    return quote_bytes(line) if line is not None else None


def not_an_archive(head: bytes, gzip: bool, magic_at: int | None = None) -> NotAnArchiveError:
    """The error for a stream whose first bytes ``head`` (>= 4) are not the magic number (§2).

    The message says what the data is instead (text, a .bson file, gzip read
    without gunzip), so a wrong file is not taken for a damaged archive.
    ``gzip``: the bytes were inflated from a gzip file; ``magic_at``: where a
    magic number was seen further on (then something was written before an archive).
    """
    if magic_at is not None:
        return NotAnArchiveError(
            f"the archive does not start at byte 0: a magic number follows at byte {magic_at}",
            offset=0,
            hint=f"{describe_bytes(head[:magic_at])}; 'mongoarchive salvage' recovers the archive after it",
        )
    text = _text_start(head)
    looks = f"looks like text (starts with {text})" if text else None
    if gzip:
        if looks is None and _looks_like_bson(head):
            looks = "looks like a .bson file of 'mongodump --out'"
        return NotAnArchiveError(
            "not an archive: gzip data that does not start with the magic number 6d e2 99 81",
            offset=0,
            hint=f"the uncompressed data {looks or 'is something else'}; "
            "'mongodump --archive --gzip' writes gzip'd archives",
        )
    if text is not None:
        return NotAnArchiveError(
            f"not an archive: this looks like text (starts with {text})",
            offset=0,
            hint="an archive starts with the magic number 6d e2 99 81 ('mongodump --archive' writes one); "
            "if one follows the text, 'mongoarchive check' finds it and 'mongoarchive salvage' recovers it",
        )
    if head.startswith(GZIP_MAGIC):
        return NotAnArchiveError(
            "not an archive as it is: this is gzip data", offset=0, hint=describe_magic(head)
        )
    if _looks_like_bson(head):
        return NotAnArchiveError(
            "not an archive: this looks like a .bson file of 'mongodump --out'",
            offset=0,
            hint="'mongodump --archive' writes archives; "
            "mongorestore reads .bson files from a dump directory",
        )
    return NotAnArchiveError(
        "the stream does not start with the archive magic number 6d e2 99 81",
        offset=0,
        hint=describe_bytes(head),
    )


def _describe_trailing(sample: bytes) -> str:
    """A hint for bytes that follow a complete gzip member; ``sample`` is their start."""
    text = _text_start(sample)
    if text is not None:
        return f"the gzip data before them is complete; they are text ({text}): output appended to the file?"
    return "the gzip data before them is complete: something was appended to the file"


#: How far a spliced text is looked for: longer than any log line, short enough to stay cheap.
_MAX_SPLICE = 4096


#: A run of bytes that can belong to a spliced text.
_TEXT_RUN = re.compile(rb"[\t\n\r\x20-\x7e]+")


def find_splice(
    data: bytes, size: int, max_lines: int = 100_000, max_decoded: int = 32 << 20
) -> tuple[int, int] | None:
    """(start, end) in ``data`` of text spliced into the ``size``-byte document at data[0].

    The document fails its NUL check (§2) because text was inserted into it.
    A candidate is text ending in a newline whose removal leaves a valid BSON
    document of ``size`` bytes, the original.  Only a unique candidate is
    proof: a document holding lines of text can often be repaired in more than
    one place, and then no place is named.  The search gives up (None) after
    ``max_lines`` newlines or trial decodes of ``max_decoded`` bytes in all
    (at least four), so it stays cheap.
    """
    limit = min(len(data), size + _MAX_SPLICE)
    found: tuple[int, int] | None = None
    budget = max(max_decoded, 4 * size)
    for run in _TEXT_RUN.finditer(data, 4, limit):
        nl = data.find(b"\n", run.start(), run.end())
        while nl >= 0:
            max_lines -= 1
            if max_lines < 0:
                return None
            end = nl + 1
            first, last = max(run.start(), end - _MAX_SPLICE), min(nl, size - 1)
            # Without data[s:end] the document's NUL lands on data[end + size - s - 1]:
            # only the zero bytes in that window are worth a trial decode.
            top = end + size - 1
            zero = data.find(b"\x00", top - last, min(top - first + 1, len(data)))
            while zero >= 0:
                s = top - zero
                budget -= size
                if budget < 0:
                    return None
                try:
                    bson.decode(data[:s] + data[end : zero + 1])
                except Exception:  # bson raises InvalidBSON, ValueError, OverflowError...
                    pass
                else:
                    if found is not None:
                        return None  # two ways to repair the document: nothing is proven
                    found = (s, end)
                zero = data.find(b"\x00", zero + 1, min(top - first + 1, len(data)))
            nl = data.find(b"\n", end, run.end())
    return found


def describe_document(data: bytes, offset: int, size: int) -> str:
    """A hint for the ``size``-byte document at ``offset`` that fails the NUL check.

    ``data`` starts at the document and may run past it (a spliced line does).
    The hint quotes the spliced text and gives its offset only when
    ``find_splice`` proves where it starts; otherwise it quotes nothing and
    names no offset, since the text may be the document's own string.
    """
    splice = find_splice(data, size)
    if splice is not None:
        start, end = splice
        first_line = data[start:end].split(b"\n")[0].rstrip(b"\r")
        return (
            f"text was mixed into the stream at byte {offset + start} "
            f"({quote_bytes(first_line)}, {plural(end - start, 'byte')}): "
            "log output written to the same pipe?"
        )
    found = _LOG_LINE.search(data)
    if found is not None and found.start() < size:
        # A line of text, but where it starts (or whether it is the document's own) is not known.
        return (
            "text was mixed into the stream somewhere in this document (it holds a line of text): "
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
        self._hint_spent = 0  # bytes handed to describe_document (HINT_BUDGET)
        #: False: framing errors carry no hint (salvage describes skipped bytes itself, and a
        #: hint would read ahead of the damage).
        self.hints = True
        #: Bytes that are not gzip data after the last gzip member, once met.
        self.trailing: TrailingDataError | None = None

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
        except _GzipTrailing as exc:
            self.eof = True
            self.trailing = TrailingDataError(
                f"{plural(exc.size, 'byte')} that {'is' if exc.size == 1 else 'are'} not gzip data "
                f"{'follows' if exc.size == 1 else 'follow'} the end of the compressed archive "
                f"(at byte {exc.offset} of the compressed file)",
                offset=self.base + self.filled,
                namespace=self.namespace,
                hint=_describe_trailing(exc.sample),
            )
            if self.filled == self.pos:  # at a boundary: the archive may be complete
                raise self.trailing from exc
            # Inside an item: the archive is cut short first of all (_truncated says both).
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
        hint = (
            "the archive was cut short (an interrupted dump, pipe or download); "
            "'mongoarchive salvage' keeps what is complete"
        )
        if self.trailing is not None:
            hint += f"; then {self.trailing.message}"
        return TruncatedError(
            f"the stream ends inside {what}",
            offset=self.base + self.filled,
            namespace=self.namespace,
            hint=hint,
        )

    def empty(self) -> TruncatedError:
        """The stream holds no byte at all: not a cut archive, nothing was written (§2)."""
        if self.source.gzip:
            what = "the gzip data decompresses to nothing"
        elif self.source.name == "<stdin>":
            what = "the input is empty (nothing came on standard input)"
        else:
            what = "the file is empty"
        return TruncatedError(
            what,
            offset=0,
            hint="an archive starts with the magic number 6d e2 99 81; "
            "did the dump fail before it wrote anything?",
        )

    # -- small structures -------------------------------------------------
    def read_magic(self) -> bytes:
        """Consume and return the 4 magic bytes (checked by the caller)."""
        if not self.fill(4):
            if self.filled == 0:
                raise self.empty()
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
                hint=describe_bytes(self.peek(64)) if self.hints else None,
            )
        if not self.fill(size):
            raise self._truncated(what)
        if self.buf[self.pos + size - 1]:
            raise FramingError(
                f"{what} of {size} bytes does not end with a NUL byte",
                offset=self.offset,
                namespace=self.namespace,
                code="missing-nul",
                hint=describe_document(self._hint_data(size), self.offset, size) if self.hints else None,
            )
        return size

    def _hint_data(self, size: int) -> bytes:
        """The bytes ``describe_document`` gets: the whole document while the budget allows."""
        full = size + _MAX_SPLICE
        if self._hint_spent + full <= HINT_BUDGET + 4 * self.offset:
            self._hint_spent += full
            return self.peek(full)
        return self._hint_window(size)

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
