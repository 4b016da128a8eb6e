"""Helpers shared by the verbs: input files with a progress bar, stdout, output format, messages.

Results go to stdout, progress and diagnostics to stderr (a pipe reading our
output never sees a progress bar); colour and bars only on a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from .._remote import RemoteReader, is_url, redact_text, shown
from .._text import printable
from ..errors import ArchiveIOError, MongoArchiveError, UsageError

__all__ = [
    "StdoutGuard",
    "add_format_argument",
    "add_gzip_level_argument",
    "output_gzip",
    "add_input_arguments",
    "add_ns_arguments",
    "error_line",
    "guard_stdout",
    "input_paths",
    "warning_line",
    "is_terminal",
    "open_input",
    "quiet",
    "refuse_binary_terminal",
    "verbosity",
]

#: Copies of ``_sink.GZIP_LEVELS`` and ``DEFAULT_GZIP_LEVEL``: building a parser loads no sink
#: (tests/test_startup.py checks that they agree).
GZIP_LEVELS = (0, 1, 2, 3)
DEFAULT_GZIP_LEVEL = 1

#: Files smaller than this are read too fast for a progress bar to help.
PROGRESS_MIN_BYTES = 8 * 1024 * 1024


def is_terminal(stream: Any) -> bool:
    """True if ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def verbosity(args: argparse.Namespace) -> int:
    """-v adds one, -q removes one: 0 is normal."""
    return int(getattr(args, "verbose", 0) or 0) - int(getattr(args, "quiet", 0) or 0)


def quiet(args: argparse.Namespace) -> bool:
    return verbosity(args) < 0


def _gzip_level(text: str) -> int:
    if text.strip() not in [str(level) for level in GZIP_LEVELS]:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a gzip level: give 0 (fastest) to 3 (smallest), "
            f"{DEFAULT_GZIP_LEVEL} is the default"
        )
    return int(text)


def add_gzip_level_argument(parser: Any, what: str = "the output") -> None:
    """--gzip-level N (0 to 3); giving it asks for gzip (see ``output_gzip``)."""
    parser.add_argument(
        "--gzip-level",
        type=_gzip_level,
        default=None,
        metavar="N",
        help=f"gzip {what} at level N, 0 fastest to 3 smallest (default {DEFAULT_GZIP_LEVEL}); means --gzip",
    )


def output_gzip(args: argparse.Namespace) -> bool | None:
    """The verb's ``gzip=``: --gzip-level implies --gzip; with --no-gzip it is a UsageError."""
    if args.gzip_level is None:
        return bool(args.gzip) if args.gzip is not None else None
    if args.gzip is False and getattr(args, "gzip_refusable", False):
        raise UsageError(
            "--gzip-level and --no-gzip contradict each other",
            hint="drop one: a level is for gzip output",
        )
    return True


def add_format_argument(parser: argparse.ArgumentParser, text: str = "a table on a terminal") -> None:
    """--format text|json; ``text`` says what the text output is, for --help."""
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help=f"output format: text ({text}) or json (default: text)",
    )


def add_ns_arguments(parser: argparse.ArgumentParser, *, short: bool = True) -> None:
    """--nsInclude (and --ns unless not ``short``) and --nsExclude, repeatable (mongorestore's syntax)."""
    parser.add_argument(
        *(("--ns", "--nsInclude") if short else ("--nsInclude",)),
        dest="ns_include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only namespaces matching PATTERN (db.coll, db.*, *.coll); repeatable",
    )
    parser.add_argument(
        "--nsExclude",
        dest="ns_exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out namespaces matching PATTERN; repeatable",
    )


def add_input_arguments(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """The input archive: positional FILE, or ``--archive=FILE`` as mongorestore spells it.

    ``--archive`` alone means standard input, as in mongorestore.  Read the
    result with ``input_paths``.
    """
    what = "archive paths (gzip is sniffed)" if many else "archive path (gzip is sniffed)"
    parser.add_argument(
        "files", metavar="FILE", nargs="*" if many else "?", help=f"{what}, or - for standard input"
    )
    parser.add_argument(
        "--archive",
        dest="archive_files",
        action="append",
        nargs="?",
        const="-",
        default=[],
        metavar="FILE",
        help="the same as FILE (mongorestore's spelling); the flag alone reads standard input",
    )


def input_paths(args: argparse.Namespace, *, many: bool = False) -> list[str]:
    """The inputs given as FILE and as --archive; UsageError unless there is one (or, many: some)."""
    given = args.files if isinstance(args.files, list) else [args.files] if args.files else []
    paths = [*given, *args.archive_files]
    if not paths:
        raise UsageError("no archive given", hint="name it as FILE or --archive=FILE ('-' for stdin)")
    if not many and len(paths) > 1:
        raise UsageError(
            f"one archive at a time, {len(paths)} given: {', '.join(paths)}",
            hint="FILE and --archive=FILE name the same thing: give one of them",
        )
    return paths


def error_line(exc: MongoArchiveError, prefix: str = "mongoarchive") -> str:
    """One line describing ``exc`` (message, offset, namespace, hint), control characters escaped.

    Messages quote names and file names, which may hold newlines or escape
    sequences: escaped, they can neither forge a line nor drive the terminal.
    """
    # A URL in a message loses its password and query values (docs/object-storage.md).
    return f"{prefix}: error: {printable(redact_text(str(exc)))}"


def warning_line(warning: object, prefix: str) -> str:
    """``PREFIX: warning: TEXT`` on one line, control characters escaped."""
    return f"{prefix}: warning: {printable(redact_text(str(warning)))}"


@contextlib.contextmanager
def open_input(
    path: str, args: argparse.Namespace | None = None, description: str = "reading"
) -> Iterator[IO[bytes] | Any]:
    """A binary file object for ``path`` ("-": stdin), with a progress bar on stderr.

    The bar appears only when stderr is a terminal, the verb is not quiet and
    the file is large; it wraps the file object, so it shows compressed bytes
    read for a gzip archive.
    """
    if path == "-":
        yield sys.stdin.buffer
        return
    handle: Any
    if is_url(path):  # streamed from object storage (docs/object-storage.md)
        handle = RemoteReader(path)
    else:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ArchiveIOError(f"cannot open {path}: {exc.strerror or exc}") from exc
    try:
        size = handle.size if isinstance(handle, RemoteReader) else _size(handle)
        show = (
            size is not None
            and size >= PROGRESS_MIN_BYTES
            and is_terminal(sys.stderr)
            and not (args is not None and quiet(args))
        )
        if not show:
            yield handle
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with progress:
            from rich.markup import escape

            # The description is rich markup: a file name like "a[b]" must stay literal.
            label = escape(f"{description} {printable(shown(path))}")
            yield progress.wrap_file(handle, total=size, description=label)
    finally:
        handle.close()


def _size(handle: IO[bytes]) -> int | None:
    try:
        st = os.fstat(handle.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    import stat

    return st.st_size if stat.S_ISREG(st.st_mode) else None


def refuse_binary_terminal(hint: str) -> None:
    """UsageError if stdout is a terminal: binary data there is garbage (and may drive the terminal)."""
    if is_terminal(sys.stdout):
        raise UsageError("refusing to write binary data to a terminal", hint=hint)


def silence(stream: Any) -> None:
    """Point the file descriptor of ``stream`` at /dev/null, so later and final flushes go nowhere.

    What the Python documentation recommends after a broken pipe (signal
    module, "Note on SIGPIPE"); a stream without a descriptor is left alone.
    """
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


class _Guard:
    """Shared state: the first failure of stdout, and what it becomes."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.reader_gone = False
        self.error: ArchiveIOError | None = None

    def failed(self, exc: OSError) -> None:
        """Handle an OSError from stdout: swallow a closed pipe, raise anything else."""
        silence(self.stream)
        if exc.errno == errno.EPIPE or isinstance(exc, BrokenPipeError):
            self.reader_gone = True
            return
        if self.error is None:
            err = ArchiveIOError(
                f"cannot write to stdout: {exc.strerror or exc}",
                hint="free some space or redirect the output elsewhere"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else "redirect the output elsewhere",
            )
            err.__cause__ = exc
            self.error = err
        raise self.error

    def check(self) -> bool:
        """True if writes must be dropped (the reader went away); raises a failure seen before."""
        if self.error is not None:
            raise self.error
        return self.reader_gone


class _GuardedBinary:
    """``sys.stdout.buffer`` under a guard; ``unguarded`` is the real stream (for archive bytes)."""

    def __init__(self, inner: Any, guard: _Guard) -> None:
        self.unguarded = inner
        self._guard = guard

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._guard.check():
            return len(data)
        try:
            return int(self.unguarded.write(data) or 0)
        except OSError as exc:
            self._guard.failed(exc)
            return len(data)

    def flush(self) -> None:
        if self._guard.check():
            return
        try:
            self.unguarded.flush()
        except OSError as exc:
            self._guard.failed(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unguarded, name)


class StdoutGuard:
    """A text stdout on which a closed pipe only stops the printing; other errors are ArchiveIOError.

    A reader that goes away (``| head -1``, ``| true``) must not change a
    verb's verdict: the verb runs to the end, its later output is dropped and
    its exit status stands.  A full disk or another write error is an output
    error: ArchiveIOError, exit 2.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._guard = _Guard(inner)
        try:
            self.buffer: Any = _GuardedBinary(inner.buffer, self._guard)
        except AttributeError:
            self.buffer = None

    @property
    def reader_gone(self) -> bool:
        """True once a write found the pipe closed."""
        return self._guard.reader_gone

    def write(self, text: str) -> int:
        if self._guard.check():
            return len(text)
        try:
            return int(self.inner.write(text) or 0)
        except OSError as exc:
            self._guard.failed(exc)
            return len(text)

    def flush(self) -> None:
        if self._guard.check():
            return
        try:
            self.inner.flush()
        except OSError as exc:
            self._guard.failed(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextlib.contextmanager
def guard_stdout() -> Iterator[StdoutGuard]:
    """Put a StdoutGuard in place of ``sys.stdout`` for the block; the real one is restored."""
    original = sys.stdout
    guard = StdoutGuard(original)
    sys.stdout = guard
    try:
        yield guard
    finally:
        sys.stdout = original
        # Bytes the failed archive sink left in the real buffer would fail again at exit.
        try:
            original.flush()
        except (OSError, ValueError):
            silence(original)
