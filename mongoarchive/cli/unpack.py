"""``mongoarchive unpack IN DIR``: the ``mongodump --out`` directory the archive stands for.

Exit status: 0 written, 1 the archive is damaged or holds a name that cannot
be written safely (nothing is written), 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import json
import sys

from .._packrecord import RECORD_FILE
from .._text import plural
from ._common import add_format_argument, add_gzip_level_argument, open_input, output_gzip, quiet

NAME = "unpack"
HELP = "write an archive out as the directory mongodump --out would have written"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="archive (gzip is sniffed), or - for standard input")
    parser.add_argument("directory", metavar="DIR", help="directory to write (created if missing)")
    add_format_argument(parser)
    parser.add_argument("--gzip", action="store_true", help="gzip every file, as mongodump --gzip does")
    add_gzip_level_argument(parser, "every file")
    parser.add_argument("--force", action="store_true", help="replace files that exist in DIR")
    parser.add_argument(
        "--no-prelude-json",
        dest="prelude_json",
        action="store_false",
        help="leave out prelude.json (mongodump before 100.18 does not write it)",
    )
    parser.add_argument(
        "--pack-record",
        action="store_true",
        help=f"also write DIR/{RECORD_FILE}, so that pack writes this very archive back, byte for byte",
    )


def run(args: argparse.Namespace) -> int:
    from ..unpack import unpack

    with open_input(args.input, args, "unpacking") as handle:
        result = unpack(
            handle,
            args.directory,
            gzip=bool(output_gzip(args)),
            gzip_level=args.gzip_level,
            force=args.force,
            prelude_json=args.prelude_json,
            pack_record=args.pack_record,
        )
    if args.format == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not quiet(args):
        docs = sum(s.documents for s in result.namespaces.values())
        print(
            f"unpacked {plural(len(result.namespaces), 'namespace')}, {plural(docs, 'document')}, "
            f"into {plural(len(result.files), 'file')} under {result.directory}"
        )
    return 0
