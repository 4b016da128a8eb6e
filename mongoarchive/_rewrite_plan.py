"""What a rewrite does with each namespace of its input: kept or dropped, its new name, its metadata.

Selection is mongorestore's ``--nsInclude``/``--nsExclude``, renaming its
``--nsFrom``/``--nsTo``; the oplog is never matched nor renamed (spec/archive.md
§5.1), and a timeseries collection X takes its data namespace
``system.buckets.X`` along (§5.4).  Two namespaces mapped onto one is an
error before anything is written.  ``merge`` shares the plan with ``rewrite``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.son import SON

from .errors import UsageError
from .model import CollectionEntry, Namespace
from .nsfilter import NamespaceFilter
from .nsrename import Renamer, claim_name, renamed_namespace
from .reader import ArchiveReader

if TYPE_CHECKING:
    from ._rewrite_io import _Blocks, _Tap

__all__ = ["OPLOG", "MetadataFn", "_Plan", "_entry_bytes", "_plans", "check_patterns"]

#: Gets the input namespace and the parsed metadata (options, indexes...); returns the new metadata.
MetadataFn = Callable[[Namespace, dict[str, Any]], dict[str, Any]]

OPLOG = Namespace("", "oplog")
_BUCKETS = "system.buckets."
_SON: CodecOptions[Any] = CodecOptions(document_class=SON)


def _dump_metadata(meta: dict[str, Any]) -> str:
    # mongodump writes canonical Extended JSON v2 without spaces (§3.2).
    return json_util.dumps(meta, json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"))


# -- the plan: what each input namespace becomes ---------------------------------------
@dataclasses.dataclass(slots=True)
class _Plan:
    entry: CollectionEntry
    out: Namespace
    out_data: Namespace  # the output's data namespace (system.buckets.X for timeseries, §5.4)
    documents_change: bool
    raw_entry: bytes | None  # None: the entry is rebuilt
    metadata: str
    written: int = 0  # blocks written for it
    sink: _Blocks | None = None  # the output it goes to

    def route(self, data_ns: Namespace) -> bool:
        """Set ``out_data`` for input data namespace ``data_ns``; True if its header changes."""
        if data_ns != self.entry.namespace:
            self.out_data = Namespace(self.out.db, _BUCKETS + self.out.collection)
        return self.out_data != data_ns

    crc: int = 0
    documents: int = 0
    bytes: int = 0


def check_patterns(patterns: Iterable[str], what: str) -> list[str]:
    out = list(patterns)
    for pattern in out:
        if "$" in pattern:
            # mongorestore refuses '$' in include/exclude patterns.
            raise UsageError(f"{what} {pattern!r}: '$' is not allowed in include/exclude patterns")
    return out


def _plans(
    archive: ArchiveReader,
    tap: _Tap,
    select: NamespaceFilter,
    rename: Renamer,
    metadata: MetadataFn | None,
    documents_change: Callable[[Namespace], bool],
    keep_oplog: bool,
    outputs: dict[Namespace, str],
    origin: str = "",
) -> tuple[dict[Namespace, _Plan | None], list[_Plan], list[Namespace]]:
    """What each namespace of ``archive`` becomes; ``outputs`` (output -> source) is shared across inputs."""
    by_data: dict[Namespace, _Plan | None] = {}
    kept: list[_Plan] = []
    dropped: list[Namespace] = []
    declared = {e.namespace for e in archive.collections}
    # §5.4: a timeseries X whose system.buckets.X has a prelude entry of its own gives its
    # data to that entry, which then follows X (kept and renamed with it).
    owned: dict[Namespace, CollectionEntry] = {}
    for e in archive.collections:
        buckets = Namespace(e.db, _BUCKETS + e.collection)
        if e.type == "timeseries" and buckets in declared:
            owned[buckets] = e
    for entry in archive.collections:
        ns = entry.namespace
        names = [ns]
        buckets = Namespace(ns.db, _BUCKETS + ns.collection)
        if entry.type == "timeseries" and buckets not in owned:
            names.append(buckets)  # §5.4
        owner = owned.get(ns)
        if ns == OPLOG:
            # mongorestore keeps the oplog out of namespace matching and renaming (§5.1).
            keep = keep_oplog
            out = ns
        elif owner is not None and select(owner.namespace):
            keep = True
            owner_out = renamed_namespace(rename, owner)
            out = Namespace(owner_out.db, _BUCKETS + owner_out.collection)
        else:
            keep = select(ns) and entry.collection != "system.profile"
            out = renamed_namespace(rename, entry) if keep else ns
        if not keep:
            dropped.append(ns)
            for name in names:
                by_data[name] = None
            continue
        for claimed in {out, Namespace(out.db, _BUCKETS + out.collection)} if len(names) > 1 else {out}:
            claim_name(outputs, claimed, entry, origin + str(ns), "become")
        text = entry.metadata
        if text and (metadata is not None or out != ns):
            meta = entry.parse_metadata().raw
            before = _dump_metadata(meta)
            if out != ns:
                _rename_metadata(meta, ns, out)
            if metadata is not None:
                meta = metadata(ns, meta)
            after = _dump_metadata(meta)
            if after != before:
                text = after
        raw = tap.take(entry.offset) if entry.offset is not None else None
        if out != ns or text != entry.metadata:
            raw = None
        plan = _Plan(entry, out, out, documents_change(ns), raw, text)
        for name in names:
            by_data[name] = plan
        kept.append(plan)
    return by_data, kept, dropped


def _rename_metadata(meta: dict[str, Any], old: Namespace, new: Namespace) -> None:
    # mongodump records the collection's name, and old servers each index's "ns" (§3.2).
    if meta.get("collectionName") == old.collection:
        meta["collectionName"] = new.collection
    for index in meta.get("indexes") or []:
        if isinstance(index, dict) and index.get("ns") == str(old):
            index["ns"] = str(new)


def _entry_bytes(plan: _Plan, tap: _Tap) -> bytes:
    if plan.raw_entry is not None:
        return plan.raw_entry
    entry = plan.entry
    doc: SON[str, Any]
    if entry.offset is not None:
        doc = bson.decode(tap.take(entry.offset), _SON)  # keeps extra fields and their types
    else:
        doc = SON([("db", ""), ("collection", ""), ("metadata", ""), ("size", entry.size)])
        if entry.type is not None:
            doc["type"] = entry.type
    doc["db"], doc["collection"], doc["metadata"] = plan.out.db, plan.out.collection, plan.metadata
    return bson.encode(doc)
