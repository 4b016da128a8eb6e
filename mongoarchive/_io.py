"""Byte sources: paths, URLs (``_remote``), binary file objects, "-" (stdin), gzip; sinks live in ``_sink``.

Nothing here seeks: a source is read front to back once, so pipes and stdin
work (spec/archive.md §8).  gzip is sniffed from the first two bytes (1f 8b)
and decompressed with isal; sniffing keeps the bytes it looked at.  Nothing here imports ``_sink``: a
verb that only reads starts without the writing machinery.
"""

from __future__ import annotations

import io
import os
import select
import stat
import sys
import threading
from typing import IO, Any, Protocol

from ._remote import RemoteReader, is_url
from ._text import plural
from .errors import ArchiveIOError

__all__ = ["GZIP_MAGIC", "Source", "open_source", "is_gzip"]

#: The first two bytes of every gzip member (RFC 1952 §2.3.1).
GZIP_MAGIC = b"\x1f\x8b"
PathLike = str | os.PathLike[str]


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Source:
    """A forward-only byte stream with ``readinto``; knows whether it was gzip."""

    def __init__(self, raw: Any, *, close_raw: bool, gzip: bool | None, name: str) -> None:
        self.name = name
        self._raw = raw = _unbuffered_stdin(raw)
        self._close_raw = close_raw
        head = self._read_raw(2)
        is_gz = head[:2] == GZIP_MAGIC if gzip is None else gzip
        self.gzip = is_gz
        prefixed = _Prefixed(raw, head)
        self._inner: _Prefixed | _Gunzip = _Gunzip(prefixed) if is_gz else prefixed

    def _read_raw(self, n: int) -> bytes:
        out = b""
        try:
            while len(out) < n:
                chunk = self._raw.read(n - len(out))
                if not chunk:
                    break
                out += chunk
        except OSError as exc:
            raise ArchiveIOError(f"cannot read {self.name}: {exc}") from exc
        return out

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf`` with up to len(buf) bytes; 0 means end of stream."""
        try:
            return self._inner.readinto(buf)
        except OSError as exc:
            raise ArchiveIOError(f"cannot read {self.name}: {exc}") from exc

    def close(self) -> None:
        self._inner.close()  # the inflating thread first: it reads ``raw``
        try:
            if self._close_raw:
                self._raw.close()
        except OSError as exc:
            raise ArchiveIOError(f"cannot close {self.name}: {exc}") from exc


def _unbuffered_stdin(raw: Any) -> Any:
    """Standard input's file descriptor itself (``FileIO``) in place of its buffered reader.

    The inflating thread may sit in a read of a silent pipe when the process
    exits (Ctrl-C); an interpreter that finds a daemon thread holding the
    buffered reader's lock at shutdown aborts ("could not acquire lock").
    Nothing has read standard input yet, so its buffer is empty and no byte
    is lost; ``FileIO`` reads return as soon as a pipe has bytes.
    """
    stdin = sys.stdin
    buffer = getattr(stdin, "buffer", None) if stdin is not None else None
    if raw is buffer and isinstance(raw, io.BufferedReader):
        raw = raw.raw
        if os.name == "posix" and not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            return _Interruptible(raw)
    return raw


class _Interruptible:
    """A pipe or terminal read that waits in short ``select`` calls, so that a signal always stops it.

    A signal goes to any thread that does not block it; when pyarrow's or the
    object store's threads take Ctrl-C or SIGTERM, a main thread asleep in
    ``read`` of a silent pipe never wakes to run Python's handler.  Between
    two waits the interpreter runs it.
    """

    _WAIT = 0.2  # seconds: how late an interrupt may be noticed

    def __init__(self, raw: io.FileIO) -> None:
        self._raw = raw
        self._fd = raw.fileno()

    def _wait(self) -> None:
        while not select.select([self._fd], [], [], self._WAIT)[0]:
            pass

    def readinto(self, buf: memoryview | bytearray) -> int:
        self._wait()
        return self._raw.readinto(buf) or 0

    def read(self, n: int = -1, /) -> bytes:
        self._wait()
        return self._raw.read(n) or b""

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()


class _GzipTruncated(Exception):
    """The gzip member ends early (turned into TruncatedError by the framer)."""


class _GzipCorrupt(Exception):
    """The gzip data is damaged (turned into FramingError by the framer)."""


class _GzipTrailing(Exception):
    """Bytes that are not a gzip member follow a complete member (TrailingDataError in the framer)."""

    def __init__(self, offset: int, size: int, sample: bytes) -> None:
        super().__init__(
            f"{plural(size, 'byte')} after the gzip data at byte {offset} of the compressed file"
        )
        #: Where the trailing bytes start in the compressed file, how many there are, the first of them.
        self.offset = offset
        self.size = size
        self.sample = sample


class _Prefixed:
    """Serves ``head`` first, then the rest of ``raw``; never seeks."""

    def __init__(self, raw: _Readable, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._raw, "readinto", None)
        if readinto is not None:
            return int(readinto(view) or 0)
        data = self._raw.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._raw.read(n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        return None


class _Gunzip:
    """Inflates gzip members (RFC 1952) with isal, at most ``_OUT`` bytes per step.

    Driving the decompressor by hand, rather than through a gzip file object,
    keeps every byte inflated before damage or a cut (so offsets in errors are
    exact), bounds the memory a gzip bomb can take, and reads concatenated
    members as one stream, as gunzip does (§8).

    The inflating runs in a second thread (``_Inflater``), a bounded queue of
    chunks ahead of the framer: isal releases the GIL while it inflates, so
    decompression and framing overlap.  What the thread meets (damage, a cut,
    trailing bytes, a read error) is queued after every byte inflated before
    it and raised here in turn, so errors are the same as in one thread.
    """

    #: Inflated chunks (each at most ``_Inflater.OUT`` bytes) the thread may hold ahead of the reader.
    AHEAD = 4

    def __init__(self, raw: _Prefixed) -> None:
        self._inflater = _Inflater(raw)
        self._thread: threading.Thread | None = None
        self._out = memoryview(b"")
        self._failed: BaseException | None = None  # damage is final: every later read raises it
        self._done = False

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._inflater.run, name="mongoarchive-gunzip", daemon=True)
        self._thread.start()

    def readinto(self, buf: memoryview) -> int:
        while not self._out:
            if self._failed is not None:
                raise self._failed
            if self._done:
                return 0
            if self._thread is None:
                self._start()
            item = self._inflater.get()
            if isinstance(item, BaseException):
                if isinstance(item, _End):
                    self._done = True
                    return 0
                self._failed = item
                raise item
            self._out = memoryview(item)
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        """Stop the thread and wait for it; safe to call twice."""
        self._inflater.stop()
        thread, self._thread = self._thread, None
        if thread is not None:
            # The thread stops at its next step; a read blocked in the kernel (a pipe
            # whose writer is silent) cannot be cut short: it is a daemon and reads no more.
            thread.join(_JOIN_SECONDS)
        self._out = memoryview(b"")
        if self._failed is None and not self._done:
            # A read after close must fail, not wait for a thread that is gone (Source
            # turns this into ArchiveIOError "cannot read NAME").
            self._failed = OSError("the source was closed")

    def __del__(self) -> None:
        # A reader dropped without close: the thread must not wait on a full queue forever.
        self._inflater.stop()


#: How long close waits for the inflating thread before leaving it (a daemon) behind.
_JOIN_SECONDS = 1.0


class _End(Exception):
    """Queued after the last chunk when the gzip data ends cleanly."""


class _Inflater:
    """The inflating loop of ``_Gunzip``, run in its own thread; hands chunks over a bounded queue."""

    _IN = 1 << 16
    OUT = 1 << 20

    def __init__(self, raw: _Prefixed) -> None:
        from isal import isal_zlib  # only gzip input needs it

        self._decompressobj = isal_zlib.decompressobj
        self._raw = raw
        self._inflate = isal_zlib.decompressobj(wbits=31)  # 16 + 15: gzip wrapper, 32 KiB window
        self._read = 0  # compressed bytes read so far, for offsets in the compressed file
        self._chunks: list[bytes | BaseException] = []
        self._ready = threading.Condition(threading.Lock())
        self._stopped = False

    # -- the consumer's side ------------------------------------------------------------
    def get(self) -> bytes | BaseException:
        """The next chunk, or the exception that ends the stream (``_End`` for a clean end)."""
        with self._ready:
            while not self._chunks:
                self._ready.wait()
            item = self._chunks.pop(0)
            self._ready.notify_all()
            return item

    def stop(self) -> None:
        """Make the thread return at its next step, and drop what it queued (bounded: §8)."""
        with self._ready:
            self._stopped = True
            self._chunks.clear()
            self._ready.notify_all()

    # -- the thread's side --------------------------------------------------------------
    def _put(self, item: bytes | BaseException) -> bool:
        """Queue ``item`` once there is room; False when the reader stopped us."""
        with self._ready:
            while len(self._chunks) >= _Gunzip.AHEAD and not self._stopped:
                self._ready.wait()
            if self._stopped:
                return False
            self._chunks.append(item)
            self._ready.notify_all()
            return True

    def run(self) -> None:
        """Inflate until the end, damage or ``stop``; every outcome is queued, never raised."""
        try:
            while not self._stopped:
                chunk = self._inflate_more()
                if chunk is None:
                    self._put(_End())
                    return
                if chunk and not self._put(chunk):
                    return
        except BaseException as exc:
            self._put(exc)

    def _read_raw(self) -> bytes:
        data = self._raw.read(self._IN)
        self._read += len(data)
        return data

    def _inflate_more(self) -> bytes | None:
        """Inflate some more; None at a clean end after a complete member."""
        inflate = self._inflate
        if inflate.eof:
            rest = inflate.unused_data
            while len(rest) < 2:
                more = self._read_raw()
                if not more:
                    break
                rest += more
            if not rest:
                return None
            if not rest.startswith(GZIP_MAGIC):
                # A complete member, then something else (text appended to the file, say):
                # trailing data, not damage of the compressed archive (§8).  gunzip warns
                # "trailing garbage ignored"; a reader must not accept it silently.
                start = self._read - len(rest)
                sample = rest[:64]
                size = len(rest)
                while not self._stopped and (more := self._read_raw()):  # count the rest; not kept
                    size += len(more)
                raise _GzipTrailing(start, size, sample)
            self._inflate = inflate = self._decompressobj(wbits=31)
            data = rest
        else:
            data = inflate.unconsumed_tail or self._read_raw()
            if not data:
                raise _GzipTruncated("the gzip data ends before its end-of-stream marker")
        try:
            return bytes(inflate.decompress(data, self.OUT))
        except Exception as exc:  # isal_zlib.error: bad deflate data or trailer CRC
            raise _GzipCorrupt(str(exc)) from exc


def open_source(src: PathLike | IO[bytes] | Any, *, gzip: bool | None = None) -> Source:
    """Open a path, an object-storage URL, ``"-"`` (stdin) or a binary file object for reading."""
    if isinstance(src, str) and src == "-":
        return Source(sys.stdin.buffer, close_raw=False, gzip=gzip, name="<stdin>")
    if is_url(src):  # s3://, gs://, az://, https:// (docs/object-storage.md)
        remote = RemoteReader(src)
        return Source(remote, close_raw=True, gzip=gzip, name=remote.name)
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        try:
            raw = open(name, "rb", buffering=0)  # noqa: SIM115 - closed by Source.close
        except OSError as exc:
            raise ArchiveIOError(f"cannot open {name}: {exc.strerror or exc}") from exc
        return Source(raw, close_raw=True, gzip=gzip, name=name)
    if not hasattr(src, "read"):
        raise ArchiveIOError(f"cannot read from {type(src).__name__}: need a path or a binary file")
    return Source(src, close_raw=False, gzip=gzip, name=str(getattr(src, "name", "<stream>")))


def is_gzip(head: bytes) -> bool:
    return head[:2] == GZIP_MAGIC
