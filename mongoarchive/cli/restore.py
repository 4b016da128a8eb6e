"""``mongoarchive restore``: put an archive back into a live MongoDB, never half a collection."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .._text import plural, printable
from ._common import (
    NamespaceProgress,
    add_connection_arguments,
    add_format_argument,
    add_input_arguments,
    connection_fields,
    input_paths,
    is_terminal,
    quiet,
)

if TYPE_CHECKING:  # pymongo loads with run(), not when the parser is built
    from ..restore import RestoreOptions, RestoreResult

NAME = "restore"
HELP = "restore an archive into a live MongoDB (as mongorestore --archive), atomically per namespace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    add_connection_arguments(parser)
    sel = parser.add_argument_group("selection and renaming")
    sel.add_argument("-d", "--db", help="restore only this database of the archive")
    sel.add_argument("-c", "--collection", help="restore only this collection (needs --db)")
    for flag, dest, text in (
        ("--nsInclude", "ns_include", "restore only namespaces matching this pattern (repeatable)"),
        ("--nsExclude", "ns_exclude", "skip namespaces matching this pattern (repeatable)"),
        ("--nsFrom", "ns_from", "rename namespaces matching this pattern (with --nsTo; repeatable)"),
        ("--nsTo", "ns_to", "the new name of the matching --nsFrom (repeatable)"),
    ):
        sel.add_argument(flag, dest=dest, action="append", default=[], metavar="PATTERN", help=text)
    sel.add_argument(
        "--restoreDbUsersAndRoles",
        dest="restore_db_users",
        action="store_true",
        help="with --db D: restore D's users and roles ($admin.system.*)",
    )
    sel.add_argument(
        "--oplogReplay", dest="oplog_replay", action="store_true", help="apply the archive's oplog"
    )
    sel.add_argument(
        "--oplogLimit",
        dest="oplog_limit",
        metavar="SECONDS[:ORDINAL]",
        help="apply oplog entries before this",
    )
    how = parser.add_argument_group("how")
    how.add_argument(
        "--gzip", action="store_true", default=None, help="the archive is gzipped (sniffed anyway)"
    )
    how.add_argument("--drop", action="store_true", help="replace each target collection")
    how.add_argument(
        "--dryRun", dest="dry_run", action="store_true", help="read and check everything, write nothing"
    )
    how.add_argument(
        "--atomic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stage each namespace and rename it over its target after its CRC checks (default); "
        "--no-atomic inserts straight into the targets, as mongorestore",
    )
    how.add_argument(
        "--noIndexRestore", dest="no_index_restore", action="store_true", help="skip the indexes"
    )
    how.add_argument(
        "--noOptionsRestore", dest="no_options_restore", action="store_true", help="skip collection options"
    )
    how.add_argument(
        "--keepIndexVersion", dest="keep_index_version", action="store_true", help="keep each index's 'v'"
    )
    how.add_argument(
        "--maintainInsertionOrder",
        dest="maintain_insertion_order",
        action="store_true",
        help="insert in archive order (implies --stopOnError and one worker per collection)",
    )
    how.add_argument(
        "--stopOnError", dest="stop_on_error", action="store_true", help="stop at the first failure"
    )
    how.add_argument(
        "-j",
        "--numParallelCollections",
        dest="parallel",
        type=int,
        default=4,
        help="collections inserted into at a time (default 4)",
    )
    how.add_argument(
        "--numInsertionWorkersPerCollection",
        dest="insertion_workers",
        type=int,
        default=1,
        help="batches in flight per collection (default 1)",
    )
    how.add_argument("--writeConcern", dest="write_concern", help="'majority', a number, or a JSON document")
    how.add_argument(
        "--bypassDocumentValidation",
        dest="bypass_validation",
        action="store_true",
        help="insert without the collections' validators",
    )
    how.add_argument(
        "--preserveUUID",
        dest="preserve_uuid",
        action="store_true",
        help="keep the collections' UUIDs (needs --drop)",
    )
    how.add_argument(
        "--cleanupStaging",
        dest="cleanup",
        action="store_true",
        help="only drop staging collections left by restores that died (no archive)",
    )
    add_format_argument(parser, "a table of namespaces")


class _Progress(NamespaceProgress):
    """Documents per namespace; a namespace leaves the display once committed."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled, remove_done=True)

    def __call__(self, ns: str, documents: int, done: bool) -> None:
        self.update(ns, documents, done=done)


def render(result: RestoreResult) -> str:
    """The report: one row per namespace, skipped namespaces, errors, and mongorestore's totals line."""
    rows = [("namespace", "restored to", "documents", "failed", "status")]
    for n in result.namespaces:
        rows.append((printable(n.source), printable(n.target), str(n.documents), str(n.failed), n.status))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2])]
        cells += [row[3].rjust(widths[3]), row[4]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    for ns, why in result.skipped:
        lines.append(f"skipped {printable(ns)}: {why}")
    for left in result.staging_left:
        lines.append(f"staging collection left: {printable(left)} (run restore --cleanupStaging)")
    verb = "checked" if result.dry_run else "restored successfully"
    lines.append(
        f"{result.documents} document(s) {verb}. {result.failed} document(s) failed to restore."
        f" ({plural(len(result.namespaces), 'namespace')}, {result.seconds:.2f} s)"
    )
    return "\n".join(lines)


def _options(args: argparse.Namespace) -> RestoreOptions:
    from ..restore import RestoreOptions

    return RestoreOptions(
        **connection_fields(args),
        db=args.db,
        collection=args.collection,
        ns_include=args.ns_include,
        ns_exclude=args.ns_exclude,
        ns_from=args.ns_from,
        ns_to=args.ns_to,
        drop=args.drop,
        dry_run=args.dry_run,
        atomic=args.atomic,
        no_index_restore=args.no_index_restore,
        no_options_restore=args.no_options_restore,
        keep_index_version=args.keep_index_version,
        maintain_insertion_order=args.maintain_insertion_order,
        stop_on_error=args.stop_on_error,
        parallel=args.parallel,
        insertion_workers=args.insertion_workers,
        write_concern=args.write_concern,
        bypass_document_validation=args.bypass_validation,
        preserve_uuid=args.preserve_uuid,
        restore_db_users_and_roles=args.restore_db_users,
        oplog_replay=args.oplog_replay,
        oplog_limit=args.oplog_limit,
        gzip=args.gzip,
    )


def run(args: argparse.Namespace) -> int:
    from ..restore import cleanup_staging, restore

    options = _options(args)
    if args.cleanup:
        dropped = cleanup_staging(options)
        if args.format == "json":
            print(json.dumps({"dropped": dropped}))
        else:
            print("\n".join([f"dropped {printable(n)}" for n in dropped] + [f"{len(dropped)} dropped"]))
        return 0
    (path,) = input_paths(args)
    silent = quiet(args)
    with _Progress(not silent and is_terminal(sys.stderr) and not args.dry_run) as progress:
        result = restore(path, options, progress=progress)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif not silent or not result.ok:
        print(render(result))
    for error in result.errors:
        print(f"mongoarchive: error: {printable(str(error))}", file=sys.stderr)
    return 0 if result.ok else 1
