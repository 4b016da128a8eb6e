"""Per-namespace statistics: document sizes and the shape of the documents (``mongoarchive stats``).

Sizes cover every document of a namespace.  min and max are exact; median
and p99 are exact up to ``SIZE_RESERVOIR`` documents and beyond that come
from a uniform reservoir sample of that many sizes (Algorithm R, seeded).
The shape (field paths, how many documents hold each, the BSON types met
there) is the analysis MongoDB Compass shows: over every document, or with
``sample=N`` over a uniform reservoir sample of N documents per namespace,
reproducible with ``seed``.  Paths: ``a.b`` for a field of an embedded
document, ``a[]`` for the elements of an array, ``a[].b`` for fields of
documents inside it.  One pass over the stream; the memory held is the
reservoirs and one entry per distinct path.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from collections import Counter
from collections.abc import Iterable
from typing import Any

from . import open as open_archive
from ._bsonwalk import TYPE_NAMES, bad_bson, elements
from .errors import UsageError
from .model import MAX_BSON_SIZE, Document, Namespace
from .nsfilter import NamespaceFilter

__all__ = ["SIZE_RESERVOIR", "FieldStats", "NamespaceStats", "StatsResult", "stats"]

#: Sizes kept per namespace for the median and p99.
SIZE_RESERVOIR = 100_000


@dataclasses.dataclass(slots=True)
class FieldStats:
    """One field path: documents holding it, and the BSON types of its values."""

    path: str
    present: int = 0
    types: Counter[str] = dataclasses.field(default_factory=Counter)

    def to_dict(self, analysed: int) -> dict[str, object]:
        return {
            "path": self.path,
            "present": self.present,
            "presence": self.present / analysed if analysed else 0.0,
            "types": dict(self.types.most_common()),
        }


def _quantile(ordered: list[int], q: float) -> int:
    """The nearest-rank quantile of sorted values."""
    if not ordered:
        return 0
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


@dataclasses.dataclass(slots=True)
class NamespaceStats:
    """Sizes and shape of one namespace."""

    ns: Namespace
    documents: int = 0
    total_bytes: int = 0
    min_size: int = 0
    max_size: int = 0
    analysed: int = 0
    fields: dict[str, FieldStats] = dataclasses.field(default_factory=dict)
    _sizes: list[int] = dataclasses.field(default_factory=list)
    _sample: list[bytes] = dataclasses.field(default_factory=list)

    @property
    def sizes_exact(self) -> bool:
        return self.documents <= len(self._sizes)

    def quantile(self, q: float) -> int:
        return _quantile(sorted(self._sizes), q)

    @property
    def id_types(self) -> dict[str, int]:
        f = self.fields.get("_id")
        return dict(f.types.most_common()) if f is not None else {}

    def to_dict(self) -> dict[str, object]:
        ordered = sorted(self._sizes)
        return {
            "db": self.ns.db,
            "collection": self.ns.collection,
            "documents": self.documents,
            "bytes": self.total_bytes,
            "size": {
                "min": self.min_size,
                "median": _quantile(ordered, 0.5),
                "p99": _quantile(ordered, 0.99),
                "max": self.max_size,
                "max_of_limit": self.max_size / MAX_BSON_SIZE,
                "quantiles_exact": self.sizes_exact,
            },
            "analysed": self.analysed,
            "id_types": self.id_types,
            "fields": [f.to_dict(self.analysed) for f in self.fields.values()],
        }


@dataclasses.dataclass(slots=True)
class StatsResult:
    source: str
    sample: int | None
    seed: int
    namespaces: list[NamespaceStats]

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "sample": self.sample,
            "seed": self.seed,
            "namespaces": [n.to_dict() for n in self.namespaces],
        }


def _walk(
    raw: bytes, start: int, prefix: str, fields: dict[str, FieldStats], seen: set[str], array: bool
) -> None:
    for kind, key, s, _ in elements(raw, start):
        path = prefix + "[]" if array else (prefix + "." if prefix else "") + key.decode("utf-8", "replace")
        f = fields.get(path)
        if f is None:
            f = fields[path] = FieldStats(path)
        f.types[TYPE_NAMES.get(kind, f"0x{kind:02x}")] += 1
        if path not in seen:
            seen.add(path)
            f.present += 1
        if kind == 0x03 or kind == 0x04:
            _walk(raw, s, path, fields, seen, kind == 0x04)


def _analyse(item: NamespaceStats, raw: bytes, offset: int | None) -> None:
    try:
        _walk(raw, 0, "", item.fields, set(), False)
    except (ValueError, IndexError, struct.error) as exc:
        raise bad_bson(str(exc), offset=offset, namespace=str(item.ns)) from exc
    item.analysed += 1


def stats(
    src: Any,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    sample: int | None = None,
    seed: int = 0,
) -> StatsResult:
    """Statistics of every selected namespace of archive ``src`` (path, file object or "-").

    ``sample``: analyse the shape of N documents per namespace, drawn
    uniformly (reservoir sampling with ``random.Random(seed)``); None: all.
    Every CRC is checked; damage raises the reader's error.
    """
    if sample is not None and sample <= 0:
        raise UsageError("--sample must be a positive number of documents")
    selected = NamespaceFilter(include, exclude)
    rng = random.Random(seed)
    with open_archive(src) as archive:
        result = StatsResult(str(getattr(archive, "name", src)), sample, seed, [])
        by_ns: dict[Namespace, NamespaceStats | None] = {}
        for event in archive.events():
            if type(event) is not Document:
                ns = event.ns
                if ns not in by_ns:
                    entry = archive.entry_for(ns)
                    keep = selected(ns) or selected(entry.namespace)
                    by_ns[ns] = NamespaceStats(ns) if keep else None
                    if keep:
                        result.namespaces.append(by_ns[ns])  # type: ignore[arg-type]
                continue
            assert isinstance(event, Document)
            item = by_ns[event.ns]
            if item is None:
                continue
            raw = event.raw
            size = len(raw)
            item.documents += 1
            item.total_bytes += size
            n = item.documents
            if n == 1 or size < item.min_size:
                item.min_size = size
            item.max_size = max(item.max_size, size)
            if len(item._sizes) < SIZE_RESERVOIR:
                item._sizes.append(size)
            else:
                j = rng.randrange(n)
                if j < SIZE_RESERVOIR:
                    item._sizes[j] = size
            if sample is None:
                _analyse(item, raw, event.offset)
            elif len(item._sample) < sample:
                item._sample.append(raw)
            else:
                j = rng.randrange(n)
                if j < sample:
                    item._sample[j] = raw
        for item in result.namespaces:
            for raw in item._sample:
                _analyse(item, raw, None)
            item._sample = []
        return result
