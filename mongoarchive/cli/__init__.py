"""The ``mongoarchive`` command: one module per verb, wired together here.

Each verb module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``.  ``main(argv)`` returns the exit status: 0 success,
1 problems found in the archive, 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from .. import __version__
from ..errors import ArchiveIOError, MongoArchiveError, UsageError
from . import inspect as inspect_verb

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

VERBS: list[ModuleType] = [inspect_verb]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mongoarchive",
        description="Look inside, check and rewrite mongodump archives without a server.",
    )
    parser.add_argument("--version", action="version", version=f"mongoarchive {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        verb_parser = sub.add_parser(verb.NAME, help=verb.HELP, description=verb.HELP)
        verb.add_arguments(verb_parser)
        verb_parser.set_defaults(run=verb.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status instead of exiting."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        status: int = args.run(args)
        return status
    except (ArchiveIOError, UsageError) as exc:
        if args.debug:
            raise
        print(f"mongoarchive: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MongoArchiveError as exc:
        if args.debug:
            raise
        print(f"mongoarchive: error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        print("mongoarchive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. "| head"): not an error of ours.
        sys.stderr.close()
        return EXIT_OK


def main_exit() -> None:
    """Console-script entry point: ``sys.exit(main())``."""
    sys.exit(main())
