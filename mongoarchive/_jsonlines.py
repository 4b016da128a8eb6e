"""Extended JSON lines of framed document runs, written in stream order and in batches.

Runs of documents are gathered until about ``CHUNK`` bytes are pending, then
converted by one call of ``_extjson.lines`` and written with one write: no
per-document write or object beyond the converter's own.  A document of
``LARGE`` bytes or more is converted alone once everything before it is
written, and its line leaves in one write when the compiled converter takes
it (its bytes and its text), else in slices of ``LARGE`` characters: its
bytes, its text and one slice, never a second copy of the whole line.

(Worker processes were measured too: on the 2-core build machine, under the
load of other work, moving each 1 MiB run and its 2 MiB of text through a pipe
cost more than the conversion saved: 7.7 s against 3.3 s for 500,000
documents, docs/performance.md.)
"""

from __future__ import annotations

import bisect
import struct
from typing import BinaryIO

from ._extjson import compiled_line, converter, failure, lines
from ._framing import split_run
from .errors import MongoArchiveError
from .model import Namespace

__all__ = ["CHUNK", "LARGE", "JsonLines"]

#: Bytes of documents converted and written at once.
CHUNK = 1 << 20
#: Documents this large are converted alone and written in slices of this many characters.
LARGE = 1 << 20


class JsonLines:
    """Takes framed runs of documents and writes their Extended JSON lines to ``out``, in order."""

    def __init__(self, out: BinaryIO, mode: str, use_bsonjs: bool, *, chunk: int = CHUNK) -> None:
        self._out = out
        self._mode = mode
        self._use_bsonjs = use_bsonjs
        self._chunk = chunk
        self._failed = False
        self._parts: list[bytes] = []
        self._pending = 0
        self._spans: list[tuple[Namespace, int]] = []  # (namespace, documents) pending, in order
        self._starts: list[int] = []  # where each pending piece starts in the batch
        self._offsets: list[int | None] = []  # and its archive offset, when the caller knows it

    @property
    def pending(self) -> int:
        """Bytes of documents queued and not yet written."""
        return self._pending

    def add(self, ns: Namespace, run: memoryview, count: int, offset: int | None = None) -> None:
        """Queue ``count`` documents of ``ns``; ``run`` is copied (it may point into a reader's buffer).

        ``offset``: the archive offset of ``run``, so that an error names its document's.
        """
        if len(run) >= LARGE:
            self._add_large(ns, run, offset)
            return
        self._starts.append(self._pending)
        self._offsets.append(offset)
        self._parts.append(run.tobytes())
        self._pending += len(run)
        if self._spans and self._spans[-1][0] == ns:
            self._spans[-1] = (ns, self._spans[-1][1] + count)
        else:
            self._spans.append((ns, count))
        if self._pending >= self._chunk:
            self.flush()

    def _add_large(self, ns: Namespace, run: memoryview, offset: int | None) -> None:
        for a, b in split_run(run, 0, len(run)):
            if b - a < LARGE:
                self.add(ns, run[a:b], 1, None if offset is None else offset + a)
                continue
            self.flush()
            raw = run[a:b].tobytes()
            line = compiled_line(raw, self._mode)
            if line is not None:
                self._out.write(line)
                continue
            try:
                text = converter(self._mode, use_bsonjs=self._use_bsonjs)(raw)  # type: ignore[arg-type]
            except MongoArchiveError as exc:
                self._failed = True
                exc.namespace = str(ns)
                exc.offset = None if offset is None else offset + a
                raise
            for i in range(0, len(text), LARGE):
                self._out.write(text[i : i + LARGE].encode("utf-8", "surrogateescape"))
            del text
            self._out.write(b"\n")

    def flush(self) -> None:
        """Convert and write every pending document; raises the first conversion error (code bad-bson)."""
        parts, spans, starts, offsets = self._parts, self._spans, self._starts, self._offsets
        self._parts, self._spans, self._starts, self._offsets, self._pending = [], [], [], [], 0
        if not parts or self._failed:
            return
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        del parts
        text, converted, error = lines(data, self._mode, self._use_bsonjs)
        self._out.write(text)
        del text
        if error is not None:
            self._failed = True
            exc = failure(error)
            pos = 0  # where the document that failed starts in the batch
            for _ in range(converted):
                pos += struct.unpack_from("<i", data, pos)[0]
            i = bisect.bisect_right(starts, pos) - 1
            at = offsets[i]
            exc.offset = None if at is None else at + pos - starts[i]
            for ns, count in spans:  # its namespace
                if converted < count:
                    exc.namespace = str(ns)
                    break
                converted -= count
            raise exc
