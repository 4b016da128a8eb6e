"""``mongoarchive merge A B ... OUT``: one archive holding the namespaces of several.

Exit status: 0 written, 1 an input is damaged or two inputs hold one
namespace (nothing is written), 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .._text import plural
from ..errors import UsageError
from ._common import add_format_argument, add_gzip_level_argument, output_gzip, quiet, refuse_binary_terminal

NAME = "merge"
HELP = "merge archives into one (a namespace in two inputs must be renamed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", metavar="IN", nargs="+", help="archives to merge (gzip is sniffed); - once for stdin"
    )
    parser.add_argument("output", metavar="OUT", help="archive to write, or - for standard output")
    add_format_argument(parser)
    parser.add_argument(
        "--rename",
        nargs=3,
        action="append",
        default=[],
        metavar=("N", "FROM", "TO"),
        help="rename namespaces of input N (1 = the first) as --nsFrom FROM --nsTo TO; repeatable",
    )
    gz = parser.add_mutually_exclusive_group()
    gz.add_argument("--gzip", dest="gzip", action="store_const", const=True, help="gzip the output")
    gz.add_argument(
        "--no-gzip", dest="gzip", action="store_const", const=False, help="do not gzip the output"
    )
    parser.set_defaults(gzip=None, gzip_refusable=True)
    add_gzip_level_argument(parser)
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def run(args: argparse.Namespace) -> int:
    from ..merge import merge

    if args.output == "-":
        refuse_binary_terminal("redirect the output, or name an OUT file")
    if args.output != "-" and os.path.exists(args.output) and not args.force:
        raise UsageError(f"{args.output} exists", hint="use --force to overwrite it")
    renames: dict[int, list[tuple[str, str]]] = {}
    for number, source, target in args.rename:
        if not number.isdigit() or not 1 <= int(number) <= len(args.inputs):
            raise UsageError(f"--rename {number}: N must be an input's number, 1 to {len(args.inputs)}")
        renames.setdefault(int(number) - 1, []).append((source, target))
    result = merge(
        args.inputs, args.output, renames=renames, gzip=output_gzip(args), gzip_level=args.gzip_level
    )
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    elif not quiet(args):
        docs = sum(row[3] for row in result.namespaces)
        print(
            f"merged {plural(len(args.inputs), 'archive')}: {plural(len(result.namespaces), 'namespace')}, "
            f"{plural(docs, 'document')}, into {result.output}",
            file=out,
        )
    return 0
