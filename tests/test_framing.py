"""The framer on hand-built byte strings (spec/archive.md §2)."""

from __future__ import annotations

import gzip
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mongoarchive._framing import MAGIC, TERMINATOR, Framer, describe_bytes, split_run
from mongoarchive._io import Source
from mongoarchive.errors import FramingError, TruncatedError

MIB16 = 16 * 1024 * 1024


class Trickle:
    """A Source-like object that hands out at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self.data = data
        self.pos = 0
        self.step = step
        self.gzip = False
        self.name = "<trickle>"

    def readinto(self, buf: memoryview) -> int:
        n = min(self.step, len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n

    def close(self) -> None:
        pass


def doc(payload: bytes = b"") -> bytes:
    """A document-shaped item: length, payload, NUL (the framer does not look inside, §2)."""
    return struct.pack("<i", len(payload) + 5) + payload + b"\x00"


def framer(data: bytes, chunk: int = 7, step: int = 1) -> Framer:
    return Framer(Trickle(data, step), chunk=chunk)  # type: ignore[arg-type]


def read_items(fr: Framer) -> list[tuple[int, bytes | None]]:
    """All items up to the end of the stream, with their offsets, via read_doc."""
    out: list[tuple[int, bytes | None]] = []
    while not fr.at_end():
        at = fr.offset
        out.append((at, fr.read_doc("an item")))
    return out


def test_terminator_and_documents() -> None:
    a, b = doc(b"abc"), doc()
    fr = framer(a + TERMINATOR + b + TERMINATOR)
    assert read_items(fr) == [(0, a), (8, None), (12, b), (17, None)]


@pytest.mark.parametrize("length", [4, 0, MIB16 + 1, -2, -(2**31), 2**31 - 1])
def test_bad_length(length: int) -> None:
    prefix = doc(b"x")
    fr = framer(prefix + struct.pack("<i", length) + b"\x00" * 8)
    assert fr.read_doc("d") == prefix
    with pytest.raises(FramingError) as err:
        fr.read_doc("d")
    assert err.value.code == "bad-length"
    assert err.value.offset == len(prefix)


def test_missing_nul() -> None:
    bad = struct.pack("<i", 8) + b"abc\x01"
    fr = framer(TERMINATOR + bad + TERMINATOR)
    assert fr.read_doc("d") is None
    with pytest.raises(FramingError) as err:
        fr.read_doc("d")
    assert err.value.code == "missing-nul"
    assert err.value.offset == 4


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 9])
def test_truncated(cut: int) -> None:
    data = doc(b"hello")[:cut]
    fr = framer(data)
    with pytest.raises(TruncatedError) as err:
        fr.read_doc("d")
    assert err.value.code == "truncated"
    assert err.value.offset == cut


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=20),
    st.integers(1, 16),
    st.integers(1, 9),
)
def test_straddling_chunks(items: list[bytes | None], chunk: int, step: int) -> None:
    """Documents cut by every buffer boundary come out whole, at the right offsets."""
    parts = [TERMINATOR if p is None else doc(p) for p in items]
    data = b"".join(parts)
    expected = []
    at = 0
    for p in parts:
        expected.append((at, None if p == TERMINATOR else p))
        at += len(p)
    assert read_items(framer(data, chunk, step)) == expected
    # The hot path: runs of documents between terminators, same bytes and offsets.
    fr = framer(data, chunk, step)
    got: list[tuple[int, bytes | None]] = []
    while not fr.at_end():
        here = fr.offset
        run = fr.next_run()
        if run is None:
            got.append((here, None))
            continue
        start, end, count = run
        spans = split_run(fr.buf, start, end)
        assert len(spans) == count
        got.extend((fr.base + s, bytes(fr.buf[s:e])) for s, e in spans)
    assert got == expected


def test_document_of_exactly_16_mib_passes() -> None:
    big = struct.pack("<i", MIB16) + b"\x01" * (MIB16 - 5) + b"\x00"
    fr = Framer(Trickle(big + TERMINATOR, step=1 << 20), chunk=1 << 16)  # type: ignore[arg-type]
    assert fr.check_next("d") == MIB16
    run = fr.next_run()
    assert run is not None and run[2] == 1 and run[1] - run[0] == MIB16
    assert fr.next_run() is None
    assert fr.offset == MIB16 + 4
    assert fr.at_end()


def test_magic_and_offsets() -> None:
    fr = framer(MAGIC + doc(b"h") + TERMINATOR)
    assert fr.read_magic() == MAGIC
    assert fr.offset == 4
    assert fr.read_doc("h") == doc(b"h")
    assert fr.offset == 10
    assert fr.read_doc("t") is None
    assert fr.offset == 14
    assert fr.at_end()


def test_real_source_short_reads() -> None:
    class OneByte:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, n: int = -1) -> bytes:
            out, self.data = self.data[:1], self.data[1:]
            return out

    data = doc(b"a" * 20) + TERMINATOR
    fr = Framer(Source(OneByte(data), close_raw=False, gzip=False, name="x"), chunk=7)
    assert read_items(fr) == [(0, doc(b"a" * 20)), (25, None)]


def test_describe_bytes_hints() -> None:
    assert "gzip" in describe_bytes(gzip.compress(b"x"))
    assert "second archive" in describe_bytes(MAGIC + doc())
    hint = describe_bytes(b"2024-01-01T00:00:00 writing test.bar to archive on stdout\n")
    assert "text" in hint and "2024-01-01" in hint
    assert "damaged" in describe_bytes(b"\x00\x91\x02\xfe" * 8)


def test_bad_length_hint_names_text() -> None:
    fr = framer(b"connected to: mongodb://localhost\n")
    with pytest.raises(FramingError) as err:
        fr.read_doc("d")
    assert err.value.hint is not None and "text" in err.value.hint
