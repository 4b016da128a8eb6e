"""CRC-64/XZ, the namespace checksum (spec/archive.md §4)."""

from __future__ import annotations

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from mongoarchive._crc import CHECK_VALUE, crc64, crc64_pure, to_int64, to_uint64


def _bitwise_crc64_xz(data: bytes) -> int:
    """CRC-64/XZ straight from its catalogue parameters, bit by bit (no table)."""
    poly = 0xC96C5795D7870F42  # 0x42F0E1EBA9EA3693 reflected
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


def test_check_value_is_crc64_xz() -> None:
    assert CHECK_VALUE == 0x995DC9BBDF1939FA
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA
    assert crc64_pure(b"123456789") == 0x995DC9BBDF1939FA
    assert _bitwise_crc64_xz(b"123456789") == 0x995DC9BBDF1939FA


def test_not_ecma_182() -> None:
    # CRC-64/ECMA-182 (non-reflected, init 0) is what many libraries call "ECMA"; Go's crc64.ECMA is not it.
    assert crc64(b"123456789") != 0x6C40DF5F0B497347
    assert crc64_pure(b"123456789") != 0x6C40DF5F0B497347


def test_empty_is_zero() -> None:
    # An empty namespace's stored CRC is 0 (§4).
    assert crc64(b"") == 0
    assert crc64_pure(b"") == 0


def test_known_value_from_other_implementation() -> None:
    # binascii has no CRC-64; cross-check the pure table against the bit-by-bit definition instead.
    data = binascii.unhexlify("0500000000") * 7 + b"mongodump"
    assert crc64_pure(data) == _bitwise_crc64_xz(data) == crc64(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_fast_equals_pure(data: bytes) -> None:
    assert crc64(data) == crc64_pure(data)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=64))
def test_pure_equals_definition(data: bytes) -> None:
    assert crc64_pure(data) == _bitwise_crc64_xz(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512), st.binary(max_size=512))
def test_chaining(a: bytes, b: bytes) -> None:
    assert crc64(b, crc64(a)) == crc64(a + b)
    assert crc64_pure(b, crc64_pure(a)) == crc64_pure(a + b)


@given(st.binary(max_size=64))
def test_accepts_memoryview_and_bytearray(data: bytes) -> None:
    assert crc64(memoryview(data)) == crc64(bytearray(data)) == crc64_pure(memoryview(data))


@given(st.integers(0, 2**64 - 1))
def test_int64_roundtrip(value: int) -> None:
    signed = to_int64(value)
    assert -(2**63) <= signed < 2**63
    assert to_uint64(signed) == value
    assert signed.to_bytes(8, "little", signed=True) == value.to_bytes(8, "little")


@given(st.integers(-(2**63), 2**63 - 1))
def test_uint64_roundtrip(value: int) -> None:
    assert to_int64(to_uint64(value)) == value


def test_int64_edges() -> None:
    assert to_int64(0x995DC9BBDF1939FA) < 0
    assert to_int64(2**63 - 1) == 2**63 - 1
    assert to_int64(2**63) == -(2**63)
    assert to_int64(2**64 - 1) == -1
    assert to_uint64(-1) == 2**64 - 1
