"""The ``mongodump --out`` directory layout: file names, paths and the small metadata files.

mongodump writes ``DIR/<db>/<name>.bson`` (the documents back to back) and
``DIR/<db>/<name>.metadata.json`` (the same Extended JSON string an archive
stores in its prelude, spec/archive.md §3.2).  ``<name>`` is the collection
name escaped like Go's ``url.QueryEscape``; an escaped name longer than 238
bytes becomes its first 208 bytes, ``%24`` and the unpadded base64url SHA-1 of
the name, so that ``.metadata.json.gz`` still fits in 255 bytes.  The oplog
(§5.1) is ``DIR/oplog.bson``, the users and roles of ``--dumpDbUsersAndRoles``
(§5.2) are ``DIR/<db>/$admin.system.users.bson`` (not escaped, no metadata
file), a view (§5.3) has a metadata file only, and a timeseries collection X
(§5.4) keeps its data in ``system.buckets.X.bson`` beside ``X.metadata.json``.
mongodump 100.18 also writes ``DIR/prelude.json``.  With ``--gzip`` every file
gets ``.gz`` except ``oplog.bson``, which is compressed under its plain name.

Names come from untrusted archives: ``plan`` refuses any name that could
reach outside the directory or collide with another after escaping.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import urllib.parse
from collections.abc import Iterable
from pathlib import PurePosixPath

from .errors import MetadataError, NamespaceError
from .model import CollectionEntry, Namespace

__all__ = [
    "OPLOG",
    "OPLOG_FILE",
    "PRELUDE_FILE",
    "USERS_ROLES",
    "FileSet",
    "escape_collection",
    "plan",
    "prelude_json",
    "unescape_collection",
]

#: The oplog's namespace in an archive (§5.1) and its file at the root.
OPLOG = Namespace("", "oplog")
OPLOG_FILE = "oplog.bson"
PRELUDE_FILE = "prelude.json"
#: The --dumpDbUsersAndRoles namespaces (§5.2): stored under their own names, not escaped.
USERS_ROLES = ("$admin.system.users", "$admin.system.roles", "$admin.system.version")

_MAX_ESCAPED = 238
_MAX_NAME = 255  # bytes in one file name on the usual file systems
_KEEP = 208
# Go's url.QueryEscape leaves only these bytes alone; a space becomes '+'.
_SAFE = "-_.~"


def escape_collection(name: str) -> str:
    """The file-name stem mongodump uses for collection ``name`` (see the module docs)."""
    escaped = urllib.parse.quote_plus(name, safe=_SAFE, encoding="utf-8", errors="surrogateescape")
    if len(escaped) > _MAX_ESCAPED:
        digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).digest()
        escaped = escaped[:_KEEP] + "%24" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return escaped


def unescape_collection(stem: str) -> str:
    """The collection name a file-name stem stands for (truncated stems cannot be undone)."""
    return urllib.parse.unquote_plus(stem, encoding="utf-8", errors="surrogateescape")


def prelude_json(server_version: str, tool_version: str) -> bytes:
    """``prelude.json`` as mongodump 100.18 writes it (Go's encoding/json, no newline)."""
    text = json.dumps(
        {"ServerVersion": server_version, "ToolVersion": tool_version},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # encoding/json escapes these for safe embedding in HTML; Python does not.
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(ch, esc)
    return text.replace("\u2029", "\\u2029").encode("utf-8", "surrogateescape")


@dataclasses.dataclass(frozen=True, slots=True)
class NamespaceFiles:
    """Where one prelude entry goes: its data file (None for a view) and metadata file (or None).

    ``data_ns`` is where a timeseries collection's data lives before 8.3 (§5.4).
    """

    entry: CollectionEntry
    data_ns: Namespace
    data: str | None
    metadata: str | None


@dataclasses.dataclass(slots=True)
class FileSet:
    """Every file an archive unpacks to, relative to the directory, in prelude order."""

    namespaces: list[NamespaceFiles]
    #: Entry and data namespaces (both names of a timeseries collection, §5.4) to their files.
    by_ns: dict[Namespace, NamespaceFiles]
    prelude: str | None
    #: The pack record (``_packrecord``), written by unpack only.
    record: str | None = None

    def paths(self) -> list[str]:
        out = [p for f in self.namespaces for p in (f.data, f.metadata) if p is not None]
        out.extend(p for p in (self.prelude, self.record) if p is not None)
        return out


def _check_db(db: str, ns: str, offset: int | None) -> None:
    bad = None
    if db in (".", ".."):
        bad = f"the database name {db!r} would name the directory itself or its parent"
    elif any(ch in db for ch in "/\\\x00"):
        bad = "the database name holds '/', '\\' or NUL, which would leave its directory"
    elif len(db.encode("utf-8", "surrogateescape")) > _MAX_NAME:
        bad = f"the database name is longer than the {_MAX_NAME} bytes a directory name may have"
    if bad is not None:
        raise NamespaceError(
            bad,
            offset=offset,
            namespace=ns,
            code="unsafe-name",
            hint="rename it first (mongoarchive filter --nsFrom/--nsTo) or read the archive with cat",
        )


def _kind(entry: CollectionEntry) -> str | None:
    """The entry's type; archives written before 2021 have none, so it is read from the options."""
    if entry.type is not None or not entry.metadata:
        return entry.type
    try:
        options = entry.parse_metadata().options
    except MetadataError:
        return None
    if "viewOn" in options:
        return "view"
    return "timeseries" if "timeseries" in options else None


def _suffix(gzip: bool) -> str:
    return ".gz" if gzip else ""


def plan(
    entries: Iterable[CollectionEntry], *, gzip: bool, with_prelude: bool, record: str | None = None
) -> FileSet:
    """The files for ``entries``; NamespaceError before anything is written if a name is unsafe.

    ``record``: the name of a root file of our own (the pack record) that no database may take.
    """
    gz = _suffix(gzip)
    files: list[NamespaceFiles] = []
    by_data: dict[Namespace, NamespaceFiles] = {}
    seen: dict[str, str] = {}  # path -> namespace that claimed it
    top: dict[str, str] = {}  # first path component -> "file" or "dir"

    def claim(path: str, ns: str, offset: int | None, kind: str) -> str:
        if path in seen:
            raise NamespaceError(
                f"the file {path!r} would hold both {seen[path]!r} and {ns!r}",
                offset=offset,
                namespace=ns,
                code="name-collision",
                hint="rename one of them first (mongoarchive filter --nsFrom/--nsTo)",
            )
        seen[path] = ns
        first = PurePosixPath(path).parts[0]
        if top.setdefault(first, kind) != kind:
            raise NamespaceError(
                f"{first!r} would be both a file and a database directory",
                offset=offset,
                namespace=ns,
                code="name-collision",
                hint="rename the database first (mongoarchive filter --nsFrom/--nsTo)",
            )
        return path

    if with_prelude:
        claim(PRELUDE_FILE + gz, "prelude.json", None, "file")
    if record is not None:
        claim(record, "the pack record", None, "file")
    for entry in entries:
        ns = str(entry.namespace)
        at = entry.offset
        if entry.namespace == OPLOG:
            # mongodump compresses the oplog but keeps its plain name (seen in 100.6.1 and 100.18).
            item = NamespaceFiles(entry, entry.namespace, claim(OPLOG_FILE, ns, at, "file"), None)
        else:
            if entry.db == "":
                raise NamespaceError(
                    "only the oplog may have an empty database name",
                    offset=at,
                    namespace=ns,
                    code="unsafe-name",
                    hint="mongodump would write it outside any database directory",
                )
            if entry.collection == "":
                raise NamespaceError(
                    "the collection name is empty", offset=at, namespace=ns, code="unsafe-name"
                )
            _check_db(entry.db, ns, at)
            base = f"{entry.db}/"
            if entry.collection in USERS_ROLES and entry.metadata == "":
                path = claim(f"{base}{entry.collection}.bson{gz}", ns, at, "dir")
                item = NamespaceFiles(entry, entry.namespace, path, None)
            else:
                stem = escape_collection(entry.collection)
                meta = claim(f"{base}{stem}.metadata.json{gz}", ns, at, "dir") if entry.metadata else None
                data: str | None = None  # §5.3: mongodump writes no data file for a view
                data_ns = entry.namespace
                kind = _kind(entry)
                if kind == "timeseries":
                    data_ns = Namespace(entry.db, "system.buckets." + entry.collection)
                    data = claim(f"{base}{escape_collection(data_ns.collection)}.bson{gz}", ns, at, "dir")
                elif kind != "view":
                    data = claim(f"{base}{stem}.bson{gz}", ns, at, "dir")
                item = NamespaceFiles(entry, data_ns, data, meta)
        for key in {item.entry.namespace, item.data_ns}:
            if key in by_data:
                raise NamespaceError(
                    "two prelude entries share one data namespace",
                    offset=at,
                    namespace=str(key),
                    code="name-collision",
                )
            by_data[key] = item
        files.append(item)
    return FileSet(files, by_data, PRELUDE_FILE + gz if with_prelude else None, record)
