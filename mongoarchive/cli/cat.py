"""``mongoarchive cat FILE|-``: the documents, as Extended JSON lines or raw BSON.

Documents come out in stream order (namespaces interleave as mongodump wrote
them, spec/archive.md §2).  ``--bson`` writes the documents' bytes back to
back, the stream ``bsondump`` reads.  Extended JSON comes from the compiled
converter, and python-bsonjs (or json_util) for what it leaves (see
``mongoarchive._extjson``).  Every CRC of the namespaces read
is still checked; a damaged archive stops the output with an error (exit 1)
after the documents before the damage.  An ``--ns`` pattern that matches no
namespace of the archive is an error too (exit 1), reported after the output.

Memory does not grow with the archive: ``--bson`` writes runs of documents
straight from the reader's buffer; Extended JSON is converted and written about
1 MiB of documents at a time (``mongoarchive._jsonlines``).  A document of 1 MiB or more needs
its bytes and its text while it is converted.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .. import open as open_archive
from .._text import plural
from ..errors import MongoArchiveError, UsageError
from ._common import (
    add_input_arguments,
    add_ns_arguments,
    error_line,
    input_paths,
    open_input,
    refuse_binary_terminal,
    verbosity,
)

if TYPE_CHECKING:
    from .._jsonlines import JsonLines
    from ..reader import ArchiveReader

NAME = "cat"
HELP = "write the documents as Extended JSON lines or raw BSON"



def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    add_ns_arguments(parser)
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="stop after N documents (in total)"
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--json",
        choices=("canonical", "relaxed"),
        default="relaxed",
        help="Extended JSON v2 mode of the output lines (default: relaxed)",
    )
    out.add_argument(
        "--bson", action="store_true", help="write raw BSON (concatenated documents, as bsondump reads)"
    )


def run(args: argparse.Namespace) -> int:
    from .._framing import split_run
    from ..model import Namespace
    from ..nsfilter import NamespaceFilter

    if args.bson:
        refuse_binary_terminal("redirect the output to a file, or pipe it to bsondump")
    (path,) = input_paths(args)
    if args.limit is not None and args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    select = NamespaceFilter(args.ns_include, args.ns_exclude)
    out = sys.stdout.buffer
    lines: JsonLines | None = None
    if not args.bson:
        # bson.json_util and bsonjs: not for --bson.
        from .._extjson import backend, converter, has_bsonjs
        from .._jsonlines import JsonLines

        converter(args.json)  # an unknown mode fails before anything is read
        lines = JsonLines(out, args.json, has_bsonjs())
    limit = args.limit
    with open_input(path, args, "reading") as handle, open_archive(handle) as archive:
        # A timeseries collection X keeps its data under system.buckets.X before 8.3 (§5.4):
        # a pattern naming X selects that data too.
        owners = {
            Namespace(c.db, "system.buckets." + c.collection): c.namespace
            for c in archive.collections
            if c.type == "timeseries"
        }
        wanted: dict[Namespace, bool] = {}

        def selected(ns: Namespace) -> bool:
            hit = wanted.get(ns)
            if hit is None:
                owner = owners.get(ns)
                hit = wanted[ns] = select(ns) or (owner is not None and select(owner))
            return hit

        if limit == 0:
            return _unmatched(args.ns_include, archive)
        count = 0
        try:
            for ns, run, n in archive.document_runs():
                if not selected(ns):
                    continue
                if limit is not None and count + n >= limit:
                    # The run ends the output: only its first documents are wanted.
                    n = limit - count
                    run = run[: split_run(run, 0, len(run))[n - 1][1]]
                if lines is None:
                    out.write(run)
                else:
                    lines.add(ns, run, n)
                count += n
                if limit is not None and count >= limit:
                    break
        finally:
            # Documents read before an error still reach the output.
            if lines is not None:
                lines.flush()
            out.flush()
        if verbosity(args) > 0:
            how = "raw BSON" if lines is None else f"{args.json} Extended JSON via {backend()}"
            print(f"mongoarchive cat: {plural(count, 'document')} as {how}", file=sys.stderr)
        return _unmatched(args.ns_include, archive)


def _unmatched(patterns: list[str], archive: ArchiveReader) -> int:
    """1 (with an error line) if an --ns pattern names no namespace of the archive, as tar's
    "Not found in archive"; the prelude declares every namespace (§3.2), the body adds any other.
    """
    from ..nsfilter import NamespaceFilter

    names = {str(c.namespace) for c in archive.collections} | {str(ns) for ns in archive.namespaces}
    missing = [p for p in patterns if not any(NamespaceFilter([p])(n) for n in names)]
    if not missing:
        return 0
    listed = ", ".join(repr(p) for p in missing)
    error = MongoArchiveError(
        f"--ns {listed}: not found in archive (no namespace matches)",
        hint="'mongoarchive inspect FILE' lists the namespaces",
    )
    print(error_line(error), file=sys.stderr)
    return 1
