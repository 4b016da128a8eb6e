"""``mongoarchive check FILE...``: full validation for CI, every problem reported.

Exit status: 0 every file is valid, 1 problems were found, 2 usage or I/O
errors.  Warnings (things older tools accept but mongorestore 100.14+
refuses, spec/archive.md §7) fail only with ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._text import plural, printable
from ..checker import CheckResult, Problem, check_archive
from ..errors import ArchiveIOError
from ._common import add_format_argument, error_line, open_input, quiet, verbosity

NAME = "check"
HELP = "validate archives completely (framing, CRCs, prelude, metadata); exit 1 on problems"

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", metavar="FILE", nargs="+", help="archive paths (gzip is sniffed), or - for standard input"
    )
    add_format_argument(parser, "one line per problem, then a verdict line per file")
    parser.add_argument(
        "--strict", action="store_true", help="warnings fail too (fields mongorestore 100.14+ refuses)"
    )
    parser.add_argument(
        "--max-problems",
        type=int,
        default=1000,
        metavar="N",
        help="stop listing after N problems per file (default: 1000)",
    )


def problem_line(file: str, p: Problem) -> str:
    """``FILE: byte OFFSET: severity: message [code] (namespace 'x')``, then the hint line.

    File name, message, namespace and hint are printable(): the only line
    breaks are the ones put here.
    """
    where = f"{file}: byte {p.offset}" if p.offset is not None else file
    ns = f" (namespace {p.namespace!r})" if p.namespace is not None else ""
    line = printable(f"{where}: {p.severity}: {p.message} [{p.code}]{ns}")
    if p.hint:
        line += f"\n    hint: {printable(p.hint)}"
    return line


def render_text(result: CheckResult, strict: bool, be_quiet: bool) -> list[str]:
    """The report of one file, a list of lines (names and messages printable())."""
    file = printable(result.file)
    lines = []
    for p in result.problems:
        if be_quiet and p.severity == "warning" and not strict:
            continue
        lines.append(problem_line(result.file, p))
    for start, end in result.unchecked:
        stop = "the end of the stream (unknown)" if end is None else str(end)
        lines.append(f"{file}: unchecked bytes {start} to {stop}: not validated")
    if result.truncated_report:
        lines.append(f"{file}: more problems were found than --max-problems allows to list")
    errors, warnings = len(result.errors), len(result.warnings)
    if result.ok(strict):
        if not be_quiet:
            docs = sum(s.documents for s in result.namespaces.values())
            extra = f", {plural(warnings, 'warning')}" if warnings else ""
            lines.append(
                f"{file}: ok ({plural(len(result.namespaces), 'namespace')}, {plural(docs, 'document')}, "
                f"{plural(result.size, 'byte')}{extra})"
            )
    else:
        lines.append(f"{file}: FAILED ({plural(errors, 'error')}, {plural(warnings, 'warning')})")
    return lines


def run(args: argparse.Namespace) -> int:
    if args.max_problems < 1:
        print("mongoarchive check: error: --max-problems must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.files.count("-") > 1:
        print("mongoarchive check: error: standard input (-) can be read only once", file=sys.stderr)
        return EXIT_USAGE
    be_quiet = quiet(args)
    status = EXIT_OK
    reports: list[dict[str, Any]] = []
    for path in args.files:
        try:
            with open_input(path, args, "checking") as handle:
                name = "<stdin>" if path == "-" else path
                result = check_archive(handle, name=name, max_problems=args.max_problems)
        except ArchiveIOError as exc:
            status = EXIT_USAGE
            print(error_line(exc, "mongoarchive check"), file=sys.stderr)
            reports.append({"file": path, "valid": False, "io_error": exc.to_dict()})
            continue
        if not result.ok(args.strict) and status == EXIT_OK:
            status = EXIT_PROBLEMS
        if args.format == "json":
            reports.append(result.to_dict(args.strict))
        else:
            for line in render_text(result, args.strict, be_quiet):
                print(line)
            if verbosity(args) > 0:
                for s in result.namespaces.values():
                    print(
                        printable(
                            f"{result.file}:   {s.ns}: {plural(s.documents, 'document')}, "
                            f"{plural(s.bytes, 'byte')}, {plural(s.segments, 'segment')}, crc {s.crc}"
                        )
                    )
            sys.stdout.flush()
    if args.format == "json":
        out = {"valid": status == EXIT_OK, "strict": args.strict, "files": reports}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status
