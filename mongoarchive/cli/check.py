"""``mongoarchive check FILE...``: full validation for CI, every problem reported.

Exit status: 0 every file is valid, 1 problems were found, 2 usage or I/O
errors.  ``--target`` names the mongorestore release to judge by (default
``all``: an archive that any supported release refuses fails); what only
other releases refuse is a warning, and warnings fail only with ``--strict``
(spec/archive.md §7).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from .. import is_archive
from .._releases import RELEASES, parse_target
from .._remote import shown
from .._text import plural, printable
from ..errors import ArchiveIOError
from ._common import (
    add_format_argument,
    add_input_arguments,
    error_line,
    input_paths,
    open_input,
    quiet,
    verbosity,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ..checker import CheckResult, Problem

#: checker.DEFAULT_MAX_DAMAGE (tests/test_startup.py keeps the two equal): the checker loads with run().
DEFAULT_MAX_DAMAGE = 64 << 20

NAME = "check"
HELP = "validate archives completely (framing, CRCs, prelude, metadata); exit 1 on problems"

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
NOT_DEEP = "documents: framing and CRC checked, not their BSON content (use --deep)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser, many=True)
    add_format_argument(parser, "one line per problem, then a verdict line per file")
    parser.add_argument(
        "--target",
        default="all",
        metavar="RELEASE",
        help=f"the mongorestore release whose verdict counts: {', '.join(RELEASES)} (or in full, "
        "e.g. 100.6.1), or all (default): what only other releases refuse is a warning",
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also decode every document as BSON (types, lengths, UTF-8, nesting), like bsondump --objcheck",
    )
    parser.add_argument(
        "--strict", action="store_true", help="warnings fail too (including what every release accepts)"
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
    if result.unchecked_omitted:
        lines.append(
            f"{file}: {plural(result.unchecked_omitted, 'more unchecked range', 'more unchecked ranges')} "
            f"not listed ({plural(result.unchecked_bytes, 'unchecked byte')} in all)"
        )
    if result.untracked_blocks:
        lines.append(
            f"{file}: {plural(result.untracked_blocks, 'block')} of further undeclared namespaces: "
            "framing checked, CRC not followed"
        )
    errors, warnings = result.error_count, result.warning_count
    if result.truncated_report:
        lines.append(
            f"{file}: only the first {len(result.problems)} of {plural(errors + warnings, 'problem')} "
            "are listed (--max-problems)"
        )
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


def looks_like_archive(path: Path) -> bool:
    """Named like an archive, or starting with the magic number (plain or gzip, §2, §8)."""
    return path.name.endswith((".archive", ".archive.gz")) or is_archive(path)


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """Each directory replaced by the archives under it, recursively and sorted: (files, skipped)."""
    files: list[str] = []
    skipped: list[str] = []
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            files.append(path)
            continue
        from pathlib import Path  # only for directories: a plain check starts without it

        for found in sorted(p for p in Path(path).rglob("*") if p.is_file()):
            (files if looks_like_archive(found) else skipped).append(str(found))
    return files, skipped


def run(args: argparse.Namespace) -> int:
    from ..checker import check_archive

    if args.max_problems < 1:
        print("mongoarchive check: error: --max-problems must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        parse_target(args.target)
    except ValueError as exc:
        print(f"mongoarchive check: error: --target: {exc}", file=sys.stderr)
        return EXIT_USAGE
    given = input_paths(args, many=True)
    if given.count("-") > 1:
        print("mongoarchive check: error: standard input (-) can be read only once", file=sys.stderr)
        return EXIT_USAGE
    be_quiet = quiet(args)
    files, skipped = expand(given)
    if not files:
        print("mongoarchive check: error: no archive found under " + ", ".join(given), file=sys.stderr)
        return EXIT_USAGE
    if skipped and args.format != "json" and not be_quiet:
        listing = ": " + ", ".join(skipped) if verbosity(args) > 0 else " (-v lists them)"
        print(f"skipped {len(skipped)} files that do not look like archives{listing}")
    status = EXIT_OK
    reports: list[dict[str, Any]] = []
    for path in files:
        try:
            with open_input(path, args, "checking") as handle:
                name = "<stdin>" if path == "-" else shown(path)
                result = check_archive(
                    handle,
                    name=name,
                    max_problems=args.max_problems,
                    target=args.target,
                    deep=args.deep,
                    max_damage=args.max_damage,
                )
        except ArchiveIOError as exc:
            status = EXIT_USAGE
            print(error_line(exc, "mongoarchive check"), file=sys.stderr)
            reports.append({"file": shown(path), "valid": False, "io_error": exc.to_dict()})
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
    if args.format != "json" and not args.deep and not be_quiet:
        print(NOT_DEEP)
    if args.format == "json":
        out = {
            "valid": status == EXIT_OK,
            "strict": args.strict,
            "target": args.target,
            "files": reports,
            "skipped": skipped,
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status
