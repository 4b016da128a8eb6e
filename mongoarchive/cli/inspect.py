"""``mongoarchive inspect FILE|-``: what an archive holds, without a server.

Reads the prelude and the whole body (every CRC is checked on the way) and
prints the header, then one row per namespace: kind, documents, bytes,
segments, indexes, options in brief and CRC state (spec/archive.md §3-§5).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from .. import open as open_archive
from .._text import plural, printable
from ..errors import MetadataError
from ._common import (
    add_format_argument,
    add_input_arguments,
    input_paths,
    is_terminal,
    open_input,
    quiet,
    warning_line,
)

if TYPE_CHECKING:
    from ..model import CollectionEntry, Namespace
    from ..reader import ArchiveReader

NAME = "inspect"
HELP = "show the header, the collections and a summary of every namespace"

#: Special namespaces (spec §5.1, §5.2).
_USERS = ("system.users", "$admin.system.users")
_ROLES = ("system.roles", "$admin.system.roles")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    add_format_argument(parser)


def kind_of(ns: Namespace, entry: CollectionEntry | None, options: dict[str, Any]) -> str:
    """collection, view, timeseries, oplog, users or roles (spec §5)."""
    if ns.db == "" and ns.collection == "oplog":
        return "oplog"
    if ns.collection in _USERS:
        return "users"
    if ns.collection in _ROLES:
        return "roles"
    if entry is not None and entry.type in ("view", "timeseries"):
        return entry.type
    if "viewOn" in options:  # archives written before 2021 have no type field (§5.3)
        return "view"
    if "timeseries" in options:
        return "timeseries"
    return "collection"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a value decoded from Extended JSON (relaxed form)."""
    from bson import json_util

    return json.loads(json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS))


def _describe_entry(entry: CollectionEntry, problems: list[MetadataError]) -> dict[str, Any]:
    try:
        meta = entry.parse_metadata()
    except MetadataError as exc:
        problems.append(exc)
        return {"indexes": [], "options": {}, "metadata_error": exc.message}
    indexes = [{"name": str(ix.get("name", "")), "key": _plain(ix.get("key", {}))} for ix in meta.indexes]
    return {"indexes": indexes, "options": _plain(meta.options)}


def summarize(archive: ArchiveReader, problems: list[MetadataError] | None = None) -> dict[str, Any]:
    """Read the whole body and describe the archive (the JSON shape in docs/inspect.md).

    A metadata string that is not valid Extended JSON (§3.2) does not stop the
    summary: the entry gets ``metadata_error`` and the error is appended to
    ``problems``.
    """
    problems = [] if problems is None else problems
    archive.validate()
    h = archive.header
    from ..model import Namespace

    entries: dict[Namespace, CollectionEntry] = {}
    for c in archive.collections:
        entries.setdefault(c.namespace, c)
    # Timeseries data before server 8.3 lives under system.buckets.X (§5.4).
    owners: dict[Namespace, Namespace] = {}
    for c in archive.collections:
        if c.type == "timeseries":
            owners.setdefault(Namespace(c.db, "system.buckets." + c.collection), c.namespace)
    collections = []
    described: dict[Namespace, dict[str, Any]] = {}
    for c in archive.collections:
        extra = _describe_entry(c, problems)
        extra["kind"] = kind_of(c.namespace, c, extra["options"])
        described.setdefault(c.namespace, extra)
        collections.append(
            {"db": c.db, "collection": c.collection, "type": c.type, "metadata": c.metadata, **extra}
        )
    namespaces = []
    for ns, s in archive.namespaces.items():
        row: dict[str, Any] = s.to_dict()
        owner = entries.get(owners.get(ns, ns))
        info = described.get(owner.namespace) if owner is not None else None
        row["kind"] = info["kind"] if info else kind_of(ns, None, {})
        row["indexes"] = info["indexes"] if info else []
        row["options"] = info["options"] if info else {}
        if info and "metadata_error" in info:
            row["metadata_error"] = info["metadata_error"]
        namespaces.append(row)
    return {
        "header": {
            "concurrent_collections": h.concurrent_collections,
            "version": h.version,
            "server_version": h.server_version,
            "tool_version": h.tool_version,
        },
        "collections": collections,
        "namespaces": namespaces,
        "gzip": archive.gzip,
        "totals": {
            "namespaces": len(namespaces),
            "documents": sum(n["documents"] for n in namespaces),
            "bytes": sum(n["bytes"] for n in namespaces),
            "segments": sum(n["segments"] for n in namespaces),
        },
    }


_WRAPPERS = {"$oid", "$date", "$numberDecimal", "$numberLong", "$numberDouble", "$numberInt"}


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        if len(value) == 1:
            ((k, v),) = value.items()
            if k in _WRAPPERS:  # {"$oid": ...}, {"$date": ...}: the value says enough
                return _scalar(v)
        return "{" + ",".join(f"{k}:{_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def brief_key(key: dict[str, Any]) -> str:
    """An index key in brief: ``a:1,b:-1``."""
    return ",".join(f"{k}:{_scalar(v)}" for k, v in key.items())


def brief_indexes(indexes: list[dict[str, Any]]) -> str:
    return " ".join(f"{ix['name']}({brief_key(ix['key'])})" for ix in indexes) or "-"


def brief_options(options: dict[str, Any], width: int = 48) -> str:
    """Collection options in brief: ``capped=true size=4096 viewOn=c pipeline[2]``."""
    parts = []
    for k, v in options.items():
        if isinstance(v, list):
            parts.append(f"{k}[{len(v)}]")
        elif isinstance(v, dict):
            inner = _scalar(v)
            parts.append(f"{k}={inner}" if len(inner) <= 24 else f"{k}{{{len(v)}}}")
        else:
            parts.append(f"{k}={_scalar(v)}")
    text = " ".join(parts) or "-"
    return text if len(text) <= width else text[: width - 3] + "..."


#: The indexes cell of a namespace whose metadata string could not be parsed.
UNPARSED = "? (unparsed metadata)"

COLUMNS = ("namespace", "type", "documents", "bytes", "segments", "crc", "indexes", "options")
_NUMERIC = {"documents", "bytes", "segments"}


def table_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """The namespace rows of the table, then the totals row; every cell is printable()."""
    rows: list[tuple[str, ...]] = []
    for ns in summary["namespaces"]:
        rows.append(
            tuple(
                printable(cell)
                for cell in (
                    f"{ns['db']}.{ns['collection']}",
                    ns["kind"],
                    str(ns["documents"]),
                    str(ns["bytes"]),
                    str(ns["segments"]),
                    ns["crc"],
                    # Unparsed metadata: the indexes and options are unknown, not absent.
                    UNPARSED if "metadata_error" in ns else brief_indexes(ns["indexes"]),
                    "?" if "metadata_error" in ns else brief_options(ns["options"]),
                )
            )
        )
    t = summary["totals"]
    rows.append(
        (
            f"total ({t['namespaces']})",
            "",
            str(t["documents"]),
            str(t["bytes"]),
            str(t["segments"]),
            "",
            "",
            "",
        )
    )
    return rows


def header_line(summary: dict[str, Any]) -> str:
    """The prelude header on one line (its strings printable())."""
    h = summary["header"]
    return printable(
        f"format {h['version']}  server {h['server_version']}  tool {h['tool_version']}  "
        f"concurrent_collections {h['concurrent_collections']}  gzip {'yes' if summary['gzip'] else 'no'}"
    )


def prelude_line(summary: dict[str, Any]) -> str:
    """``N collections in the prelude``."""
    return f"{plural(len(summary['collections']), 'collection')} in the prelude"


def render_text(summary: dict[str, Any]) -> str:
    """Plain aligned text (when stdout is not a terminal)."""
    lines = [header_line(summary), prelude_line(summary), ""]
    rows = [COLUMNS, *table_rows(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if COLUMNS[i] in _NUMERIC else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines.append(fmt(rows[0]))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt(r) for r in rows[1:-1])
    lines.append("  ".join("-" * w for w in widths))
    lines.append(fmt(rows[-1]))
    return "\n".join(lines)


def render_rich(summary: dict[str, Any]) -> None:
    """A rich table on the terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    # Text, not a markup string: a server version like "[bold]" is shown as it is.
    console.print(Text(header_line(summary)), highlight=False)
    console.print(Text(prelude_line(summary)), highlight=False)
    table = Table(show_footer=False)
    for col in COLUMNS:
        table.add_column(col, justify="right" if col in _NUMERIC else "left", overflow="fold")
    rows = table_rows(summary)
    styles = {"ok": "green", "mismatch": "bold red", "unfinished": "yellow", "unverifiable": "yellow"}
    for row in rows[:-1]:
        # Text cells: names like "a[1]" must not be read as rich markup.
        cells = [Text(c, style=styles.get(c, "") if i == 5 else "") for i, c in enumerate(row)]
        table.add_row(*cells)
    table.add_section()
    table.add_row(*(Text(c) for c in rows[-1]), style="bold")
    console.print(table)


def run(args: argparse.Namespace) -> int:
    (path,) = input_paths(args)
    with open_input(path, args, "inspecting") as handle, open_archive(handle) as archive:
        if path == "-":
            archive.name = "<stdin>"
        problems: list[MetadataError] = []
        summary = summarize(archive, problems)
        if not quiet(args):
            for warning in archive.warnings:  # diagnostics: stderr, never mixed with the result
                print(warning_line(warning, "mongoarchive inspect"), file=sys.stderr)
            # inspect is a viewer: bad metadata is a warning here (exit 0); check fails on it.
            for exc in problems:
                print(warning_line(exc, "mongoarchive inspect"), file=sys.stderr)
    if args.format == "json":
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif is_terminal(sys.stdout):
        render_rich(summary)
    else:
        print(render_text(summary))
    return 0
