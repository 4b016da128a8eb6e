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

    def add(self, ns: Namespace, run: memoryview, count: int) -> None:
        """Queue ``count`` documents of ``ns``; ``run`` is copied (it may point into a reader's buffer)."""
        if len(run) >= LARGE:
            self._add_large(ns, run)
            return
        self._parts.append(run.tobytes())
        self._pending += len(run)
        if self._spans and self._spans[-1][0] == ns:
            self._spans[-1] = (ns, self._spans[-1][1] + count)
        else:
            self._spans.append((ns, count))
        if self._pending >= self._chunk:
            self.flush()

    def _add_large(self, ns: Namespace, run: memoryview) -> None:
        for a, b in split_run(run, 0, len(run)):
            if b - a < LARGE:
                self.add(ns, run[a:b], 1)
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
                raise
            for i in range(0, len(text), LARGE):
                self._out.write(text[i : i + LARGE].encode("utf-8", "surrogateescape"))
            del text
            self._out.write(b"\n")

    def flush(self) -> None:
        """Convert and write every pending document; raises the first conversion error (code bad-bson)."""
        parts, spans = self._parts, self._spans
        self._parts, self._spans, self._pending = [], [], 0
        if not parts or self._failed:
            return
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        del parts
        text, converted, error = lines(data, self._mode, self._use_bsonjs)
        del data
        self._out.write(text)
        if error is not None:
            self._failed = True
            exc = failure(error)
            for ns, count in spans:  # the namespace of the document that failed
                if converted < count:
                    exc.namespace = str(ns)
                    break
                converted -= count
            raise exc
