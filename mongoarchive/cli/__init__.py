"""The ``mongoarchive`` command: one module per verb, wired together here.

Each verb module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``.  ``main(argv)`` returns the exit status: 0 success,
1 problems found in the archive, 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import NoReturn

from .. import __version__
from .._text import printable
from ..errors import ArchiveIOError, MongoArchiveError, UsageError
from ._common import error_line, guard_stdout

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

#: Each verb, in the order of --help, with its help line: a copy of the verb module's HELP, so that
#: a command imports the module (mongoarchive/cli/NAME.py) of the verb it runs and no other
#: (tests/test_startup.py checks the copies against the modules).
VERB_HELP: dict[str, str] = {
    "inspect": "show the header, the collections and a summary of every namespace",
    "check": "validate archives completely (framing, CRCs, prelude, metadata); exit 1 on problems",
    "cat": "write the documents as Extended JSON lines or raw BSON",
    "dump": "dump a live MongoDB deployment into an archive (as mongodump --archive)",
    "salvage": "recover every intact namespace and well-formed document of "
    "a damaged archive into a new archive",
    "unpack": "write an archive out as the directory mongodump --out would have written",
    "pack": "write a mongodump --out directory as the archive mongodump --archive would have written",
    "filter": "copy an archive keeping, renaming and filtering namespaces "
    "and documents, as mongorestore would",
    "merge": "merge archives into one (a namespace in two inputs must be renamed)",
    "split": "split an archive into one archive per database or namespace; separates concatenated archives",
    "export": "export the documents to Parquet, Arrow IPC, JSON lines or CSV, one output per namespace",
    "stats": "document sizes and the shape of the documents (field paths, "
    "presence, BSON types) per namespace",
    "restore": "restore an archive into a live MongoDB (as mongorestore --archive), atomically per namespace",
}
_NAMES = frozenset(VERB_HELP)


def verb_module(name: str) -> ModuleType:
    """The module of verb ``name`` (``NAME``, ``HELP``, ``add_arguments``, ``run``), imported now."""
    import importlib

    return importlib.import_module(f"{__name__}.{name}")


def _add_global_flags(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--debug, -v/--verbose and -q/--quiet, before or after the verb.

    A verb that defines one of these option strings itself keeps it (``dump -q``
    is mongodump's ``--query``); the flag's other spellings still work there.
    """
    taken = set(parser._option_string_actions)
    flags: list[tuple[tuple[str, ...], str, dict[str, object]]] = [
        (("--debug",), "debug", {"action": "store_true", "help": "show tracebacks on errors"}),
        (("-v", "--verbose"), "verbose", {"action": "count", "help": "say more on stderr (repeatable)"}),
        (("-q", "--quiet"), "quiet", {"action": "count", "help": "say less: only failures and errors"}),
    ]
    for names, dest, kwargs in flags:
        free = [n for n in names if n not in taken]
        if not free:
            continue
        value: object = default
        if default is None:
            value = False if dest == "debug" else 0
        parser.add_argument(*free, dest=dest, default=value, **kwargs)  # type: ignore[arg-type]


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one escaped line: they quote the arguments given."""

    def error(self, message: str) -> NoReturn:
        super().error(printable(message))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the other verbs get their name and help alone.

    A command runs one verb: defining the options of the other nine costs more
    than the verb itself on a small archive.
    """
    # Subparsers are made of the same class (add_subparsers' default parser_class).
    parser = _Parser(
        prog="mongoarchive",
        description="Look inside, check and rewrite mongodump archives without a server.",
    )
    parser.add_argument("--version", action="version", version=f"mongoarchive {__version__}")
    _add_global_flags(parser, None)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name, text in VERB_HELP.items():
        verb_parser = sub.add_parser(name, help=text, description=text)
        if only is not None and only != name:
            continue
        verb = verb_module(name)
        verb.add_arguments(verb_parser)
        # Accepted after the verb too ("mongoarchive check -q F"); SUPPRESS keeps the global value.
        _add_global_flags(verb_parser, argparse.SUPPRESS)
        verb_parser.set_defaults(run=verb.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status instead of exiting."""
    given = list(sys.argv[1:] if argv is None else argv)
    # The global options take no value, so the first word that is not an option names the verb.
    verb = next((word for word in given if not word.startswith("-")), None)
    parser = build_parser(verb if verb in _NAMES else "")
    try:
        args = parser.parse_args(given)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    # A reader of stdout that goes away stops the printing, not the verb: its status stands.
    with guard_stdout(), _term_as_interrupt():
        return _run(args)


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so partial files are removed and uploads aborted (exit 130)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.run(args)
        sys.stdout.flush()  # an output error still in the buffer is this verb's
        return status
    except (ArchiveIOError, UsageError) as exc:
        if args.debug:
            raise
        _say(error_line(exc))
        return EXIT_USAGE
    except MongoArchiveError as exc:
        if args.debug:
            raise
        _say(error_line(exc))
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        _say("mongoarchive: interrupted")
        return 130
    except Exception as exc:  # never a traceback for the user unless --debug
        if args.debug:
            raise
        _say(
            f"mongoarchive: internal error: {type(exc).__name__}: {printable(str(exc))} "
            "(run with --debug for details)"
        )
        return EXIT_USAGE


def main_exit() -> None:
    """Console-script entry point: ``sys.exit(main())``."""
    sys.exit(main())
