"""``mongoarchive salvage IN OUT``: copy everything intact from a damaged archive into a valid one.

Exit status: 0 the input was intact (OUT is a byte-for-byte copy), 1 damage
was found, documents were lost or left unverified, and OUT holds what could be
recovered (it passes ``mongoarchive check``), 2 usage or I/O errors (nothing
is written: OUT and the report are committed together at the end).  A closed
stdout (``| head``) only stops the text report.  An existing directory as OUT
means ``OUT/<name of IN>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import ArchiveError, UsageError
from ._common import (
    add_format_argument,
    add_gzip_level_argument,
    error_line,
    output_gzip,
    quiet,
    refuse_binary_terminal,
)

#: salvage.DEFAULT_MAX_DAMAGE, which imports the writer: tests/test_startup.py keeps the two equal.
DEFAULT_MAX_DAMAGE = 64 << 20

NAME = "salvage"
HELP = "recover every intact namespace and well-formed document of a damaged archive into a new archive"

EXIT_OK, EXIT_DAMAGED = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", metavar="IN", nargs="?", help="damaged archive (gzip is sniffed), or - for standard input"
    )
    parser.add_argument(
        "output",
        metavar="OUT",
        nargs="?",
        help="new archive to write, an existing directory (OUT/<name of IN>), or - for standard output",
    )
    parser.add_argument(
        "--archive",
        dest="archive_in",
        nargs="?",
        const="-",
        metavar="IN",
        help="the same as IN (mongorestore's spelling): salvage --archive=IN OUT; alone: standard input",
    )
    add_format_argument(parser, "a report of what was kept and lost")
    parser.add_argument("--report", metavar="FILE", help="also write the report as JSON to FILE")
    gz = parser.add_mutually_exclusive_group()
    gz.add_argument("--gzip", dest="gzip", action="store_const", const=True, help="gzip the output")
    gz.add_argument(
        "--no-gzip", dest="gzip", action="store_const", const=False, help="do not gzip the output"
    )
    parser.set_defaults(gzip=None, gzip_refusable=True)
    add_gzip_level_argument(parser)
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


def _output_path(src: str, dst: str) -> str:
    """OUT, or OUT/<name of IN> when OUT is an existing directory (as ``dump --archive=DIR``)."""
    if dst == "-" or not os.path.isdir(dst):
        return dst
    if src == "-":
        raise UsageError(
            f"{dst} is a directory and standard input has no name to write it under",
            hint="give OUT as a file name, e.g. OUT/salvaged.archive",
        )
    return os.path.join(dst, os.path.basename(os.path.normpath(src)))


def _in_out(args: argparse.Namespace) -> tuple[str, str]:
    """IN and OUT, from ``IN OUT`` or ``--archive=IN OUT``."""
    if args.archive_in is not None:
        if args.output is not None:
            raise UsageError(
                "IN is given twice (as --archive and as the first argument)",
                hint="mongoarchive salvage --archive=IN OUT, or mongoarchive salvage IN OUT",
            )
        if args.input is None:
            raise UsageError("OUT is missing", hint="mongoarchive salvage --archive=IN OUT")
        return str(args.archive_in), str(args.input)
    if args.input is None or args.output is None:
        raise UsageError(
            "salvage needs IN and OUT", hint="mongoarchive salvage IN OUT ('-': standard input or output)"
        )
    return str(args.input), str(args.output)


def run(args: argparse.Namespace) -> int:
    from .._sink import AtomicSink
    from ..salvage import salvage

    src, dst = _in_out(args)
    dst = _output_path(src, dst)
    if dst == "-":
        refuse_binary_terminal("redirect the output, or name an OUT file")
    both = src != "-" and dst != "-" and os.path.exists(src) and os.path.exists(dst)
    if both and os.path.samefile(src, dst):
        raise UsageError("IN and OUT are the same file", hint="write the salvaged archive elsewhere")
    if dst != "-" and os.path.isdir(dst):
        raise UsageError(f"{dst} is a directory", hint="give OUT as a file name")
    # Only a regular file is overwritten; a FIFO or a device is written through (see _sink).
    if dst != "-" and os.path.isfile(dst) and not args.force:
        raise UsageError(f"{dst} exists", hint="use --force to overwrite it")
    # Every output is opened before the input is read, and committed only when all of them are
    # complete: a failure anywhere leaves none of them behind (exit 2: nothing written).
    sinks: list[AtomicSink] = []
    try:
        report_sink = AtomicSink(args.report, gzip=False) if args.report else None
        if report_sink is not None:
            sinks.append(report_sink)
        out_sink = AtomicSink(dst, gzip=False) if dst != "-" else None
        if out_sink is not None:
            sinks.append(out_sink)
        report = salvage(
            src,
            out_sink if out_sink is not None else "-",
            gzip=output_gzip(args),
            gzip_level=args.gzip_level,
            temp_dir=args.temp_dir,
            keep_missing=not args.drop_missing,
            keep_unverified=args.keep_unverified,
            max_damage=args.max_damage,
        )
        if report_sink is not None:
            report_sink.write((json.dumps(report.to_dict(), indent=2) + "\n").encode("utf-8"))
        # The archive may be on stdout: then the report goes to stderr.
        out = sys.stderr if dst == "-" else sys.stdout
        if args.format == "json":
            json.dump(report.to_dict(), out, indent=2)
            out.write("\n")
        elif not (quiet(args) and report.clean):
            print(report.render_text(), file=out)
        out.flush()  # a full disk on stdout fails here, before anything is committed
        for sink in reversed(sinks):  # the archive first, then its report
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
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
