"""The construct reference reader and ArchiveReader agree, on sound and on damaged archives.

The two share only header decoding and the demultiplexer rules (_rules); the
framing (spec/archive.md §2) and the CRC (§4) are computed independently, so
any disagreement on events, summaries or on the class, code, offset and
namespace of an error is a bug in one of them.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import SHARED_VECTORS, SPEC_VECTORS
from strategies import ArchiveModel, Op, archive_models, mutations, read_all, write_model

from mongoarchive._reference import read_reference
from mongoarchive.errors import MongoArchiveError

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(read: Any, data: bytes) -> tuple[str, Any]:
    """("ok", result) or ("error", (class, code, offset, namespace)); other exceptions propagate."""
    try:
        return "ok", read(data)
    except MongoArchiveError as exc:
        return "error", (type(exc).__name__, exc.code, exc.offset, exc.namespace)


def assert_agree(data: bytes) -> tuple[str, Any]:
    fast = outcome(read_all, data)
    ref = outcome(read_reference, data)
    if fast[0] == "ok" and ref[0] == "ok":
        for name, a, b in zip(
            ("header", "collections", "events", "summaries", "warnings"), fast[1], ref[1], strict=True
        ):
            assert a == b, name
        assert list(fast[1][3]) == list(ref[1][3]), "summary order"
    else:
        assert fast == ref
    return fast


@SETTINGS
@given(archive_models())
def test_agree_on_generated_archives(model: ArchiveModel) -> None:
    kind, _ = assert_agree(write_model(model))
    assert kind == "ok"


@SETTINGS
@given(st.data())
def test_agree_on_damaged_archives(data: st.DataObject) -> None:
    model = data.draw(archive_models(max_namespaces=3, max_docs=3))
    damaged = data.draw(mutations(write_model(model)))
    assert_agree(damaged)


def test_agree_on_every_error_kind() -> None:
    """Systematic damage at every offset of a small archive; it must reach each error kind."""
    model = ArchiveModel(
        "7.0.1",
        "t",
        4,
        (("d", "a", "", "collection"), ("d", "b", "", "collection")),
        (Op("write", 0, b"\x05\x00\x00\x00\x00"), Op("write", 1, b"\x05\x00\x00\x00\x00")),
    )
    good = write_model(model)
    seen = set()
    for cut in range(len(good)):
        flipped = good[:cut] + bytes([good[cut] ^ 0x40]) + good[cut + 1 :]
        for damaged in (
            good[:cut],
            good[:cut] + b"\xff\xff\xff\xff" + good[cut:],
            good[:cut] + good[cut + 1 :],
            flipped,
        ):
            kind, what = assert_agree(damaged)
            if kind == "error":
                seen.add((what[0], what[1]))
    assert seen >= {
        ("ChecksumError", "crc-mismatch"),
        ("FramingError", "bad-length"),
        ("FramingError", "consecutive-terminators"),
        ("FramingError", "missing-nul"),
        ("HeaderError", "bad-header"),
        ("NamespaceError", "undeclared-namespace"),
        ("NotAnArchiveError", "bad-magic"),
        ("TrailingDataError", "trailing-data"),
        ("TruncatedError", "truncated"),
        ("TruncatedError", "unfinished-namespace"),
        ("TruncatedError", "unseen-namespace"),
    }


def _vector_files() -> list[Path]:
    files = sorted(SPEC_VECTORS.glob("**/*.archive")) if SPEC_VECTORS.is_dir() else []
    files += sorted(SHARED_VECTORS.glob("*.archive")) if SHARED_VECTORS.is_dir() else []
    return files


@pytest.mark.parametrize("path", _vector_files(), ids=lambda p: p.name)
def test_agree_on_vector(path: Path) -> None:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            pytest.skip("a damaged gzip vector: the reference reader reads plain archives only")
    assert_agree(data)
