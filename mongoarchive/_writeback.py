"""Writing a large output file from a second thread, so reading and writing overlap.

A sink that writes a regular file hands its bytes to one ``BackgroundWriter``
once the output is large (``AtomicSink``): the thread makes the ``write``
calls, which release the GIL, while the caller goes on reading and checking
the input.  Order is kept (one thread, a FIFO), the bytes in flight are
bounded (memory stays flat, spec/archive.md §8), and an error of the thread is
raised by the caller's next call, so nothing is committed after a failed write.
Bytes objects are queued as they are; a view or bytearray (the reader's
buffer, reused at once) is copied into one of a few slots allocated once:
a fresh object per piece costs more in page faults than the copy itself.

The thread also starts the disk's writeback every ``WRITEBACK_STEP`` bytes:
the sink syncs the file before renaming it (§9), and that sync would
otherwise wait for the whole output at once, after all the reading.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Any

__all__ = ["IN_FLIGHT", "WRITEBACK_STEP", "BackgroundWriter"]

#: Bytes handed over and not yet written, at most (one larger piece may wait alone).
IN_FLIGHT = 8 << 20
#: Slots for copied pieces, and their size; a larger piece is written by the caller.
SLOTS = 4
SLOT_SIZE = 2 << 20
#: The file's written bytes are handed to the disk in steps of this size.
WRITEBACK_STEP = 32 << 20


class BackgroundWriter:
    """Writes pieces of bytes to ``out`` from one thread, in order; ``raw`` is the file beneath."""

    def __init__(self, out: Any, raw: Any, limit: int = IN_FLIGHT) -> None:
        self._out = out
        self._raw = raw
        self._limit = limit
        self._cond = threading.Condition()
        self._items: deque[tuple[Any, int]] = deque()  # (bytes or slot, length)
        self._free: list[bytearray] = []
        self._slots = 0  # slots allocated so far
        self._pending = 0  # bytes in _items
        self._error: OSError | None = None
        self._stopping = False
        self._hinted = 0  # file offset up to which writeback was started
        self._unhinted = 0
        self._thread = threading.Thread(target=self._run, name="mongoarchive-write", daemon=True)
        self._thread.start()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` (copied unless it is bytes); raises the thread's OSError."""
        n = len(data)
        if type(data) is not bytes and n > SLOT_SIZE:
            self.drain()  # order: everything queued goes first
            self._out.write(data)
            return
        with self._cond:
            while self._pending and self._pending + n > self._limit and self._error is None:
                self._cond.wait()
            if type(data) is not bytes:
                while not self._free and self._slots == SLOTS and self._error is None:
                    self._cond.wait()
            if self._error is not None:
                raise self._error
            if type(data) is bytes:
                item: tuple[Any, int] = (data, n)
            else:
                if self._free:
                    slot = self._free.pop()
                else:
                    slot = bytearray(SLOT_SIZE)
                    self._slots += 1
                slot[:n] = data
                item = (slot, n)
            self._items.append(item)
            self._pending += n
            self._cond.notify_all()

    def drain(self) -> None:
        """Wait until every queued piece is written; raises the thread's OSError."""
        with self._cond:
            while self._pending and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error

    def stop(self, *, discard: bool = False) -> None:
        """End the thread: after the queue is written, or at once dropping it (``discard``)."""
        with self._cond:
            if discard:
                self._items.clear()
                self._pending = 0
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if not self._items:
                    return
                data, n = self._items[0]
            try:
                if type(data) is bytes:
                    self._out.write(data)
                else:
                    with memoryview(data) as view, view[:n] as piece:
                        self._out.write(piece)
                self._unhinted += n
                if self._unhinted >= WRITEBACK_STEP:
                    self._start_writeback()
            except OSError as exc:
                with self._cond:
                    self._error = exc
                    self._items.clear()
                    self._pending = 0
                    self._cond.notify_all()
                return
            with self._cond:
                if self._items:  # not cleared by a discarding stop meanwhile
                    self._items.popleft()
                    self._pending -= n
                if type(data) is bytearray:
                    self._free.append(data)
                self._cond.notify_all()

    def _start_writeback(self) -> None:
        # Linux starts the writeback of a range on POSIX_FADV_DONTNEED without waiting
        # for it (pages already on disk are dropped: a backup need not stay cached).
        self._unhinted = 0
        advise = getattr(os, "posix_fadvise", None)
        if advise is None:
            return
        self._raw.flush()
        end = self._raw.tell()
        if end > self._hinted:
            advise(self._raw.fileno(), self._hinted, end - self._hinted, os.POSIX_FADV_DONTNEED)
            self._hinted = end
