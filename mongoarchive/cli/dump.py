"""``mongoarchive dump``: write an archive from a live MongoDB, as ``mongodump --archive`` does."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from .._text import plural, printable
from ._common import (
    NamespaceProgress,
    add_connection_arguments,
    add_gzip_level_argument,
    connection_fields,
    is_terminal,
    output_gzip,
    quiet,
    refuse_binary_terminal,
)

if TYPE_CHECKING:
    from ..dump import DumpResult

NAME = "dump"
HELP = "dump a live MongoDB deployment into an archive (as mongodump --archive)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    conn = add_connection_arguments(parser)
    conn.add_argument("--readPreference", dest="read_preference", help="e.g. primary, secondaryPreferred")
    sel = parser.add_argument_group("selection")
    sel.add_argument("-d", "--db", help="dump only this database")
    sel.add_argument("-c", "--collection", help="dump only this collection (needs --db)")
    # -q is mongodump's --query here; "mongoarchive -q dump" (before the verb) still means quiet.
    sel.add_argument("-q", "--query", help="filter as Extended JSON (needs --collection)")
    sel.add_argument("--queryFile", dest="query_file", help="file holding the --query filter")
    sel.add_argument(
        "--excludeCollection",
        dest="exclude_collection",
        action="append",
        default=[],
        help="skip this collection of --db (repeatable)",
    )
    sel.add_argument(
        "--excludeCollectionsWithPrefix",
        dest="exclude_prefix",
        action="append",
        default=[],
        help="skip the collections of --db starting with this prefix (repeatable)",
    )
    sel.add_argument(
        "--nsInclude",
        dest="ns_include",
        action="append",
        default=[],
        help="dump only namespaces matching this pattern (db.coll, db.*, *.coll; repeatable)",
    )
    sel.add_argument(
        "--nsExclude",
        dest="ns_exclude",
        action="append",
        default=[],
        help="skip namespaces matching this pattern (repeatable)",
    )
    sel.add_argument(
        "--viewsAsCollections",
        dest="views_as_collections",
        action="store_true",
        help="dump only the views, each as a collection holding the view's documents",
    )
    sel.add_argument(
        "--dumpDbUsersAndRoles",
        dest="dump_db_users_and_roles",
        action="store_true",
        help="with --db D: also dump D's users and roles (as $admin.system.*)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--archive",
        nargs="?",
        const="-",
        default="-",
        metavar="PATH",
        help="archive path; '-' or the flag alone for standard output (the default)",
    )
    out.add_argument("--gzip", action="store_true", help="gzip the whole archive")
    add_gzip_level_argument(out, "the archive")
    out.add_argument(
        "--oplog", action="store_true", help="point in time: add the oplog written during the dump"
    )
    out.add_argument(
        "-j",
        "--numParallelCollections",
        dest="parallel",
        type=int,
        default=4,
        help="collections dumped in parallel (default 4)",
    )


class _Progress(NamespaceProgress):
    """Per-collection progress on a terminal, out of the server's estimated count."""

    def __call__(self, ns: str, documents: int, nbytes: int, estimate: int, done: bool) -> None:
        self.update(ns, documents, total=max(estimate, documents) if estimate else None, done=done)


def render_summary(result: DumpResult, seconds: float) -> str:
    """The table printed after a dump: namespace, documents, bytes, seconds."""
    rows = [("namespace", "documents", "bytes", "seconds")]
    for s in sorted(result.namespaces, key=lambda s: s.namespace):
        rows.append((printable(s.namespace), str(s.documents), str(s.bytes), f"{s.seconds:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            )
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        f"done: {plural(len(result.namespaces), 'namespace')}, {plural(result.documents, 'document')}, "
        f"{plural(result.bytes, 'byte')} in {seconds:.2f} s (server {printable(result.server_version)})"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..dump import DumpOptions, dump  # pymongo's client: only this verb needs it

    if args.archive == "-":
        refuse_binary_terminal("redirect or pass --archive=FILE")
    options = DumpOptions(
        **connection_fields(args),
        read_preference=args.read_preference,
        db=args.db,
        collection=args.collection,
        query=args.query,
        query_file=args.query_file,
        exclude_collections=args.exclude_collection,
        exclude_collections_with_prefix=args.exclude_prefix,
        ns_include=args.ns_include,
        ns_exclude=args.ns_exclude,
        views_as_collections=args.views_as_collections,
        dump_db_users_and_roles=args.dump_db_users_and_roles,
        oplog=args.oplog,
        parallel=args.parallel,
        gzip=bool(output_gzip(args)),
        gzip_level=args.gzip_level,
    )
    started = time.monotonic()
    silent = quiet(args)
    with _Progress(not silent and is_terminal(sys.stderr)) as progress:
        result = dump(args.archive, options, progress=progress)
    if not silent:
        print(render_summary(result, time.monotonic() - started), file=sys.stderr)
    return 0
