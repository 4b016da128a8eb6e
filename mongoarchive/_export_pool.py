"""Row groups of a Parquet or Arrow export converted in worker processes, written in order by the parent.

pymongoarrow holds the GIL while it builds columns, so threads cannot share
the conversion; processes can.  The parent still reads, frames and CRC-checks
the archive (spec/archive.md §2, §4) and cuts the row groups; each worker
turns one row group of raw BSON into an Arrow table with the columns the
parent fixed from the namespace's first row group, so the tables are those of
a one-process run.  The parent writes them in submission order, and at most
``in_flight`` row groups are out at once: memory stays bounded however far
the reader is ahead.  A namespace whose EOF block was read is published once
its last row group is written.  Workers are started with ``spawn`` (no fork
of a process holding pyarrow's threads) and ignore SIGINT: Ctrl-C reaches the
parent, which cancels what is queued and waits for the workers to exit.
"""

from __future__ import annotations

import collections
import signal
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .errors import ArchiveIOError, MongoArchiveError

__all__ = ["ConvertPool"]

#: Converters a worker keeps, one per namespace being exported (the oldest is dropped first).
_KEEP = 32
_converters: collections.OrderedDict[int, Any] = collections.OrderedDict()


def _start() -> None:
    """Worker start: SIGINT is the parent's to handle; pyarrow and pymongoarrow load once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ._arrow import import_arrow

    import_arrow()


def _ready() -> None:
    """Nothing: submitted once per worker so that each starts at once."""


def _convert(key: int, namespace: str, columns: Any, buf: bytes, spans: list[tuple[int, int]]) -> Any:
    """In a worker: (table, rows with ``_extra``) of one row group; errors are MongoArchiveErrors."""
    from ._arrow import Converter

    converter = _converters.get(key)
    if converter is None:
        converter = _converters[key] = Converter(namespace, columns)
        while len(_converters) > _KEEP:
            _converters.popitem(last=False)
    before = converter.extra_rows
    table = converter.convert_buffer(buf, spans)
    return table, converter.extra_rows - before


class ConvertPool:
    """Worker processes and the row groups they convert, in the order the parent gave them."""

    def __init__(self, jobs: int, in_flight: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # The parent converts one row group in ``jobs`` itself: it would otherwise wait, and each
        # worker costs a start (pyarrow's import) and two copies of its row group through a pipe.
        self._jobs = jobs
        self._turn = 0
        self._executor = ProcessPoolExecutor(
            max_workers=jobs - 1, mp_context=multiprocessing.get_context("spawn"), initializer=_start
        )
        self._limit = max(1, in_flight)
        self._queue: collections.deque[tuple[Any, Any]] = collections.deque()  # (writer, future)
        self._pending: collections.Counter[int] = collections.Counter()  # id(writer) -> row groups out
        self._closing: dict[int, tuple[Any, Callable[[], None]]] = {}
        self._keys = 0
        # Start every worker now: each loads pyarrow while the parent opens the archive and fills
        # its first row group, not when the first row group is ready.
        for _ in range(jobs - 1):
            self._executor.submit(_ready)

    def key(self) -> int:
        """A new converter identity, one per writer."""
        self._keys += 1
        return self._keys

    def submit(self, writer: Any, buf: bytes, spans: list[tuple[int, int]]) -> None:
        """Queue one row group of ``writer``; first write the oldest while ``in_flight`` are out."""
        while len(self._queue) >= self._limit:
            self._settle_one()
        conv = writer.converter
        self._turn = (self._turn + 1) % self._jobs
        if self._turn == 0:  # the parent's share, queued like the others to be written in order
            future: Any = Future()
            before = conv.extra_rows
            try:
                future.set_result((conv.convert_buffer(buf, spans), conv.extra_rows - before))
            except MongoArchiveError as exc:  # raised in its turn, as a worker's would be
                future.set_exception(exc)
        else:
            try:
                future = self._executor.submit(_convert, writer.key, conv.namespace, conv.columns, buf, spans)
            except RuntimeError as exc:  # BrokenProcessPool is a RuntimeError
                raise _broken(exc) from exc
        self._queue.append((writer, future))
        self._pending[id(writer)] += 1

    def pending(self, writer: Any) -> int:
        return self._pending[id(writer)]

    def finish_later(self, writer: Any, finish: Callable[[], None]) -> None:
        """Call ``finish`` once every row group of ``writer`` is written (now if none is out)."""
        if self._pending[id(writer)] == 0:
            finish()
        else:
            self._closing[id(writer)] = (writer, finish)

    def settle(self, writer: Any | None = None) -> None:
        """Write what is out: everything, or up to the last row group of ``writer``."""
        while self._queue and (writer is None or self._pending[id(writer)]):
            self._settle_one()

    def _settle_one(self) -> None:
        writer, future = self._queue.popleft()
        self._pending[id(writer)] -= 1
        try:
            table, extra = future.result()
        except MongoArchiveError:
            raise
        except Exception as exc:  # a worker died (killed, out of memory): no other error escapes
            raise _broken(exc) from exc
        writer.take(table, extra)
        if self._pending[id(writer)] == 0:
            del self._pending[id(writer)]
            closing = self._closing.pop(id(writer), None)
            if closing is not None:
                try:
                    closing[1]()
                except BaseException:
                    writer.abort()  # its partial output must not stay behind
                    raise

    def rescue(self, keep: bool) -> list[Any]:
        """After an error: finish the namespaces already verified (when ``keep``), drop the rest.

        Returns the writers that were waiting to be finished and could not be,
        for the caller to abort.
        """
        failed: list[Any] = []
        while self._queue:
            writer, future = self._queue[0]
            if keep and id(writer) in self._closing:
                try:
                    self._settle_one()
                except BaseException:
                    self._closing.pop(id(writer), None)
                    failed.append(writer)
                    keep = False  # an interrupt or a dead worker: stop waiting
                continue
            self._queue.popleft()
            future.cancel()
            self._pending[id(writer)] -= 1
        failed.extend(w for w, _ in self._closing.values())
        self._closing.clear()
        return failed

    def close(self) -> None:
        """Cancel what is queued and wait until every worker has exited."""
        for _, future in self._queue:
            future.cancel()
        self._queue.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)


def _broken(exc: BaseException) -> ArchiveIOError:
    return ArchiveIOError(
        f"a conversion worker process ended unexpectedly ({type(exc).__name__}: {exc})",
        hint="run again with --jobs 1 to convert in one process",
    )
