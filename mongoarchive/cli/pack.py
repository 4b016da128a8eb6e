"""``mongoarchive pack DIR OUT``: the archive ``mongodump --archive`` writes for a --out directory.

Exit status: 0 written (a pack record that no longer matches DIR is ignored
with a warning), 1 a file of the directory is damaged or holds other
documents than the pack record says (nothing is written), 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .._remote import refuse_url_directory
from .._text import plural
from ..errors import UsageError
from ._common import (
    add_format_argument,
    add_gzip_level_argument,
    output_gzip,
    quiet,
    refuse_binary_terminal,
    warning_line,
)

NAME = "pack"
HELP = "write a mongodump --out directory as the archive mongodump --archive would have written"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="a directory written by mongodump --out or unpack")
    parser.add_argument("output", metavar="OUT", help="archive to write, or - for standard output")
    add_format_argument(parser)
    parser.add_argument(
        "--server-version",
        metavar="X.Y.Z",
        help="the dumped server's version (default: from DIR/prelude.json; needed without it)",
    )
    parser.add_argument(
        "--tool-version",
        metavar="VERSION",
        help="the header's tool_version (default: from DIR/prelude.json, else mongoarchive's)",
    )
    parser.add_argument(
        "--concurrent-collections",
        type=int,
        default=None,
        metavar="N",
        help="the header's concurrent_collections, mongodump's -j (default: the pack record's, else 4)",
    )
    parser.add_argument("--gzip", action="store_true", help="gzip the archive, as mongodump --archive --gzip")
    add_gzip_level_argument(parser, "the archive")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.add_argument(
        "--no-pack-record",
        dest="use_record",
        action="store_false",
        help="pack in sorted order even where DIR holds the pack record unpack --pack-record writes",
    )


def run(args: argparse.Namespace) -> int:
    refuse_url_directory(args.directory, "pack")
    from ..pack import pack

    if args.output == "-":
        refuse_binary_terminal("redirect the output, or name an OUT file")
    if args.output != "-" and os.path.exists(args.output) and not args.force:
        raise UsageError(f"{args.output} exists", hint="use --force to overwrite it")
    result = pack(
        args.directory,
        args.output,
        server_version=args.server_version,
        tool_version=args.tool_version,
        concurrent_collections=args.concurrent_collections,
        gzip=bool(output_gzip(args)),
        gzip_level=args.gzip_level,
        use_record=args.use_record,
    )
    if result.note is not None:
        print(warning_line(result.note, "mongoarchive pack"), file=sys.stderr)
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    elif not quiet(args):
        docs = sum(n for _, n, _ in result.namespaces)
        print(
            f"packed {plural(len(result.namespaces), 'namespace')}, {plural(docs, 'document')}, "
            f"into {result.output}",
            file=out,
        )
        for name in result.ignored:
            print(f"ignored {name}: not part of the --out layout", file=out)
    return 0
