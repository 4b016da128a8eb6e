"""CRC-64/XZ, the checksum of each namespace's documents (spec/archive.md §4).

Go's ``hash/crc64`` with the ``crc64.ECMA`` table is CRC-64/XZ (reflected,
init and xorout all ones; check value 0x995DC9BBDF1939FA), not the catalogue's
CRC-64/ECMA-182.  ``crc64(data, crc)`` continues a finished checksum, so a
namespace's CRC can be built one contiguous run of documents at a time.
fastcrc computes it; ``crc64_pure`` is the slow twin used to cross-check it.
"""

from __future__ import annotations

from fastcrc import crc64 as _fastcrc64

BytesLike = bytes | bytearray | memoryview

__all__ = ["CHECK_VALUE", "MASK64", "crc64", "crc64_combine", "crc64_pure", "to_int64", "to_uint64"]

#: CRC-64/XZ of b"123456789" (spec §4).
CHECK_VALUE = 0x995DC9BBDF1939FA
MASK64 = 0xFFFFFFFFFFFFFFFF
_POLY_REFLECTED = 0xC96C5795D7870F42


def crc64(data: BytesLike, crc: int = 0) -> int:
    """CRC-64/XZ of ``data``, continuing from the finished checksum ``crc``."""
    return _fastcrc64.xz(data, crc)


def _table() -> list[int]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLY_REFLECTED if value & 1 else value >> 1
        table.append(value)
    return table


_TABLE = _table()


def crc64_pure(data: BytesLike, crc: int = 0) -> int:
    """Pure-Python CRC-64/XZ, bit-for-bit equal to ``crc64`` (slow: tests only)."""
    value = crc ^ MASK64
    for byte in memoryview(data).cast("B"):
        value = _TABLE[(value ^ byte) & 0xFF] ^ (value >> 8)
    return value ^ MASK64


def _multiply(a: int, b: int) -> int:
    """a * b modulo the polynomial, both in the reflected bit order (bit 63 is x**0)."""
    product = 0
    mask = 1 << 63
    while a:
        if a & mask:
            product ^= b
            a ^= mask
        mask >>= 1
        b = (b >> 1) ^ _POLY_REFLECTED if b & 1 else b >> 1
    return product


def _powers() -> list[int]:
    """x**(2**k) modulo the polynomial, k = 0..63."""
    out = [1 << 62]  # x**1
    for _ in range(63):
        out.append(_multiply(out[-1], out[-1]))
    return out


_X_POW_2K = _powers()


def crc64_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC-64/XZ of A + B from the CRCs of A and B and the length of B.

    The method of zlib's crc32_combine: init and xorout cancel out (both all
    ones), so the CRC of A only has to be multiplied by x**(8 * len(B)).
    """
    shift = 1 << 63  # x**0
    k = 3  # 2**3 = 8 bits a byte
    n = length_b
    while n:
        if n & 1:
            shift = _multiply(_X_POW_2K[k & 63], shift)
        n >>= 1
        k += 1
    return _multiply(shift, crc_a) ^ crc_b


def to_int64(crc: int) -> int:
    """The uint64 bit pattern as the signed int64 stored in a namespace header (§4)."""
    crc &= MASK64
    return crc - (1 << 64) if crc >= 1 << 63 else crc


def to_uint64(value: int) -> int:
    """A stored int64 CRC as the unsigned value it stands for (§4)."""
    return value & MASK64
