"""``mongoarchive cat FILE|-``: the documents, as Extended JSON lines or raw BSON.

Documents come out in stream order (namespaces interleave as mongodump wrote
them, spec/archive.md §2).  ``--bson`` writes the documents' bytes back to
back, the stream ``bsondump`` reads.  Extended JSON uses python-bsonjs when it
is installed (see ``mongoarchive._extjson``).  Every CRC of the namespaces read
is still checked; a damaged archive stops the output with an error (exit 1)
after the documents before the damage.  An ``--ns`` pattern that matches no
namespace of the archive is an error too (exit 1), reported after the output.

Memory does not grow with the archive: ``--bson`` writes runs of documents
straight from the reader's buffer, and Extended JSON lines leave in batches of
about ``_BATCH_BYTES``.  One document needs a few times its size while it is
converted (its bytes, libbson's text, the parsed value, the final line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

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
    from ..reader import ArchiveReader

NAME = "cat"
HELP = "write the documents as Extended JSON lines or raw BSON"

#: Output is written when this many bytes (or characters) are pending.
_BATCH_BYTES = 1 << 20


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
    convert: Callable[[bytes], str] | None = None
    if not args.bson:
        from .._extjson import backend, converter  # bson.json_util and bsonjs: not for --bson

        convert = converter(args.json)
    out = sys.stdout.buffer
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
        lines = _Lines(out)
        count = 0
        try:
            for ns, run, n in archive.document_runs():
                if not selected(ns):
                    continue
                if limit is not None and count + n >= limit:
                    # The run ends the output: only its first documents are wanted.
                    n = limit - count
                    run = run[: split_run(run, 0, len(run))[n - 1][1]]
                if convert is None:
                    out.write(run)
                else:
                    for a, b in split_run(run, 0, len(run)):
                        lines.add(convert(run[a:b].tobytes()))
                count += n
                if limit is not None and count >= limit:
                    break
        finally:
            # Documents read before an error still reach the output.
            lines.flush()
            out.flush()
        if verbosity(args) > 0:
            how = "raw BSON" if convert is None else f"{args.json} Extended JSON via {backend()}"
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


class _Lines:
    """Extended JSON lines on their way out: batched by size, never the whole output."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.pending: list[str] = []
        self.size = 0

    def add(self, line: str) -> None:
        if len(line) >= _BATCH_BYTES:
            self.flush()
            # A huge line goes out in slices: no second full-size copy as bytes.
            for i in range(0, len(line), _BATCH_BYTES):
                self.out.write(line[i : i + _BATCH_BYTES].encode("utf-8", "surrogateescape"))
            self.out.write(b"\n")
            return
        self.pending.append(line)
        self.size += len(line) + 1
        if self.size >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.pending.append("")
            self.out.write("\n".join(self.pending).encode("utf-8", "surrogateescape"))
            self.pending.clear()
            self.size = 0
