"""``mongoarchive salvage IN OUT``: copy everything intact from a damaged archive into a valid one.

Exit status: 0 the input was intact (OUT is a faithful copy), 1 damage was
found and OUT holds what could be recovered (it passes ``mongoarchive
check``), 2 usage or I/O errors (nothing is written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import UsageError
from ..salvage import salvage
from ._common import add_format_argument, quiet

NAME = "salvage"
HELP = "recover every intact namespace and well-formed document of a damaged archive into a new archive"

EXIT_OK, EXIT_DAMAGED = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", metavar="IN", help="damaged archive (gzip is sniffed), or - for standard input"
    )
    parser.add_argument("output", metavar="OUT", help="new archive to write, or - for standard output")
    add_format_argument(parser, "a report of what was kept and lost")
    parser.add_argument("--report", metavar="FILE", help="also write the report as JSON to FILE")
    gz = parser.add_mutually_exclusive_group()
    gz.add_argument("--gzip", dest="gzip", action="store_const", const=True, help="gzip the output")
    gz.add_argument(
        "--no-gzip", dest="gzip", action="store_const", const=False, help="do not gzip the output"
    )
    parser.set_defaults(gzip=None)
    parser.add_argument(
        "--drop-missing",
        action="store_true",
        help="leave out declared namespaces of which no data was found (default: keep them empty)",
    )
    parser.add_argument(
        "--temp-dir", metavar="DIR", help="where to spool recovered documents (default: $TMPDIR)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def run(args: argparse.Namespace) -> int:
    same = args.input != "-" and args.output != "-" and os.path.exists(args.output)
    if same and os.path.exists(args.input) and os.path.samefile(args.input, args.output):
        raise UsageError("IN and OUT are the same file", hint="write the salvaged archive elsewhere")
    if args.output != "-" and os.path.exists(args.output) and not args.force:
        raise UsageError(f"{args.output} exists", hint="use --force to overwrite it")
    report = salvage(
        args.input,
        args.output,
        gzip=args.gzip,
        temp_dir=args.temp_dir,
        keep_missing=not args.drop_missing,
    )
    # The archive may be on stdout: then the report goes to stderr.
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.format == "json":
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    elif not (quiet(args) and report.clean):
        print(report.render_text(), file=out)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2)
            fh.write("\n")
    return EXIT_OK if report.clean else EXIT_DAMAGED
