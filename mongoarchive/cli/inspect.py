"""``mongoarchive inspect FILE|-``: what an archive holds, without a server."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import open as open_archive
from ..reader import ArchiveReader

NAME = "inspect"
HELP = "show the header, the collections and a summary of every namespace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="archive path, or - for standard input")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )


def summarize(archive: ArchiveReader) -> dict[str, Any]:
    """Read the whole body and describe the archive (the JSON shape in the README)."""
    archive.validate()
    h = archive.header
    return {
        "header": {
            "concurrent_collections": h.concurrent_collections,
            "version": h.version,
            "server_version": h.server_version,
            "tool_version": h.tool_version,
        },
        "collections": [
            {"db": c.db, "collection": c.collection, "type": c.type, "metadata": c.metadata}
            for c in archive.collections
        ],
        "namespaces": [s.to_dict() for s in archive.namespaces.values()],
        "gzip": archive.gzip,
    }


def render_text(summary: dict[str, Any]) -> str:
    h = summary["header"]
    lines = [
        f"format {h['version']}  server {h['server_version']}  tool {h['tool_version']}  "
        f"concurrent_collections {h['concurrent_collections']}  gzip {'yes' if summary['gzip'] else 'no'}",
        f"{len(summary['collections'])} collections in the prelude",
    ]
    rows = [("namespace", "documents", "bytes", "segments", "crc")]
    for ns in summary["namespaces"]:
        rows.append(
            (f"{ns['db']}.{ns['collection']}", str(ns["documents"]), str(ns["bytes"]), str(ns["segments"]), ns["crc"])
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:4], widths[1:4])] + [row[4]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    total_docs = sum(ns["documents"] for ns in summary["namespaces"])
    total_bytes = sum(ns["bytes"] for ns in summary["namespaces"])
    lines.append(f"total: {len(summary['namespaces'])} namespaces, {total_docs} documents, {total_bytes} bytes")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with open_archive(args.file) as archive:
        summary = summarize(archive)
    if args.format == "json":
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(summary))
    return 0
