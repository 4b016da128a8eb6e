"""Byte sinks: where a written archive goes (a path, a binary file object, "-").

A regular file (or a path that does not exist yet) is written atomically: the
bytes go to a hidden partial file beside the target, which is flushed to disk
and renamed over the target only when the archive is complete (§9), so a
reader never sees a short archive under the final name.  The partial file is
named ``.NAME.mongoarchive-partial.PID.XXXXXXXX`` (PID: the writing process);
one left by a killed writer is removed by the next write to the same path.

A FIFO, a character device (``/dev/null``, a terminal) and ``/dev/stdout``-like
paths (``/dev/fd/N``, ``/proc/...``) are written through: nothing can be
renamed over them, and replacing one would cut off its reader.  Any other
kind of file (directory, socket, block device) is refused.  A symbolic link
is followed: its target is written (created, for a dangling link).

New files get mode ``0666 & ~umask``, as mongodump's; a replaced file keeps
its permission bits.

An ``s3://``, ``gs://`` or ``az://`` URL is a multipart upload (``_remote``):
commit completes it, abort aborts it, so the object appears only whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
from typing import IO, Any

from ._remote import RemoteWriter, is_url, validate_url
from ._writeback import BackgroundWriter
from .errors import ArchiveIOError, UsageError

__all__ = [
    "DEFAULT_GZIP_LEVEL",
    "GZIP_LEVELS",
    "PARTIAL_MARK",
    "AtomicSink",
    "check_gzip_level",
    "gzip_level",
    "open_sink",
    "partial_name",
    "validate_target",
]

PathLike = str | os.PathLike[str]

#: What every partial file's name holds, between ".NAME" and ".PID.RANDOM".
PARTIAL_MARK = ".mongoarchive-partial."

#: Paths that name an already open file descriptor: always written through.
_FD_PREFIXES = ("/dev/fd/", "/dev/stdout", "/dev/stderr", "/proc/")

_THROUGH = "through"
_ATOMIC = "atomic"

#: The levels isal's deflate has: 0 is its fastest (hardly compresses), 3 its smallest.
GZIP_LEVELS = range(4)

#: Written gzip's level: measured the fastest of isal's levels at the same size (docs/performance.md).
DEFAULT_GZIP_LEVEL = 1


def check_gzip_level(level: object) -> int:
    """``level`` if it is one of isal's levels (0 to 3); UsageError otherwise."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in GZIP_LEVELS:
        raise UsageError(
            f"gzip level {level!r} is not one of 0, 1, 2, 3",
            hint=f"isal has levels 0 (fastest) to 3 (smallest); the default is {DEFAULT_GZIP_LEVEL}",
        )
    return level


def gzip_level(level: int | None) -> int:
    """The level a ``gzip_level=`` keyword asks for: None is the default; checked as ``check_gzip_level``."""
    return DEFAULT_GZIP_LEVEL if level is None else check_gzip_level(level)


#: Bytes a regular file gets from the caller's thread before a BackgroundWriter takes over.
BACKGROUND_AFTER = 8 << 20


def partial_name(target: str, pid: int | None = None) -> str:
    """A fresh partial file name for ``target`` (same directory)."""
    folder, base = os.path.split(target)
    import secrets  # a random name only when a file is written: readers start without it

    pid = os.getpid() if pid is None else pid
    return os.path.join(folder, f".{base}{PARTIAL_MARK}{pid}.{secrets.token_hex(4)}")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _resolve(path: str) -> tuple[str, str, os.stat_result | None]:
    """(how, path to open, stat of the existing target or None) for an output path.

    ``how`` is "atomic" (partial file, then rename) or "through" (open and write).
    """
    absolute = os.path.abspath(path)
    real = os.path.realpath(path)  # follows every link; a dangling one gives its target
    if absolute.startswith(_FD_PREFIXES) or real.startswith(_FD_PREFIXES):
        return _THROUGH, path, None
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return _ATOMIC, real, None
    except OSError as exc:
        raise ArchiveIOError(f"cannot use {path} as output: {exc.strerror or exc}") from exc
    if stat.S_ISREG(st.st_mode):
        return _ATOMIC, real, st
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        return _THROUGH, real, st
    raise ArchiveIOError(
        f"refusing to replace {path}: it is {_kind(st.st_mode)}",
        hint="name a regular file (written atomically), a FIFO or a character device",
    )


def validate_target(dst: PathLike | IO[bytes] | Any) -> None:
    """Raise ArchiveIOError now if a sink for ``dst`` could not be opened; writes nothing.

    For callers that produce their output late (after reading or connecting),
    so a bad output path fails before any work is done.
    """
    if is_url(dst):
        validate_url(dst)
        return
    if not isinstance(dst, (str, os.PathLike)) or os.fspath(dst) == "-":
        return
    path = os.fspath(dst)
    how, target, _ = _resolve(path)
    if how == _THROUGH:
        return
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise ArchiveIOError(
            f"cannot create {path}: No such directory {folder}", hint="create the directory first"
        )
    if not os.access(folder, os.W_OK):
        raise ArchiveIOError(f"cannot create {path}: Permission denied", hint="write it elsewhere")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def remove_stale_partials(target: str) -> list[str]:
    """Remove partial files of ``target`` whose writing process is gone; return their paths.

    Only names of exactly our pattern are touched, only regular files, and
    never one whose process (on this machine) is alive.
    """
    folder, base = os.path.split(target)
    pattern = re.compile(re.escape(f".{base}{PARTIAL_MARK}") + r"(\d+)\.[0-9a-f]{8}")
    removed: list[str] = []
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        full = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(full).st_mode):
                os.unlink(full)
                removed.append(full)
    return removed


def _write_hint(exc: OSError, name: str) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space on that device or write elsewhere"
    if exc.errno == errno.EPIPE:
        return f"the reader of {name} exited before the archive was complete"
    return "check the output path and its permissions"


def data_stdout() -> Any:
    """Standard output for archive bytes.

    The command line may wrap stdout so that a closed pipe only stops its
    report text (``unguarded`` is then the real stream); for an archive a
    closed pipe is an error, the reader has a cut archive.
    """
    buf = sys.stdout.buffer
    return getattr(buf, "unguarded", buf)


class AtomicSink:
    """A binary sink; a regular file is written to a partial file renamed on commit.

    If ``abort`` is called instead (an exception escaped the writer), the
    partial file is removed, so no complete-looking archive is left.
    """

    def __init__(
        self, dst: PathLike | IO[bytes] | Any, *, gzip: bool, level: int = DEFAULT_GZIP_LEVEL
    ) -> None:
        if gzip:
            check_gzip_level(level)  # before anything is created
        self._path: str | None = None
        self._tmp: str | None = None
        self._close_raw = False
        self._sync = False
        self._written = 0  # bytes written from the caller's thread
        self._background: BackgroundWriter | None = None
        raw: Any
        if isinstance(dst, str) and dst == "-":
            raw = data_stdout()
            self.name = "stdout"
        elif is_url(dst):  # a multipart upload, completed on commit (docs/object-storage.md)
            raw = RemoteWriter(dst)
            self.name = raw.label
            self._close_raw = True
        elif isinstance(dst, (str, os.PathLike)):
            raw = self._open_path(os.fspath(dst))
            self._close_raw = True
        elif hasattr(dst, "write"):
            raw = dst
            self.name = str(getattr(dst, "name", "<stream>"))
        else:
            raise ArchiveIOError(f"cannot write to {type(dst).__name__}: need a path or a binary file")
        self._raw = raw
        self._out: Any = raw
        if gzip:
            # mtime=0 keeps the output deterministic.
            from isal import igzip

            gz = igzip.IGzipFile  # untyped in isal
            self._out = gz(fileobj=raw, mode="wb", compresslevel=level, mtime=0)  # type: ignore[no-untyped-call]
        self.gzip = gzip

    def _open_path(self, path: str) -> Any:
        self.name = path
        how, target, st = _resolve(path)
        try:
            if how == _THROUGH:
                # No O_CREAT: the FIFO or device exists; O_TRUNC is ignored by both (POSIX).
                fd = os.open(target, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
                return os.fdopen(fd, "wb")
            remove_stale_partials(target)
            fd = self._create_partial(target)
        except OSError as exc:
            raise ArchiveIOError(
                f"cannot create {path}: {exc.strerror or exc}", hint="check the directory and its permissions"
            ) from exc
        try:
            if st is not None:  # a replaced file keeps its permission bits
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            handle = os.fdopen(fd, "wb")
        except OSError as exc:
            os.close(fd)
            self.abort()
            raise ArchiveIOError(f"cannot create {path}: {exc.strerror or exc}") from exc
        self._path = target
        self._sync = True
        return handle

    def _create_partial(self, target: str) -> int:
        # os.open with 0o666 lets the kernel apply the umask (tempfile.mkstemp forces 0600).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        for _ in range(100):
            name = partial_name(target)
            try:
                fd = os.open(name, flags, 0o666)
            except FileExistsError:
                continue
            self._tmp = name
            return fd
        raise FileExistsError(errno.EEXIST, "no free partial file name", target)

    def _failed(self, exc: OSError, what: str) -> ArchiveIOError:
        return ArchiveIOError(
            f"cannot {what} {self.name}: {exc.strerror or exc}", hint=_write_hint(exc, self.name)
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data``; the caller may reuse its buffer at once."""
        try:
            if self._background is not None:
                self._background.write(data)
                return
            self._out.write(data)
            if self._sync:
                # A large regular file is written from a second thread (_writeback).
                self._written += len(data)
                if self._written >= BACKGROUND_AFTER:
                    self._background = BackgroundWriter(self._out, self._raw)
        except OSError as exc:
            raise self._failed(exc, "write to") from exc

    def _stop_background(self, *, discard: bool = False) -> None:
        background, self._background = self._background, None
        if background is not None:
            background.stop(discard=discard)

    def flush(self) -> None:
        """Flush what is buffered (not to disk: ``commit`` does that)."""
        try:
            if self._background is not None:
                self._background.drain()
            self._out.flush()
        except OSError as exc:
            raise self._failed(exc, "write to") from exc

    def commit(self) -> None:
        """Flush and close; for a regular file, sync it and move it into place."""
        try:
            if self._background is not None:
                self._background.drain()
                self._stop_background()
            if self.gzip:
                self._out.close()
            if self._sync:
                # On disk before the rename, and the rename on disk after it: a crash
                # can leave the old file or the new one, never a short one (§9).
                self._raw.flush()
                os.fsync(self._raw.fileno())
            if self._close_raw:
                self._raw.close()
            else:
                self._raw.flush()
            if self._tmp is not None and self._path is not None:
                os.replace(self._tmp, self._path)
                self._tmp = None
                _fsync_directory(os.path.dirname(self._path))
        except OSError as exc:
            self.abort()
            raise self._failed(exc, "finish") from exc

    def abort(self) -> None:
        """Drop a partial file or upload; on a stream, close what we opened and stop."""
        self._stop_background(discard=True)
        try:
            if isinstance(self._raw, RemoteWriter):
                self._raw.abort()  # closing would complete the upload
            elif self._close_raw:
                self._raw.close()
        except (OSError, AttributeError):
            pass
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


def _fsync_directory(folder: str) -> None:
    """Make a rename in ``folder`` durable; a file system without directory sync is let be."""
    fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def open_sink(dst: PathLike | IO[bytes] | Any, *, gzip: bool, level: int | None = None) -> AtomicSink:
    """An AtomicSink for a path, an object-storage URL, "-" (stdout) or a binary file object.

    The one way to get a writable destination that appears only when complete:
    ``write`` and ``commit`` on success, ``abort`` on any exception.  ``level``:
    the gzip level (None: ``DEFAULT_GZIP_LEVEL``).
    """
    return AtomicSink(dst, gzip=gzip, level=gzip_level(level))
