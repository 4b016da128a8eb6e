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
from typing import IO, Any, Self

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


def add_connection_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """mongo-tools' connection flags (``dump``, ``restore``); the fields of ``connection_fields``."""
    conn = parser.add_argument_group("connection")
    conn.add_argument("--uri", help="MongoDB connection string (mongodb://...)")
    conn.add_argument("--host", help="host, host:port, or setName/host1,host2 (default localhost)")
    conn.add_argument("--port", type=int, help="server port (default 27017)")
    conn.add_argument("-u", "--username", help="user name")
    conn.add_argument("-p", "--password", help="password")
    conn.add_argument(
        "--authenticationDatabase", dest="auth_db", help="database holding the user's credentials"
    )
    conn.add_argument(
        "--authenticationMechanism",
        dest="auth_mechanism",
        metavar="MECHANISM",
        help="e.g. SCRAM-SHA-256, MONGODB-X509 (default: negotiated)",
    )
    conn.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the server (default 30)"
    )
    conn.add_argument("--tls", "--ssl", dest="tls", action="store_true", help="connect with TLS")
    conn.add_argument(
        "--tlsCAFile", "--sslCAFile", dest="tls_ca_file", metavar="PATH", help="CA certificates (PEM)"
    )
    conn.add_argument(
        "--tlsCertificateKeyFile",
        "--sslPEMKeyFile",
        dest="tls_certificate_key_file",
        metavar="PATH",
        help="client certificate and key (PEM)",
    )
    conn.add_argument(
        "--tlsCertificateKeyFilePassword",
        "--sslPEMKeyPassword",
        dest="tls_certificate_key_file_password",
        help="password of the --tlsCertificateKeyFile key",
    )
    conn.add_argument(
        "--tlsInsecure",
        "--tlsAllowInvalidCertificates",
        dest="tls_allow_invalid_certificates",
        action="store_true",
        help="accept a server certificate that does not verify",
    )
    conn.add_argument(
        "--tlsAllowInvalidHostnames",
        dest="tls_allow_invalid_hostnames",
        action="store_true",
        help="accept a server certificate for another host name",
    )
    return conn


def connection_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The ConnectionOptions fields (mongoarchive._connect) of ``add_connection_arguments``' flags."""
    return {
        "uri": args.uri,
        "host": args.host,
        "port": args.port,
        "username": args.username,
        "password": args.password,
        "authentication_database": args.auth_db,
        "authentication_mechanism": args.auth_mechanism,
        "timeout": args.timeout,
        "tls": args.tls,
        "tls_ca_file": args.tls_ca_file,
        "tls_certificate_key_file": args.tls_certificate_key_file,
        "tls_certificate_key_file_password": args.tls_certificate_key_file_password,
        "tls_allow_invalid_certificates": args.tls_allow_invalid_certificates,
        "tls_allow_invalid_hostnames": args.tls_allow_invalid_hostnames,
    }


class NamespaceProgress:
    """Documents per namespace on a terminal (rich, loaded only then), silent otherwise; thread-safe."""

    def __init__(self, enabled: bool, *, remove_done: bool = False) -> None:
        import threading

        self.lock = threading.Lock()
        self.remove_done = remove_done
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def update(self, ns: str, documents: int, *, total: int | None = None, done: bool = False) -> None:
        """``documents`` of ``ns`` so far, out of ``total`` if known."""
        if self.bar is None:
            return
        with self.lock:
            task = self.tasks.get(ns)
            if task is None:
                from rich.markup import escape

                # The description is rich markup: escape it, and make control characters visible.
                task = self.tasks[ns] = self.bar.add_task(escape(printable(ns)), total=total)
            self.bar.update(task, completed=documents, total=documents if done else total)
            if done and self.remove_done:
                self.bar.remove_task(task)

    def __enter__(self) -> Self:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
