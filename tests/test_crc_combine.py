"""crc64_combine: the CRC of A + B from the CRCs of A and B (salvage's attribution, §4)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mongoarchive._crc import crc64, crc64_combine, crc64_pure


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_combine_equals_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc64_combine(crc64(a), crc64(b), len(b)) == crc64_pure(a + b)


def test_combine_with_empty_parts() -> None:
    data = b"123456789"
    assert crc64_combine(0, crc64(data), len(data)) == crc64(data)
    assert crc64_combine(crc64(data), 0, 0) == crc64(data)
