"""``mongoarchive salvage IN OUT``: copy everything intact from a damaged archive into a valid one.

Exit status: 0 the input was intact (OUT is a byte-for-byte copy), 1 damage
was found, documents were lost or left unverified, and OUT holds what could be
recovered (it passes ``mongoarchive check``), 2 usage or I/O errors (nothing
is written).  An existing directory as OUT means ``OUT/<name of IN>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import ArchiveError, UsageError
from ..salvage import DEFAULT_MAX_DAMAGE, salvage
from ._common import add_format_argument, error_line, quiet

NAME = "salvage"
HELP = "recover every intact namespace and well-formed document of a damaged archive into a new archive"

EXIT_OK, EXIT_DAMAGED = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", metavar="IN", help="damaged archive (gzip is sniffed), or - for standard input"
    )
    parser.add_argument(
        "output",
        metavar="OUT",
        help="new archive to write, an existing directory (OUT/<name of IN>), or - for standard output",
    )
    add_format_argument(parser)
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
    parser.add_argument(
        "--keep-unverified",
        action="store_true",
        help="also keep documents no matching stored CRC covers (they decode but may be altered; "
        "the report counts them)",
    )
    parser.add_argument(
        "--max-damage",
        metavar="BYTES",
        type=_byte_count,
        default=DEFAULT_MAX_DAMAGE,
        help="stop after this many consecutive bytes without a recognisable item "
        f"(default {DEFAULT_MAX_DAMAGE >> 20} MiB, four times the largest document); "
        "suffixes K, M, G",
    )
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def _byte_count(text: str) -> int:
    """BYTES with an optional K, M or G suffix (powers of 1024)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    scale = units.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes (e.g. 64M)")
    return int(digits) * scale


def _output_path(args: argparse.Namespace) -> str:
    """OUT, or OUT/<name of IN> when OUT is an existing directory (as ``dump --archive=DIR``)."""
    if args.output == "-" or not os.path.isdir(args.output):
        return str(args.output)
    if args.input == "-":
        raise UsageError(
            f"{args.output} is a directory and standard input has no name to write it under",
            hint="give OUT as a file name, e.g. OUT/salvaged.archive",
        )
    return os.path.join(str(args.output), os.path.basename(os.path.normpath(str(args.input))))


def run(args: argparse.Namespace) -> int:
    output = _output_path(args)
    same = args.input != "-" and output != "-" and os.path.exists(output)
    if same and os.path.exists(args.input) and os.path.samefile(args.input, output):
        raise UsageError("IN and OUT are the same file", hint="write the salvaged archive elsewhere")
    if output != "-" and os.path.isdir(output):
        raise UsageError(f"{output} is a directory", hint="give OUT as a file name")
    if output != "-" and os.path.exists(output) and not args.force:
        raise UsageError(f"{output} exists", hint="use --force to overwrite it")
    report = salvage(
        args.input,
        output,
        gzip=args.gzip,
        temp_dir=args.temp_dir,
        keep_missing=not args.drop_missing,
        keep_unverified=args.keep_unverified,
        max_damage=args.max_damage,
    )
    # The archive may be on stdout: then the report goes to stderr.
    out = sys.stderr if output == "-" else sys.stdout
    if args.format == "json":
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    elif not (quiet(args) and report.clean):
        print(report.render_text(), file=out)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2)
            fh.write("\n")
    for stop in (d for d in report.damaged if d.code == "too-much-damage"):
        # The input was not read to its end: say so on stderr whatever the format.
        error = ArchiveError(
            f"{stop.reason}; what came before is in {report.output}",
            offset=stop.start,
            code=stop.code,
            hint="raise --max-damage (BYTES) to scan further",
        )
        print(error_line(error), file=sys.stderr)
    return EXIT_OK if report.clean else EXIT_DAMAGED
