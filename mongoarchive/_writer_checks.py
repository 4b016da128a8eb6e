"""What the writer refuses, so that no supported mongorestore refuses what it writes.

Every check raises UsageError before a byte is written.  The limits come from
the official readers (mongo-tools 100.6.1 and 100.18.0, checked with their own
archive code) and from the server's naming rules, which decide whether a
restore can create the namespace at all (spec/archive.md §3, §5, §7).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import MetadataError, UsageError
from .model import CollectionEntry

__all__ = [
    "COLLECTION_TYPES",
    "USERS_AND_ROLES",
    "check_int",
    "check_namespace",
    "check_text",
    "check_type",
    "metadata_text",
    "parse_server_version",
]

#: mongorestore 100.16+ splits off a suffix at the first "-" or "+" and parses
#: the rest as three decimal parts, each an int64 (§7); ASCII digits only.
_SERVER_VERSION = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)(?:[-+].*)?", re.DOTALL)
_INT64_MAX = 2**63 - 1

#: The ``type`` values mongodump writes; "" is for special namespaces (§3.2).
COLLECTION_TYPES = ("collection", "view", "timeseries", "")
#: The only collection names with "$": users and roles of ``--dumpDbUsersAndRoles`` (§5.2).
USERS_AND_ROLES = frozenset({"$admin.system.users", "$admin.system.roles", "$admin.system.version"})
#: The server refuses longer namespaces ("db.collection", UTF-8 bytes) and database names.
MAX_NAMESPACE_BYTES = 255
MAX_DB_BYTES = 63
#: Characters a database name cannot hold on the server (its Unix rules, plus NUL).
_DB_FORBIDDEN = frozenset('/\\. "$\x00')
#: The keys mongodump writes in a metadata document, in its order (§3.2).
METADATA_KEYS = ("options", "indexes", "uuid", "collectionName", "type")


def check_text(value: object, what: str, namespace: str | None = None) -> str:
    """``value`` if it is a str that UTF-8 can encode (BSON strings are UTF-8)."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a str, not {type(value).__name__}", namespace=namespace)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{what} cannot be encoded as UTF-8: {exc.reason} at character {exc.start}",
            namespace=namespace,
            hint="lone surrogates have no UTF-8 form",
        ) from exc
    return value


def check_int(value: object, what: str, bits: int, namespace: str | None = None) -> int:
    """``value`` if it is an int (not a bool) that fits a signed integer of ``bits`` bits."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{what} must be an int, not {type(value).__name__}", namespace=namespace)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise UsageError(f"{what} must fit in an int{bits}: {value}", namespace=namespace)
    return value


def parse_server_version(value: object) -> tuple[int, int, int]:
    """(major, minor, patch) of a ``server_version`` every supported mongorestore accepts (§7)."""
    text = check_text(value, "server_version")
    match = _SERVER_VERSION.fullmatch(text)
    parts = tuple(int(p) for p in match.groups()) if match else ()
    if len(parts) != 3 or max(parts) > _INT64_MAX:
        raise UsageError(
            f"server_version {text!r} is not X.Y.Z (optionally followed by -suffix or +suffix)",
            hint="mongorestore 100.16+ refuses the archive otherwise, even with --dryRun; "
            "give the dumped server's version, e.g. '7.0.14'",
        )
    return parts[0], parts[1], parts[2]


def check_type(kind: object, namespace: str) -> str | None:
    """``kind`` if it is one of mongodump's collection types, or None (no ``type`` field)."""
    if kind is None:
        return None
    if not isinstance(kind, str):
        raise UsageError(f"type must be a str or None, not {type(kind).__name__}", namespace=namespace)
    if kind not in COLLECTION_TYPES:
        raise UsageError(
            f"unknown collection type {kind!r}",
            namespace=namespace,
            hint="use 'collection', 'view', 'timeseries', '' (special namespaces) or None",
        )
    return kind


def check_namespace(db: object, collection: object, kind: str | None, data_collection: str) -> None:
    """Refuse names a restore cannot create: see the module docstring and §5."""
    db = check_text(db, "the database name")
    collection = check_text(collection, "the collection name")
    ns = f"{db}.{collection}"
    if not collection:
        # Readers refuse a namespace header with an empty collection (§3.3, §7).
        raise UsageError("the collection name is empty", namespace=ns, hint="every namespace needs one")
    if "\x00" in collection:
        raise UsageError("the collection name holds a NUL character", namespace=ns)
    if db == "":
        # db "" is the oplog's and nothing else's (§5.1).
        if collection != "oplog":
            raise UsageError(
                "the database name is empty",
                namespace=ns,
                hint="only the oplog (db '', collection 'oplog') has no database",
            )
        if kind not in ("", None):
            raise UsageError(f"the oplog cannot have type {kind!r}", namespace=ns, hint="use type=''")
        return
    bad = sorted(set(db) & _DB_FORBIDDEN)
    if bad:
        raise UsageError(
            f"the database name holds {', '.join(repr(c) for c in bad)}",
            namespace=ns,
            hint='a database name cannot hold / \\ . space " $ or NUL',
        )
    if len(db.encode("utf-8")) > MAX_DB_BYTES:
        raise UsageError(f"the database name is longer than {MAX_DB_BYTES} bytes", namespace=ns)
    if "$" in collection and (collection not in USERS_AND_ROLES or db == "admin"):
        raise UsageError(
            "the collection name holds '$'",
            namespace=ns,
            hint="only $admin.system.users, .roles and .version (in a database other than admin) may",
        )
    size = len(f"{db}.{data_collection}".encode())
    if size > MAX_NAMESPACE_BYTES:
        raise UsageError(
            f"the namespace {db}.{data_collection} is {size} bytes, the server allows {MAX_NAMESPACE_BYTES}",
            namespace=ns,
        )


def metadata_text(metadata: object, db: str, collection: str, kind: str | None) -> str:
    """The metadata string to store: checked Extended JSON text, or a mapping encoded like mongodump."""
    ns = f"{db}.{collection}"
    if isinstance(metadata, str):
        check_text(metadata, "metadata", ns)
        try:
            CollectionEntry(db, collection, metadata).parse_metadata()
        except MetadataError as exc:
            raise UsageError(exc.message, namespace=ns, hint="give Extended JSON text or a mapping") from exc
        return metadata
    if not isinstance(metadata, Mapping):
        raise UsageError(
            f"metadata must be Extended JSON text or a mapping, not {type(metadata).__name__}", namespace=ns
        )
    return _encode_metadata(metadata, collection, kind, ns)


def _encode_metadata(doc: Mapping[Any, Any], collection: str, kind: str | None, ns: str) -> str:
    unknown = [k for k in doc if k not in METADATA_KEYS]
    if unknown:
        raise UsageError(
            f"metadata has keys mongodump does not write: {unknown}",
            namespace=ns,
            hint=f"the keys are {', '.join(METADATA_KEYS)}",
        )
    options = doc.get("options", {})
    indexes = doc.get("indexes", [])
    uuid = doc.get("uuid", "")
    name = doc.get("collectionName", collection)
    meta_type = doc.get("type", kind or "")
    if not isinstance(options, Mapping):
        raise UsageError("metadata 'options' must be a mapping", namespace=ns)
    if isinstance(indexes, (str, bytes)) or not isinstance(indexes, Sequence):
        raise UsageError("metadata 'indexes' must be a list of mappings", namespace=ns)
    if not all(isinstance(i, Mapping) for i in indexes):
        raise UsageError("metadata 'indexes' must be a list of mappings", namespace=ns)
    if not isinstance(uuid, str) or (uuid and not re.fullmatch(r"[0-9a-f]{32}", uuid)):
        raise UsageError("metadata 'uuid' must be 32 lowercase hex digits", namespace=ns)
    if name != collection:
        raise UsageError(f"metadata 'collectionName' is {name!r}, not {collection!r}", namespace=ns)
    if meta_type != (kind or ""):
        raise UsageError(f"metadata 'type' is {meta_type!r}, the entry's type is {kind!r}", namespace=ns)
    # mongodump's encoder (canonical Extended JSON v2, its key order and omissions) lives
    # with the dump driver; imported here only when a mapping is given.
    from ._dump_metadata import metadata_json

    try:
        return metadata_json(options, indexes, uuid, name, meta_type)
    except Exception as exc:  # TypeError, OverflowError, bson errors from json_util
        raise UsageError(f"metadata cannot be encoded as Extended JSON: {exc}", namespace=ns) from exc
