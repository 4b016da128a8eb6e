"""``mongoarchive check FILE...``: full validation for CI, every problem reported.

Exit status: 0 every file is valid, 1 problems were found, 2 usage or I/O
errors.  Warnings (things older tools accept but mongorestore 100.14+
refuses, spec/archive.md §7) fail only with ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ..checker import DEFAULT_MAX_DAMAGE, CheckResult, Problem, check_archive
from ..errors import ArchiveIOError
from ._common import add_format_argument, error_line, open_input, quiet, verbosity

NAME = "check"
HELP = "validate archives completely (framing, CRCs, prelude, metadata); exit 1 on problems"

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", metavar="FILE", nargs="+", help="archive paths (gzip is sniffed), or - for standard input"
    )
    add_format_argument(parser)
    parser.add_argument(
        "--strict", action="store_true", help="warnings fail too (fields mongorestore 100.14+ refuses)"
    )
    parser.add_argument(
        "--max-problems",
        type=int,
        default=1000,
        metavar="N",
        help="stop listing after N problems (and N unchecked ranges) per file (default: 1000)",
    )
    parser.add_argument(
        "--max-damage",
        type=byte_count,
        default=DEFAULT_MAX_DAMAGE,
        metavar="BYTES",
        help="stop checking a file after BYTES that could not be checked (suffixes KiB, MiB, GiB; "
        "'none': no limit; default: 64MiB)",
    )


_SIZE = re.compile(r"(\d+)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byte_count(text: str) -> int | None:
    """``1048576``, ``1MiB``, ``64M``, ``2GiB`` as bytes; ``none`` as None (no limit)."""
    if text.strip().lower() in ("none", "unlimited"):
        return None
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a size in bytes: {text!r} (say 1048576, 1MiB or none)")
    unit = (found.group(2) or "").lower()[:1]
    return int(found.group(1)) * _UNITS[unit]


def problem_line(file: str, p: Problem) -> str:
    """``FILE: byte OFFSET: severity: message [code] (namespace 'x')``, then the hint line."""
    where = f"{file}: byte {p.offset}" if p.offset is not None else file
    ns = f" (namespace {p.namespace!r})" if p.namespace is not None else ""
    line = f"{where}: {p.severity}: {p.message} [{p.code}]{ns}"
    if p.hint:
        line += f"\n    hint: {p.hint}"
    return line


def render_text(result: CheckResult, strict: bool, be_quiet: bool) -> list[str]:
    lines = []
    for p in result.problems:
        if be_quiet and p.severity == "warning" and not strict:
            continue
        lines.append(problem_line(result.file, p))
    for start, end in result.unchecked:
        stop = "the end of the stream (unknown)" if end is None else str(end)
        lines.append(f"{result.file}: unchecked bytes {start} to {stop}: not validated")
    if result.unchecked_omitted:
        lines.append(
            f"{result.file}: {result.unchecked_omitted} more unchecked ranges not listed "
            f"({result.unchecked_bytes} unchecked bytes in all)"
        )
    if result.untracked_blocks:
        lines.append(
            f"{result.file}: {result.untracked_blocks} blocks of further undeclared namespaces: "
            "framing checked, CRC not followed"
        )
    if result.truncated_report:
        lines.append(f"{result.file}: more problems were found than --max-problems allows to list")
    errors, warnings = len(result.errors), len(result.warnings)
    if result.ok(strict):
        if not be_quiet:
            docs = sum(s.documents for s in result.namespaces.values())
            extra = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
            lines.append(
                f"{result.file}: ok ({len(result.namespaces)} namespaces, {docs} documents, "
                f"{result.size} bytes{extra})"
            )
    else:
        lines.append(
            f"{result.file}: FAILED ({errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''})"
        )
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
                result = check_archive(
                    handle, name=name, max_problems=args.max_problems, max_damage=args.max_damage
                )
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
                        f"{result.file}:   {s.ns}: {s.documents} documents, {s.bytes} bytes, "
                        f"{s.segments} segments, crc {s.crc}"
                    )
            sys.stdout.flush()
    if args.format == "json":
        out = {"valid": status == EXIT_OK, "strict": args.strict, "files": reports}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status
