"""salvage keeps every intact document it can attribute, and nothing unverified unmarked.

What counts as intact and attributable is derived from the known-good layout
(``test_damage.walk``) and the damage done, never from salvage: a document is
*attributable* when its bytes are untouched and either its block header is
untouched, or its namespace's EOF block and every one of its documents are
(then the stored CRC identifies them, §4).  Only the second kind is
*verifiable*: salvage keeps those by default and the others only with
``keep_unverified``.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import io
import struct
from collections.abc import Callable

import bson
import pytest
from conftest import SHARED_VECTORS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_damage import VALID, Item, walk

import mongoarchive
from mongoarchive.checker import check_archive
from mongoarchive.salvage import SalvageReport, salvage

TEST_BAR = SHARED_VECTORS / "test.bar.archive"
needs_test_bar = pytest.mark.skipif(not TEST_BAR.is_file(), reason=f"real archive not found at {TEST_BAR}")


def run(data: bytes, **options: object) -> tuple[SalvageReport, bytes]:
    out = io.BytesIO()
    report = salvage(io.BytesIO(data), out, gzip=False, **options)  # type: ignore[arg-type]
    return report, out.getvalue()


def output_documents(archive: bytes) -> collections.Counter[tuple[str, bytes]]:
    """(namespace as the blocks name it, raw) of every document of a valid archive.

    Valid: at least one official release reads it (an 8.3 timeseries naming is
    refused by releases before 100.16, a server_version "unknown" by 100.16+).
    """
    results = [check_archive(io.BytesIO(archive), target=t) for t in ("100.6", "100.18")]
    assert any(r.ok() for r in results), [p.to_dict() for r in results for p in r.errors]
    with mongoarchive.open(io.BytesIO(archive)) as a:
        return collections.Counter((str(ns), raw) for ns, raw in a.documents())


@dataclasses.dataclass(frozen=True)
class Layout:
    """Who is who in a known-good archive."""

    items: list[Item]
    block_ns: dict[int, str]  # block index -> namespace of its header
    eof_block: dict[str, Item]  # namespace -> its EOF header

    @classmethod
    def of(cls, data: bytes) -> Layout:
        items = walk(data)
        block_ns: dict[int, str] = {}
        eof: dict[str, Item] = {}
        for i in items:
            if i.kind == "ns-header":
                h = bson.decode(data[i.offset : i.offset + i.size])
                ns = f"{h['db']}.{h['collection']}"
                block_ns[i.block] = ns
                if h.get("EOF"):
                    eof[ns] = i
        return cls(items, block_ns, eof)

    def header_of(self, doc: Item) -> Item:
        return next(i for i in self.items if i.kind == "ns-header" and i.block == doc.block)

    def docs(self) -> list[Item]:
        return [i for i in self.items if i.kind == "document"]


@dataclasses.dataclass(frozen=True)
class Damage:
    kind: str  # flip, overwrite, truncate, splice
    at: int
    value: int = 0
    junk: bytes = b""

    def apply(self, data: bytes) -> bytes:
        d = bytearray(data)
        if self.kind == "flip":
            d[self.at] ^= 1 << self.value
        elif self.kind == "overwrite":
            d[self.at] = self.value
        elif self.kind == "truncate":
            del d[self.at :]
        else:
            d[self.at : self.at] = self.junk
        return bytes(d)

    def touches(self, item: Item, original: bytes, damaged: bytes) -> bool:
        end = item.offset + item.size
        if self.kind in ("flip", "overwrite"):
            return item.offset <= self.at < end and original[self.at] != damaged[self.at]
        if self.kind == "truncate":
            return end > self.at
        return item.offset < self.at < end


def expectations(data: bytes, damage: Damage) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(attributable, verifiable) documents for ``damage`` of the valid archive ``data``."""
    layout = Layout.of(data)
    damaged = damage.apply(data)
    docs = layout.docs()
    intact = {d for d in docs if not damage.touches(d, data, damaged)}
    attributable, verifiable = [], []
    for doc in docs:
        if doc not in intact:
            continue
        ns = layout.block_ns[doc.block]
        raw = data[doc.offset : doc.offset + doc.size]
        eof = layout.eof_block.get(ns)
        same = [d for d in docs if layout.block_ns[d.block] == ns]
        if eof is not None and not damage.touches(eof, data, damaged) and all(d in intact for d in same):
            verifiable.append((ns, raw))
            attributable.append((ns, raw))
        elif not damage.touches(layout.header_of(doc), data, damaged):
            attributable.append((ns, raw))
    return attributable, verifiable


def losses(data: bytes, damage: Damage) -> dict[str, list[tuple[str, bytes]]]:
    """Attributable documents missing from salvage's output, per mode."""
    attributable, verifiable = expectations(data, damage)
    damaged = damage.apply(data)
    lost: dict[str, list[tuple[str, bytes]]] = {}
    report, output = run(damaged, keep_unverified=True)
    got = output_documents(output)
    lost["keep"] = [d for d in attributable if not _take(got, d)]
    report, output = run(damaged)
    got = output_documents(output)
    # Nothing unverified leaves salvage unmarked: by default it is not written at all.
    assert report.totals()["documents_unverified"] == 0
    assert sum(got.values()) == report.totals()["documents_kept"]
    lost["default"] = [d for d in verifiable if not _take(got, d)]
    return lost


def _decodes(raw: bytes) -> bool:
    try:
        bson.decode(raw)
    except Exception:
        return False
    return True


def _take(got: collections.Counter[tuple[str, bytes]], doc: tuple[str, bytes]) -> bool:
    if got[doc] > 0:
        got[doc] -= 1
        return True
    return False


@st.composite
def damages(draw: st.DrawFn) -> tuple[str, bytes, Damage]:
    name, data = draw(st.sampled_from(VALID))
    kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "splice"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return name, data, Damage(kind, at, draw(st.integers(0, 7)))
    if kind == "overwrite":
        return name, data, Damage(kind, at, draw(st.integers(0, 255)))
    if kind == "truncate":
        return name, data, Damage(kind, at)
    junk = draw(st.binary(min_size=1, max_size=80))
    return name, data, Damage(kind, at, junk=junk)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damages())
def test_no_attributable_document_is_lost(case: tuple[str, bytes, Damage]) -> None:
    name, data, damage = case
    lost = losses(data, damage)
    assert lost == {"keep": [], "default": []}, (name, damage)


# -- the mechanisms, one by one ------------------------------------------------------------


def test_documents_of_a_crc_mismatch_are_kept_only_on_request() -> None:
    data = dict(VALID)["base-two-namespaces"]
    layout = Layout.of(data)
    first = layout.docs()[0]
    damaged = bytearray(data)
    for at in range(first.offset + first.size - 2, first.offset, -1):  # a value byte
        damaged[at] ^= 0x01
        if _decodes(bytes(damaged[first.offset : first.offset + first.size])):
            break  # still decodes, but the CRC fails
        damaged[at] ^= 0x01
    ns = layout.block_ns[first.block]
    same = sum(1 for d in layout.docs() if layout.block_ns[d.block] == ns)
    report, output = run(bytes(damaged))
    outcome = next(n for n in report.namespaces if n.namespace == ns)
    assert (outcome.status, outcome.verified, outcome.documents_kept) == ("crc-mismatch", False, 0)
    assert outcome.documents_dropped == same
    assert not any(k[0] == ns for k in output_documents(output))
    assert "pass --keep-unverified" in report.render_text()
    assert report.to_dict()["totals"]["documents_dropped"] == same
    report, output = run(bytes(damaged), keep_unverified=True)
    outcome = next(n for n in report.namespaces if n.namespace == ns)
    assert (outcome.documents_kept, outcome.documents_unverified) == (same, same)
    assert report.to_dict()["namespaces"][0]["documents_unverified"] == same
    assert f"{same} documents kept as unverified" in report.render_text()
    assert sum(1 for k in output_documents(output).elements() if k[0] == ns) == same


def test_a_namespace_cut_before_its_eof_is_unverified() -> None:
    data = dict(VALID)["base-two-namespaces"]
    layout = Layout.of(data)
    last = layout.docs()[-1]
    cut = last.offset + last.size  # after the last document, before the terminator and EOF block
    report, _ = run(data[:cut])
    ns = layout.block_ns[last.block]
    outcome = next(n for n in report.namespaces if n.namespace == ns)
    assert outcome.status == "truncated" and outcome.documents_kept == 0 and outcome.documents_dropped > 0
    report, _ = run(data[:cut], keep_unverified=True)
    outcome = next(n for n in report.namespaces if n.namespace == ns)
    assert outcome.documents_unverified == outcome.documents_kept > 0


@needs_test_bar
def test_a_length_pointing_past_the_end_is_damage_not_truncation() -> None:
    data = bytearray(TEST_BAR.read_bytes())
    data[604] ^= 1 << 3
    report, output = run(bytes(data))
    got = output_documents(output)
    assert sum(1 for ns, _ in got if ns == "test.bar") == 1, report.render_text()
    assert any(d.code == "bad-length" for d in report.damaged)


@needs_test_bar
@pytest.mark.parametrize("at", [0, 1, 2, 3])
def test_a_damaged_magic_number_keeps_every_document(at: int) -> None:
    data = bytearray(TEST_BAR.read_bytes())
    data[at] ^= 1
    report, output = run(bytes(data))
    assert sum(output_documents(output).values()) == 2, report.render_text()
    assert report.header == "ok" and [d.code for d in report.damaged] == ["bad-magic"]


def test_a_damaged_magic_keeps_a_large_single_block() -> None:
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14", tool_version="test") as w:
        ns = w.add_collection("big", "docs")
        for i in range(3000):
            ns.write(bson.encode({"_id": i, "pad": "x" * 1000}))
    data = bytearray(out.getvalue())
    assert len(data) > 3_000_000  # one block (blocks are cut at 16 MiB, §9)
    data[1] ^= 1
    report, output = run(bytes(data))
    assert sum(output_documents(output).values()) == 3000, report.render_text()


def _block_docs(data: bytes) -> tuple[Layout, list[Item]]:
    layout = Layout.of(data)
    first_block = layout.docs()[0].block
    return layout, [d for d in layout.docs() if d.block == first_block]


@pytest.mark.parametrize("swallow", ["misaligned", "aligned"])
def test_a_grown_length_does_not_swallow_the_documents_after_it(swallow: str) -> None:
    data = dict(VALID)["base-two-namespaces"]
    layout, docs = _block_docs(data)
    first, third = docs[0], docs[2]
    grown = first.size + docs[1].size
    if swallow == "misaligned":
        # End on a NUL byte inside the third document: the NUL check passes, the framing breaks after it.
        grown += next(k for k in range(5, third.size) if data[third.offset + k - 1] == 0)
    damaged = bytearray(data)
    struct.pack_into("<i", damaged, first.offset, grown)
    report, output = run(bytes(damaged), keep_unverified=True)
    got = output_documents(output)
    ns = layout.block_ns[first.block]
    for doc in docs[1:]:
        assert got[(ns, data[doc.offset : doc.offset + doc.size])] == 1, (doc, report.render_text())


def test_documents_after_a_damaged_block_header_are_attributed_by_the_crc() -> None:
    data = dict(VALID)["base-two-namespaces"]
    layout, docs = _block_docs(data)
    header = layout.header_of(docs[0])
    damaged = bytearray(data)
    damaged[header.offset + 4] = 0x7E  # the first element's type byte: the header is unreadable
    report, output = run(bytes(damaged))
    got = output_documents(output)
    ns = layout.block_ns[header.block]
    assert all(got[(ns, data[d.offset : d.offset + d.size])] == 1 for d in docs), report.render_text()
    outcome = next(n for n in report.namespaces if n.namespace == ns)
    assert outcome.verified and outcome.documents_unverified == 0


def test_a_misplaced_eof_block_keeps_its_namespace() -> None:
    """An EOF block moved before the namespace's last data block: its CRC still covers them."""
    data = dict(VALID)["interleaved"]
    layout = Layout.of(data)
    ns, eof = next(iter(layout.eof_block.items()))
    blocks = [i for i in layout.items if i.kind == "ns-header" and layout.block_ns[i.block] == ns]
    last_data = [b for b in blocks if b is not eof][-1]
    eof_bytes = data[eof.offset : eof.offset + eof.size + 4]
    moved = data[: eof.offset] + data[eof.offset + eof.size + 4 :]
    moved = moved[: last_data.offset] + eof_bytes + moved[last_data.offset :]
    report, output = run(moved)
    got = output_documents(output)
    mine = [d for d in layout.docs() if layout.block_ns[d.block] == ns]
    assert all(got[(ns, data[d.offset : d.offset + d.size])] == 1 for d in mine), report.render_text()
    assert next(n for n in report.namespaces if n.namespace == ns).verified


# -- an intact archive is copied byte for byte ---------------------------------------------


@pytest.mark.parametrize(("name", "data"), VALID, ids=[n for n, _ in VALID])
def test_an_intact_archive_comes_out_byte_for_byte(name: str, data: bytes) -> None:
    report, output = run(data)
    assert report.clean, report.render_text()
    if name == "tolerated-extra-fields":
        # Its app.events block header holds a field mongorestore 100.14+ refuses: written canonically.
        assert output != data and len(output) < len(data)
        assert check_archive(io.BytesIO(output), target="100.18").ok()
        assert not check_archive(io.BytesIO(data), target="100.18").ok()
        assert output_documents(output) == output_documents(data)
    else:
        assert output == data


def test_a_header_field_renamed_by_damage_is_written_canonically() -> None:
    """A flipped bit turns a block header's "CRC" into "BRC": a well-formed header that the strict
    releases refuse, in an archive only they read (an 8.3 timeseries naming). The output restores."""
    data = dict(VALID)["timeseries-83"]
    at = data.index(b"\x12CRC\x00") + 1
    damaged = Damage("flip", at, 0).apply(data)
    assert damaged[at : at + 3] == b"BRC"
    report, output = run(damaged)
    assert report.totals()["documents_lost"] == 0 and b"BRC" not in output
    assert check_archive(io.BytesIO(output), target="100.18").ok()
    assert output_documents(output) == output_documents(data)


@needs_test_bar
def test_a_real_intact_archive_comes_out_byte_for_byte() -> None:
    data = TEST_BAR.read_bytes()
    report, output = run(data)
    assert report.clean and output == data


def test_an_intact_gzip_archive_keeps_its_bytes_inside() -> None:
    data = VALID[0][1]
    out = io.BytesIO()
    salvage(io.BytesIO(gzip.compress(data)), out)
    assert gzip.decompress(out.getvalue()) == data


# -- prelude entries the writer would refuse ---------------------------------------------------


def test_a_damaged_collection_type_keeps_the_namespace() -> None:
    """One flipped bit in an entry's type ("collection" -> "bollection") loses no document."""
    data = dict(VALID)["base-two-namespaces"]
    at = data.index(b"\x02type\x00\x0b\x00\x00\x00collection") + 10
    damaged = bytearray(data)
    damaged[at] ^= 1
    report, output = run(bytes(damaged))
    assert all(n.status == "intact" for n in report.namespaces), [n.to_dict() for n in report.namespaces]
    hit = [n for n in report.namespaces if any("unknown collection type" in note for note in n.notes)]
    assert len(hit) == 1
    got = output_documents(output)
    assert sum(got.values()) == sum(1 for i in walk(data) if i.kind == "document")
    with mongoarchive.open(io.BytesIO(output)) as archive:
        assert [c.type for c in archive.collections].count(None) == 1


def _header_of(output: bytes) -> mongoarchive.ArchiveHeader:
    with mongoarchive.open(io.BytesIO(output)) as archive:
        return archive.header


@pytest.mark.parametrize(
    ("damage", "version"),
    [
        (lambda d: d.__setitem__(4, d[4] ^ 1), "8.3.0"),  # the header's length: the header is lost
        (lambda d: d.__setitem__(d.index(b"server_version"), ord("r")), "8.3.0"),  # a field renamed
    ],
    ids=["lost-header", "no-server-version"],
)
def test_a_rebuilt_header_agrees_with_the_timeseries_naming(
    damage: Callable[[bytearray], None], version: str
) -> None:
    """An 8.3 timeseries (data under X) needs a server_version >= 8.3.0 that releases parse."""
    data = bytearray(dict(VALID)["timeseries-83"])
    damage(data)
    report, output = run(bytes(data))
    assert report.header == "rebuilt"
    assert _header_of(output).server_version == version
    assert check_archive(io.BytesIO(output), target="100.18").ok()
    assert sum(output_documents(output).values()) == report.totals()["documents_kept"] > 0


def test_a_source_server_version_unknown_is_copied() -> None:
    """mongodump writes "unknown" when it cannot ask the server: salvage keeps the header as read."""
    data = dict(VALID)["base-two-namespaces"]
    header = bson.decode(data[4 : 4 + struct.unpack_from("<i", data, 4)[0]])
    changed = bson.encode({**header, "server_version": "unknown"})
    source = data[:4] + changed + data[4 + len(bson.encode(header)) :]
    report, output = run(source)
    assert report.header == "ok"
    assert _header_of(output).server_version == "unknown"
    assert check_archive(io.BytesIO(output), target="100.6").ok()  # 100.6.1 reads it; 100.16+ do not
    assert sum(output_documents(output).values()) == sum(1 for i in walk(data) if i.kind == "document")
