"""``mongoarchive export IN OUTDIR --format parquet|arrow|jsonl|csv``: the documents, for analytics engines.

Exit status: 0 every selected namespace exported; 1 the archive is damaged
(the namespaces verified before the damage are exported, ``_manifest.json``
says which are missing); 2 usage or I/O errors (a missing extra included).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._text import plural
from ..errors import UsageError
from ._common import add_ns_arguments, open_input, quiet

# The library's defaults (mongoarchive/export.py; tests/test_startup.py keeps them equal): the
# library, and with it the Arrow conversion, loads with run(), not when the parser is built.
FORMATS = ("parquet", "arrow", "jsonl", "csv")
MANIFEST = "_manifest.json"
ROW_GROUP_BYTES = 16 * 1024 * 1024
BUFFER_BYTES = 64 * 1024 * 1024

NAME = "export"
HELP = "export the documents to Parquet, Arrow IPC, JSON lines or CSV, one output per namespace"

_MIB = 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="archive (gzip is sniffed), or - for standard input")
    parser.add_argument("directory", metavar="OUTDIR", help="directory to write (created if missing)")
    parser.add_argument(
        "--format", choices=FORMATS, default="parquet", help="output format (default: parquet)"
    )
    add_ns_arguments(parser)
    parser.add_argument(
        "--query", metavar="JSON", help="export only documents matching this MongoDB query (Extended JSON)"
    )
    parser.add_argument(
        "--schema",
        metavar="FILE",
        help="JSON file mapping db.collection to its columns (parquet, arrow); others are inferred",
    )
    parser.add_argument(
        "--fields", metavar="F1,F2", help="CSV columns: field paths, dotted for nested fields (csv)"
    )
    parser.add_argument(
        "--jsonFormat",
        dest="json_format",
        choices=("relaxed", "canonical"),
        default="relaxed",
        help="Extended JSON mode of jsonl output (default: relaxed, as mongoexport)",
    )
    parser.add_argument(
        "--row-group-mib",
        type=int,
        default=ROW_GROUP_BYTES // _MIB,
        metavar="N",
        help="BSON MiB buffered per namespace before a row group is written "
        f"(default: {ROW_GROUP_BYTES // _MIB})",
    )
    parser.add_argument(
        "--buffer-mib",
        type=int,
        default=BUFFER_BYTES // _MIB,
        metavar="N",
        help=f"BSON MiB buffered for all namespaces together (default: {BUFFER_BYTES // _MIB})",
    )
    parser.add_argument(
        "--rows-per-file",
        type=int,
        default=0,
        metavar="N",
        help="write each namespace as a folder of files of at most N rows (parquet, arrow)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes converting Parquet and Arrow row groups (default: 1, this process; "
        "each more is one worker of about 200 MiB, see docs/export.md)",
    )
    parser.add_argument("--force", action="store_true", help=f"replace an export in OUTDIR ({MANIFEST})")
    parser.add_argument("--json", dest="report_json", action="store_true", help="print the manifest as JSON")


def _load_schema(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read --schema {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"--schema {path} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"--schema {path}: expected an object of db.collection -> columns")
    return value


def run(args: argparse.Namespace) -> int:
    from ..export import export

    if args.jobs <= 0:
        raise UsageError(f"--jobs must be positive, not {args.jobs}")
    if args.row_group_mib <= 0 or args.buffer_mib <= 0 or args.rows_per_file < 0:
        raise UsageError("--row-group-mib and --buffer-mib must be positive, --rows-per-file not negative")
    query: Any = None
    if args.query is not None:
        from ..query import compile_query

        query = compile_query(args.query)
    fields = [f for f in args.fields.split(",") if f] if args.fields else None
    schema = _load_schema(args.schema)
    with open_input(args.input, args, "exporting") as handle:
        result = export(
            handle,
            args.directory,
            format=args.format,
            include=args.ns_include,
            exclude=args.ns_exclude,
            query=query,
            schema=schema,
            fields=fields,
            json_mode=args.json_format,
            row_group_bytes=args.row_group_mib * _MIB,
            buffer_bytes=args.buffer_mib * _MIB,
            rows_per_file=args.rows_per_file,
            force=args.force,
            jobs=args.jobs,
        )
    if args.report_json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not quiet(args):
        docs = sum(n.documents for n in result.namespaces)
        extra = sum(n.extra_rows for n in result.namespaces)
        note = f" ({plural(extra, 'row')} with fields kept in _extra)" if extra else ""
        print(
            f"exported {plural(len(result.namespaces), 'namespace')}, {plural(docs, 'document')}{note}, "
            f"as {args.format} under {result.directory}"
        )
    return 0
