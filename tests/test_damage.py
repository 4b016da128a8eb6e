"""Damage sweeps over every valid vector: truncation, bit flips, spliced log lines, memory bombs.

Each sweep damages a valid archive in every possible place and requires the
damage to be reported, never a silent success (spec/archive.md §6, §7).  The
layout of each vector (which bytes are framing, which are namespace headers,
which are data documents) comes from ``walk``, an independent walker over
the known-good bytes, not from the reader under test.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import bson
import pytest
from conftest import REPO_ROOT, spec_vectors

import mongoarchive
from mongoarchive.checker import check_archive
from mongoarchive.errors import (
    ArchiveError,
    ChecksumError,
    NotAnArchiveError,
    TrailingDataError,
    TruncatedError,
)

LOG_LINE = b"2024-05-01T10:00:00.123+0000 I NETWORK [listener] connection accepted from 10.0.0.7:51234\n"
TEXT_HINT = "text was mixed into the stream"


@dataclasses.dataclass(frozen=True)
class Item:
    """One item of a known-good archive: where it is and what it is."""

    offset: int
    size: int
    kind: str  # magic, archive-header, entry, terminator, ns-header, document
    block: int = -1  # index of the block (body items), -1 in the prelude


def walk(data: bytes) -> list[Item]:
    """Split a valid plain archive into items (spec §2): magic, prelude, blocks."""
    assert data[:4] == b"\x6d\xe2\x99\x81"
    items = [Item(0, 4, "magic")]
    pos = 4

    def length(at: int) -> int:
        return int(struct.unpack_from("<i", data, at)[0])

    first = True
    while True:  # the prelude
        size = length(pos)
        if size == -1:
            items.append(Item(pos, 4, "terminator"))
            pos += 4
            break
        items.append(Item(pos, size, "archive-header" if first else "entry"))
        first = False
        pos += size
    block = 0
    while pos < len(data):  # blocks
        size = length(pos)
        items.append(Item(pos, size, "ns-header", block))
        pos += size
        while True:
            size = length(pos)
            if size == -1:
                items.append(Item(pos, 4, "terminator", block))
                pos += 4
                break
            items.append(Item(pos, size, "document", block))
            pos += size
        block += 1
    assert pos == len(data)
    return items


def plain(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


VALID = [(path.stem, plain(path)) for path, sidecar in spec_vectors("valid") if sidecar.get("valid")]
IDS = [name for name, _ in VALID]
#: Vectors written by the writer, whose namespace headers have exactly the four fields of §3.3.
CANONICAL = {path.stem for path, sidecar in spec_vectors("valid") if sidecar.get("canonical")}


#: The valid vectors that hold data documents (sweeps inside documents need one).
WITH_DOCUMENTS = [(n, d) for n, d in VALID if any(i.kind == "document" for i in walk(d))]
DOC_IDS = [name for name, _ in WITH_DOCUMENTS]


def read_all(data: bytes) -> None:
    """Read every event of ``data``; raises what the reader raises."""
    with mongoarchive.open(io.BytesIO(data)) as archive:
        for _ in archive.events():
            pass


def test_vectors_present() -> None:
    assert len(VALID) >= 10, "the sweeps need the valid vectors of spec/vectors/valid"


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_walker_agrees_with_the_vector(name: str, data: bytes) -> None:
    read_all(data)  # the vector is valid
    items = walk(data)
    docs = [i for i in items if i.kind == "document"]
    with mongoarchive.open(io.BytesIO(data)) as archive:
        got = [(ev.offset, len(ev.raw)) for ev in archive.events() if isinstance(ev, mongoarchive.Document)]
    assert got == [(d.offset, d.size) for d in docs]


# -- truncation -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_truncation_at_every_offset_is_reported_as_truncation(name: str, data: bytes) -> None:
    for cut in range(len(data)):
        with pytest.raises(TruncatedError) as info:
            read_all(data[:cut])
        assert info.value.offset is not None and info.value.offset <= cut, (cut, info.value)
        result = check_archive(io.BytesIO(data[:cut]))
        assert not result.ok(), cut
        assert any(
            p.code in ("truncated", "unfinished-namespace", "unseen-namespace") for p in result.errors
        ), (
            cut,
            [p.code for p in result.errors],
        )


@pytest.mark.parametrize(("name", "data"), VALID[:3], ids=IDS[:3])
def test_truncated_gzip_is_reported_as_truncation(name: str, data: bytes) -> None:
    packed = gzip.compress(data, mtime=0)
    for cut in range(2, len(packed), max(1, len(packed) // 60)):
        with pytest.raises(ArchiveError) as info:
            read_all(packed[:cut])
        assert isinstance(info.value, TruncatedError), (cut, info.value)


# -- bit flips ---------------------------------------------------------------------


def _flip(data: bytes, offset: int, bit: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


@pytest.mark.parametrize(("name", "data"), WITH_DOCUMENTS, ids=DOC_IDS)
def test_every_bit_flip_inside_a_document_fails_the_crc(name: str, data: bytes) -> None:
    docs = [i for i in walk(data) if i.kind == "document"]
    for doc in docs:
        for offset in range(doc.offset + 4, doc.offset + doc.size - 1):  # inside length and NUL
            for bit in range(8):
                with pytest.raises(ChecksumError):
                    read_all(_flip(data, offset, bit))


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_every_bit_flip_in_document_framing_is_reported(name: str, data: bytes) -> None:
    docs = [i for i in walk(data) if i.kind == "document"]
    for doc in docs:
        for offset in [*range(doc.offset, doc.offset + 4), doc.offset + doc.size - 1]:
            for bit in range(8):
                with pytest.raises(ArchiveError):
                    read_all(_flip(data, offset, bit))


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_every_bit_flip_in_framing_and_namespace_headers_is_reported(name: str, data: bytes) -> None:
    """Magic, terminators, every length and NUL, and every byte of a namespace header (§2, §3.3)."""
    offsets: list[int] = []
    for item in walk(data):
        if item.kind in ("magic", "terminator"):
            offsets.extend(range(item.offset, item.offset + item.size))
        elif item.kind == "ns-header":
            end = item.offset + item.size
            if name not in CANONICAL:  # edited headers (extra or missing fields): framing only
                offsets.extend([*range(item.offset, item.offset + 4), end - 1])
                continue
            skip: range = range(0)
            if not bson.decode(data[item.offset : end])["EOF"]:
                # A data block's CRC field is unused (always 0, §3.3): a flip there changes nothing.
                skip = range(end - 9, end - 1)
            offsets.extend(o for o in range(item.offset, end) if o not in skip)
        elif item.kind in ("archive-header", "entry"):
            offsets.extend([*range(item.offset, item.offset + 4), item.offset + item.size - 1])
    for offset in offsets:
        for bit in range(8):
            damaged = _flip(data, offset, bit)
            result = check_archive(io.BytesIO(damaged))
            # A renamed field of a namespace header can leave a tolerated header (only a
            # warning, §7); every other flip is an error.
            assert not result.ok(strict=True), (offset, bit)
            if result.ok():
                assert any(p.code == "unknown-field" for p in result.warnings), (offset, bit)


# -- text spliced into the stream ------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_log_lines_spliced_at_item_boundaries_are_reported_with_offset_and_hint(
    name: str, data: bytes
) -> None:
    boundaries = sorted({i.offset for i in walk(data)} | {len(data)})
    for at in boundaries:
        damaged = data[:at] + LOG_LINE + data[at:]
        with pytest.raises(ArchiveError) as info:
            read_all(damaged)
        exc = info.value
        assert exc.offset == at, (at, exc)
        if at == len(data):
            assert isinstance(exc, TrailingDataError)
            continue
        if at == 0:
            assert isinstance(exc, NotAnArchiveError)
        assert exc.hint is not None and TEXT_HINT in exc.hint, (at, exc)
        problems = check_archive(io.BytesIO(damaged)).errors
        assert any(p.offset == at and p.hint and TEXT_HINT in p.hint for p in problems), (at, problems)


@pytest.mark.parametrize(("name", "data"), WITH_DOCUMENTS, ids=DOC_IDS)
def test_log_lines_spliced_inside_documents_are_reported_with_the_text_offset(name: str, data: bytes) -> None:
    """The document fails its NUL check; the hint points at where the text starts (§2)."""
    documents = [i for i in walk(data) if i.kind == "document"]
    for doc in documents:
        at = doc.offset + doc.size // 2
        damaged = data[:at] + LOG_LINE + data[at:]
        with pytest.raises(ArchiveError) as info:
            read_all(damaged)
        exc = info.value
        assert exc.code == "missing-nul" and exc.offset == doc.offset, (at, exc)
        # The hint gives the line's own offset and quotes the line, never the document's
        # bytes before it (even where they are printable text too).
        quoted = f"at byte {at} ('{LOG_LINE[:40].decode()}...', {len(LOG_LINE)} bytes)"
        assert exc.hint is not None and TEXT_HINT in exc.hint and quoted in exc.hint, (at, exc)


# -- memory bombs -------------------------------------------------------------------------

_RSS_SCRIPT = textwrap.dedent(
    """
    import io, resource, sys
    sys.path.insert(0, {root!r})
    import mongoarchive
    from mongoarchive.errors import MongoArchiveError
    data = open(sys.argv[1], "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with mongoarchive.open(sys.argv[1]) as archive:
            for _ in archive.events():
                pass
        outcome = "ok"
    except MongoArchiveError as exc:
        outcome = f"{{type(exc).__name__}}|{{exc.code}}|{{exc}}"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(after - before)
    print(outcome)
    """
)


def _peak_rss_kib(path: Path) -> tuple[int, str]:
    """Peak RSS growth (KiB) of reading ``path`` in a fresh interpreter, and the outcome."""
    script = _RSS_SCRIPT.format(root=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    grown, outcome = proc.stdout.splitlines()[:2]
    return int(grown), outcome


def _prefix() -> bytes:
    """Magic, a header and one collection entry, then the prelude terminator (§2, §3)."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.0", tool_version="t") as w:
        w.add_collection("db", "c").close()
    data = out.getvalue()
    end = data.index(b"\xff\xff\xff\xff") + 4
    return data[:end]


MIB = 1024 * 1024
LIMIT_KIB = 64 * 1024


def test_a_length_claiming_16_mib_with_little_data_stays_bounded(tmp_path: Path) -> None:
    header = b"\x00\x00\x00\x01" + b"\x02db\x00" + b"A" * 1000  # claims 16 MiB, holds 1 KB
    path = tmp_path / "claim.archive"
    path.write_bytes(_prefix() + header)
    grown, outcome = _peak_rss_kib(path)
    assert outcome.startswith("TruncatedError"), outcome
    assert grown <= LIMIT_KIB, grown


def test_a_header_claiming_a_huge_string_is_a_clear_error(tmp_path: Path) -> None:
    # A namespace header whose "db" string claims 2 GiB inside a 40-byte document.
    doc = b"\x02db\x00" + struct.pack("<i", 2**31 - 1) + b"x\x00" + b"\x08EOF\x00\x00"
    raw = struct.pack("<i", len(doc) + 5) + doc + b"\x00"
    path = tmp_path / "huge-string.archive"
    path.write_bytes(_prefix() + raw + b"\xff\xff\xff\xff")
    grown, outcome = _peak_rss_kib(path)
    assert outcome.startswith("HeaderError|bad-header"), outcome
    assert grown <= LIMIT_KIB, grown


def test_a_gzip_bomb_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    # 256 MiB of zeros after a valid prelude compresses to about 256 KB; the reader must
    # fail on the first bad length without inflating it all into memory (§8).
    path = tmp_path / "bomb.archive"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(_prefix())
        chunk = bytes(16 * MIB)
        for _ in range(16):
            fh.write(chunk)
    assert path.stat().st_size < 4 * MIB
    grown, outcome = _peak_rss_kib(path)
    assert outcome.startswith("FramingError|bad-length"), outcome
    assert grown <= LIMIT_KIB, grown
