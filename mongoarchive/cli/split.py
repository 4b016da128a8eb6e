"""``mongoarchive split IN DIR``: one archive per database, per namespace, or per archive in IN.

Exit status: 0 written, 1 the input is damaged or two names collide
(nothing is kept), 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import json
import sys

from .._text import plural
from ._common import add_format_argument, add_gzip_level_argument, open_input, output_gzip, quiet

NAME = "split"
HELP = "split an archive into one archive per database or namespace; separates concatenated archives"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="archive (gzip is sniffed), or - for standard input")
    parser.add_argument(
        "directory", metavar="DIR", help="directory for the new archives (created if missing)"
    )
    add_format_argument(parser)
    parser.add_argument(
        "--by",
        choices=("database", "namespace", "archive"),
        default="database",
        help="one archive per database (default), per namespace, or per archive concatenated in IN",
    )
    gz = parser.add_mutually_exclusive_group()
    gz.add_argument("--gzip", dest="gzip", action="store_const", const=True, help="gzip the outputs")
    gz.add_argument(
        "--no-gzip", dest="gzip", action="store_const", const=False, help="do not gzip the outputs"
    )
    parser.set_defaults(gzip=None, gzip_refusable=True)
    add_gzip_level_argument(parser, "the outputs")
    parser.add_argument("--force", action="store_true", help="overwrite archives that exist in DIR")


def run(args: argparse.Namespace) -> int:
    from ..merge import split

    with open_input(args.input, args, "splitting") as handle:
        result = split(
            handle,
            args.directory,
            by=args.by,
            force=args.force,
            gzip=output_gzip(args),
            gzip_level=args.gzip_level,
        )
    if args.format == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not quiet(args):
        found = f" ({result.inputs} archives in the input)" if result.inputs > 1 else ""
        print(f"wrote {plural(len(result.archives), 'archive')} into {result.directory}{found}")
        for name, spaces in result.archives.items():
            print(f"  {name}: {plural(len(spaces), 'namespace')}")
    return 0
