"""Helpers shared by the verbs: input files with a progress bar, output format, messages.

Results go to stdout, progress and diagnostics to stderr (a pipe reading our
output never sees a progress bar); colour and bars only on a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from .._text import printable
from ..errors import ArchiveIOError, MongoArchiveError

__all__ = [
    "add_format_argument",
    "add_ns_arguments",
    "error_line",
    "warning_line",
    "is_terminal",
    "open_input",
    "quiet",
    "verbosity",
]

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


def add_format_argument(parser: argparse.ArgumentParser, text: str = "a table on a terminal") -> None:
    """--format text|json; ``text`` says what the text output is, for --help."""
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help=f"output format: text ({text}) or json (default: text)",
    )


def add_ns_arguments(parser: argparse.ArgumentParser) -> None:
    """--ns/--nsInclude and --nsExclude, repeatable (mongorestore's pattern syntax)."""
    parser.add_argument(
        "--ns",
        "--nsInclude",
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


def error_line(exc: MongoArchiveError, prefix: str = "mongoarchive") -> str:
    """One line describing ``exc`` (message, offset, namespace, hint), control characters escaped.

    Messages quote names and file names, which may hold newlines or escape
    sequences: escaped, they can neither forge a line nor drive the terminal.
    """
    return f"{prefix}: error: {printable(str(exc))}"


def warning_line(warning: object, prefix: str) -> str:
    """``PREFIX: warning: TEXT`` on one line, control characters escaped."""
    return f"{prefix}: warning: {printable(str(warning))}"


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
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ArchiveIOError(f"cannot open {path}: {exc.strerror or exc}") from exc
    try:
        size = _size(handle)
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
            label = escape(f"{description} {printable(path)}")
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
