"""Salvage's work grows linearly with its input: counted in bytes, never timed.

Bytes moved inside the read window (``Framer.fill`` keeping unread bytes at its
front) stand for the cost that once grew with the number of candidates tried.
"""

from __future__ import annotations

import io

import bson
import pytest

import mongoarchive
from mongoarchive import _framing
from mongoarchive.salvage import salvage


def _spots(count: int) -> bytes:
    """One namespace whose every fifth document length is broken (bad length, §2)."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14", tool_version="test") as w:
        ns = w.add_collection("t", "spots")
        for i in range(count):
            ns.write(bson.encode({"_id": i, "name": f"user-{i:09d}", "pad": "x" * 150}))
    data = bytearray(out.getvalue())
    marker = b"spots\x00\x08EOF\x00\x00\x12CRC\x00"
    pos = data.index(marker) + len(marker) + 9
    index = 0
    while (size := int.from_bytes(data[pos : pos + 4], "little", signed=True)) >= 5:
        if index % 5 == 0:
            data[pos + 3] = 0x7F
        pos += size
        index += 1
    return bytes(data)


def _moved(monkeypatch: pytest.MonkeyPatch, data: bytes) -> int:
    moved = [0]
    fill = _framing.Framer.fill

    def counting(self: _framing.Framer, need: int) -> bool:
        if self.filled - self.pos < need and self.pos:
            moved[0] += self.filled - self.pos
        return fill(self, need)

    monkeypatch.setattr(_framing.Framer, "fill", counting)
    salvage(io.BytesIO(data), io.BytesIO(), gzip=False)
    return moved[0]


def test_resynchronising_near_the_end_does_not_move_the_window_per_candidate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _spots(2000)  # ~400 KB: the whole input fits in one window
    assert _moved(monkeypatch, data) <= 2 * len(data)
