"""The vectors of spec/vectors and the real mongodump archives against the reader and the writer.

Sidecars (spec/vectors/README.md) state what each vector must give; they were
derived from how the vector was built, not from the reader.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import spec_vectors
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS

import mongoarchive
from mongoarchive.cli.inspect import summarize
from mongoarchive.errors import MetadataError, MongoArchiveError, UsageError
from mongoarchive.model import Document, NamespaceEnd, Segment

VALID = spec_vectors("valid")
INVALID = spec_vectors("invalid")
REAL = sorted(SHARED_VECTORS.glob("*.archive")) if SHARED_VECTORS.is_dir() else []


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    return item[0].stem


def test_vectors_exist() -> None:
    names = {p.stem for p, _ in VALID + INVALID}
    assert {"sample", "empty-archive", "crc-mismatch", "bad-metadata"} <= names
    for path, _ in VALID + INVALID:
        assert path.is_file(), f"sidecar without archive: {path}"


def project(actual: Any, expected: Any) -> Any:
    """``actual`` cut down to the keys present in ``expected`` (inspect may add derived fields)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: project(actual[k], v) if k in actual else "<missing>" for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [project(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def _metadata_errors(archive: mongoarchive.ArchiveReader) -> list[str]:
    failing = []
    for entry in archive.collections:
        try:
            entry.parse_metadata()
        except MetadataError as exc:
            assert exc.namespace == str(entry.namespace)
            failing.append(str(entry.namespace))
    return failing


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_valid_vector(vector: tuple[Path, dict[str, Any]]) -> None:
    path, side = vector
    assert side["valid"] is True
    with mongoarchive.open(path) as archive:
        summary = summarize(archive)
        assert archive.finished
        assert [w.code for w in archive.warnings] == side["warnings"]
        assert _metadata_errors(archive) == side["metadata_errors"]
    assert project(summary, side["summary"]) == side["summary"]


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_valid_vector_events(vector: tuple[Path, dict[str, Any]]) -> None:
    """events() agrees with the summary: per namespace documents, bytes, segments, one end each."""
    path, side = vector
    counts: dict[str, list[int]] = {}
    ends: list[str] = []
    with mongoarchive.open(path) as archive:
        for ev in archive.events():
            key = str(ev.ns)
            c = counts.setdefault(key, [0, 0, 0])
            if isinstance(ev, Segment):
                c[2] += 1
            elif isinstance(ev, Document):
                c[0] += 1
                c[1] += len(ev.raw)
            else:
                assert isinstance(ev, NamespaceEnd)
                ends.append(key)
    expected = {
        f"{ns['db']}.{ns['collection']}": [ns["documents"], ns["bytes"], ns["segments"]]
        for ns in side["summary"]["namespaces"]
    }
    assert counts == expected
    assert sorted(ends) == sorted(expected)


def _check_error(exc: MongoArchiveError, expected: dict[str, Any]) -> None:
    assert type(exc).__name__ == expected["class"], exc
    assert exc.code == expected["code"], exc
    assert exc.offset == expected["offset"], exc
    assert exc.namespace == expected["namespace"], exc


@pytest.mark.parametrize("how", ["validate", "events"])
@pytest.mark.parametrize("vector", INVALID, ids=_id)
def test_invalid_vector(vector: tuple[Path, dict[str, Any]], how: str) -> None:
    path, side = vector
    assert side["valid"] is False
    expected = side["error"]
    if side["stage"] == "metadata":
        # Framing and CRCs are sound: the metadata is a separate finding (§7).
        with mongoarchive.open(path) as archive:
            archive.validate() if how == "validate" else list(archive.events())
            assert archive.finished
            if "summary" in side:
                assert project(summarize_after(archive), side["summary"]) == side["summary"]
            failing = [e for e in archive.collections if str(e.namespace) == expected["namespace"]]
            assert len(failing) == 1
            with pytest.raises(MetadataError) as meta_info:
                failing[0].parse_metadata()
            _check_error(meta_info.value, expected)
            assert _metadata_errors(archive) == [expected["namespace"]]
        return
    with pytest.raises(MongoArchiveError) as info:
        _read_all(path, how)
    _check_error(info.value, expected)


def _read_all(path: Path, how: str) -> None:
    """Open ``path`` and read its body with validate() or events(); errors may come from either step."""
    with mongoarchive.open(path) as archive:
        if how == "validate":
            archive.validate()
        else:
            for _ in archive.events():
                pass


def summarize_after(archive: mongoarchive.ArchiveReader) -> dict[str, Any]:
    """summarize() for an archive whose body was already read."""
    h = archive.header
    return {
        "header": {
            "concurrent_collections": h.concurrent_collections,
            "version": h.version,
            "server_version": h.server_version,
            "tool_version": h.tool_version,
        },
        "collections": [
            {"db": c.db, "collection": c.collection, "type": c.type, "metadata": c.metadata}
            for c in archive.collections
        ],
        "namespaces": [s.to_dict() for s in archive.namespaces.values()],
        "gzip": archive.gzip,
    }


# -- the real archives written by mongodump ---------------------------------------------------------
def test_real_test_bar(shared_vectors: Path) -> None:
    with mongoarchive.open(shared_vectors / "test.bar.archive") as archive:
        assert archive.header.server_version == "3.4.3"
        assert [str(c.namespace) for c in archive.collections] == ["test.bar", "admin.system.version"]
        assert all(c.type is None for c in archive.collections)  # written before 2021 (§3.2)
        found = archive.validate()
        assert archive.warnings == []
    by_name = {str(ns): s for ns, s in found.items()}
    assert list(by_name) == ["admin.system.version", "test.bar"]
    assert (by_name["admin.system.version"].documents, by_name["admin.system.version"].bytes) == (1, 59)
    assert (by_name["test.bar"].documents, by_name["test.bar"].bytes) == (1, 35)
    assert all(s.crc == "ok" and s.segments == 1 for s in found.values())


def test_real_bad_format(shared_vectors: Path) -> None:
    with mongoarchive.open(shared_vectors / "bad-format.archive") as archive:
        found = archive.validate()  # framing is valid: no ArchiveError
        assert archive.finished
        (entry,) = archive.collections
        assert str(entry.namespace) == "test.ixtest"
        with pytest.raises(MetadataError) as info:
            entry.parse_metadata()
    assert info.value.namespace == "test.ixtest"
    assert info.value.code == "bad-metadata"
    (summary,) = found.values()
    assert (summary.documents, summary.segments, summary.crc) == (0, 1, "ok")


# -- regeneration and byte compatibility -------------------------------------------------------------
def test_make_vectors_is_reproducible(tmp_path: Path) -> None:
    script = SPEC_VECTORS / "make_vectors.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, cwd=REPO_ROOT)
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(SPEC_VECTORS): p.read_bytes()
        for kind in ("valid", "invalid")  # regressions/ holds fuzz findings, not generated
        for p in (SPEC_VECTORS / kind).rglob("*")
        if p.is_file() and p.suffix in (".archive", ".json")
    }
    assert sorted(made) == sorted(committed)
    for name, data in made.items():
        assert data == committed[name], f"{name} differs from the committed file"


def rewrite(src: Path) -> bytes:
    """``src`` copied through the reader and the writer with the public ``mongoarchive.copy`` (§9)."""
    out = io.BytesIO()
    mongoarchive.copy(src, out)
    return out.getvalue()


@pytest.mark.parametrize("path", [p for p in REAL if p.name != "bad-format.archive"], ids=lambda p: p.name)
def test_real_archive_rewrites_byte_for_byte(path: Path) -> None:
    assert rewrite(path) == path.read_bytes()


def test_real_archive_with_broken_metadata_is_not_copied() -> None:
    """The writer refuses a metadata string that is not Extended JSON, even in a copy (§3.2)."""
    path = SHARED_VECTORS / "bad-format.archive"
    if not path.is_file():
        pytest.skip(f"real archives not found at {SHARED_VECTORS}")
    with pytest.raises(UsageError, match="metadata is not valid Extended JSON"):
        rewrite(path)


CANONICAL = [v for v in VALID if v[1].get("canonical")]


@pytest.mark.parametrize("vector", CANONICAL, ids=_id)
def test_canonical_vector_rewrites_byte_for_byte(vector: tuple[Path, dict[str, Any]]) -> None:
    path, _ = vector
    assert rewrite(path) == path.read_bytes()
