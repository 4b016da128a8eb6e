"""``mongoarchive filter IN OUT``: a new archive with some namespaces, renamed, with fewer documents.

Namespace selection and renaming follow mongorestore exactly (``--nsInclude``,
``--nsExclude``, ``--nsFrom``/``--nsTo``); see ``mongoarchive.rewrite``.
Exit status: 0 written, 1 the archive is damaged or a rename collides
(nothing is written), 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from .._text import plural
from ..errors import UsageError
from ._common import (
    add_format_argument,
    add_gzip_level_argument,
    add_ns_arguments,
    open_input,
    output_gzip,
    quiet,
    refuse_binary_terminal,
)

NAME = "filter"
HELP = "copy an archive keeping, renaming and filtering namespaces and documents, as mongorestore would"


if TYPE_CHECKING:
    from ..model import Namespace
    from ..rewrite import MetadataFn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="archive (gzip is sniffed), or - for standard input")
    parser.add_argument("output", metavar="OUT", help="archive to write, or - for standard output")
    add_format_argument(parser)
    add_ns_arguments(parser, short=False)
    parser.add_argument(
        "--nsFrom", dest="ns_from", action="append", default=[], metavar="PATTERN", help="rename from PATTERN"
    )
    parser.add_argument(
        "--nsTo", dest="ns_to", action="append", default=[], metavar="PATTERN", help="rename to PATTERN"
    )
    parser.add_argument(
        "--query",
        metavar="JSON",
        help="keep only documents matching this MongoDB query (Extended JSON), as find() would",
    )
    parser.add_argument(
        "--no-indexes", action="store_true", help="drop every index but _id_ from the metadata"
    )
    parser.add_argument(
        "--drop-index",
        action="append",
        default=[],
        metavar="NS:NAME",
        help="drop index NAME of input namespace NS from the metadata; repeatable",
    )
    parser.add_argument("--no-oplog", action="store_true", help="leave out the oplog (kept by default)")
    gz = parser.add_mutually_exclusive_group()
    gz.add_argument("--gzip", dest="gzip", action="store_const", const=True, help="gzip the output")
    gz.add_argument(
        "--no-gzip", dest="gzip", action="store_const", const=False, help="do not gzip the output"
    )
    parser.set_defaults(gzip=None, gzip_refusable=True)
    add_gzip_level_argument(parser)
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def _drop_index_fn(specs: list[str]) -> dict[Namespace, set[str]]:
    from ..model import Namespace

    wanted: dict[Namespace, set[str]] = {}
    for spec in specs:
        ns, sep, name = spec.rpartition(":")
        db, dot, coll = ns.partition(".")
        if not sep or not dot or not db or not coll or not name:
            raise UsageError(f"--drop-index {spec!r}: expected db.collection:index_name")
        wanted.setdefault(Namespace(db, coll), set()).add(name)
    return wanted


def run(args: argparse.Namespace) -> int:
    from ..rewrite import drop_indexes, rewrite

    if args.output == "-":
        refuse_binary_terminal("redirect the output, or name an OUT file")
    if len(args.ns_from) != len(args.ns_to):
        raise UsageError("--nsFrom and --nsTo must come in pairs", hint="give one --nsTo for each --nsFrom")
    same = args.input != "-" and args.output != "-" and os.path.exists(args.output)
    if same and os.path.exists(args.input) and os.path.samefile(args.input, args.output):
        raise UsageError("IN and OUT are the same file", hint="write the new archive elsewhere")
    if args.output != "-" and os.path.exists(args.output) and not args.force:
        raise UsageError(f"{args.output} exists", hint="use --force to overwrite it")
    metadata: MetadataFn | None = None
    by_input = _drop_index_fn(args.drop_index)
    if args.no_indexes or by_input:
        metadata = drop_indexes(by_input, all_but_id=args.no_indexes)
    query: Any = None
    if args.query is not None:
        from ..query import compile_query

        query = compile_query(args.query)
    with open_input(args.input, args, "filtering") as handle:
        result = rewrite(
            handle,
            args.output,
            include=args.ns_include,
            exclude=args.ns_exclude,
            rename=list(zip(args.ns_from, args.ns_to, strict=True)),
            query=query,
            metadata=metadata,
            keep_oplog=not args.no_oplog,
            gzip=output_gzip(args),
            gzip_level=args.gzip_level,
        )
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    elif not quiet(args):
        docs = sum(n for _, _, n, _, _ in result.namespaces)
        renamed = sum(1 for src, dst, *_ in result.namespaces if src != dst)
        print(
            f"wrote {plural(len(result.namespaces), 'namespace')} ({renamed} renamed), "
            f"{plural(docs, 'document')}, "
            f"to {result.output}; left out {plural(len(result.dropped), 'namespace')} and "
            f"{plural(result.documents_dropped, 'document')}",
            file=out,
        )
    return 0
