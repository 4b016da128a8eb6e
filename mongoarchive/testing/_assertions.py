"""Comparisons of two archives with a readable diff: equivalent content, or the exact same bytes."""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import IO, Any

import mongoarchive

from .._io import open_source
from ..model import Document, NamespaceEnd

__all__ = ["IGNORABLE", "assert_equivalent", "assert_exact_copy", "describe"]

Src = bytes | str | Path | IO[bytes]
#: What ``assert_equivalent`` can be told to ignore.
IGNORABLE = frozenset(
    {"server_version", "tool_version", "concurrent_collections", "metadata", "types", "order", "crc"}
)


def _open(src: Src) -> Any:
    return mongoarchive.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)


def describe(src: Src, ignore: frozenset[str] = frozenset()) -> list[str]:
    """The archive as lines of text: header, entries, then per namespace its documents and CRC."""
    lines: list[str] = []
    with _open(src) as reader:
        h = reader.header
        lines.append(f"header version={h.version!r}")
        for field in ("server_version", "tool_version", "concurrent_collections"):
            if field not in ignore:
                lines.append(f"header {field}={getattr(h, field)!r}")
        for c in reader.collections:
            kind = "" if "types" in ignore else f" type={c.type!r}"
            meta = "" if "metadata" in ignore else f" metadata={c.metadata!r}"
            lines.append(f"entry {c.namespace}{kind}{meta}")
        docs: dict[str, list[bytes]] = {}
        crcs: dict[str, int] = {}
        for ev in reader.events():
            if isinstance(ev, Document):
                docs.setdefault(str(ev.ns), []).append(ev.raw)
            elif isinstance(ev, NamespaceEnd):
                crcs[str(ev.ns)] = ev.crc
                docs.setdefault(str(ev.ns), [])
    for ns in sorted(docs):
        values = sorted(docs[ns]) if "order" in ignore else docs[ns]
        lines.append(f"namespace {ns}: {len(values)} documents")
        lines.extend(f"  {ns} [{i}] {raw.hex()}" for i, raw in enumerate(values))
        if "crc" not in ignore and "order" not in ignore:
            lines.append(f"  {ns} crc=0x{crcs[ns]:016x}")
    return lines


def assert_equivalent(a: Src, b: Src, *, ignore: set[str] | frozenset[str] = frozenset()) -> None:
    """Fail unless ``a`` and ``b`` hold the same namespaces, metadata, documents and CRCs.

    Blocks may be cut and interleaved differently; gzip or not does not matter.
    ``ignore`` names what may differ: see ``IGNORABLE`` ("order" compares each
    namespace's documents as a multiset, which also drops the CRC).
    """
    unknown = set(ignore) - IGNORABLE
    if unknown:
        raise ValueError(f"cannot ignore {sorted(unknown)}; choose from {sorted(IGNORABLE)}")
    left, right = describe(a, frozenset(ignore)), describe(b, frozenset(ignore))
    if left != right:
        diff = "\n".join(difflib.unified_diff(left, right, "first", "second", lineterm="", n=2))
        raise AssertionError(f"the archives differ:\n{diff}")


def _raw(src: Src) -> bytes:
    source = open_source(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
    try:
        out = bytearray()
        buf = bytearray(1 << 20)
        with memoryview(buf) as view:
            while n := source.readinto(view):
                out += view[:n]
        return bytes(out)
    finally:
        source.close()


def assert_exact_copy(a: Src, b: Src) -> None:
    """Fail unless ``a`` and ``b`` are the same archive byte for byte (after gzip, if any)."""
    left, right = _raw(a), _raw(b)
    if left == right:
        return
    at = next(
        (i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y), min(len(left), len(right))
    )
    raise AssertionError(
        f"the archives differ first at byte {at} (lengths {len(left)} and {len(right)}): "
        f"{left[at : at + 16].hex(' ')!r} against {right[at : at + 16].hex(' ')!r}"
    )
