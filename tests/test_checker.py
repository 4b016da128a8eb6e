"""mongoarchive.checker: every problem of an archive, with resynchronisation after framing errors."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.int64 import Int64
from conftest import spec_vectors
from paths import SHARED_VECTORS, SPEC_VECTORS

import mongoarchive
from mongoarchive.checker import CheckResult, check_archive

VALID = spec_vectors("valid")
INVALID = spec_vectors("invalid")
TERM = b"\xff\xff\xff\xff"


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    return item[0].stem


class NoSeek(io.RawIOBase):
    """A pipe-like reader: no seek, no tell, small reads (proves streaming)."""

    def __init__(self, data: bytes, step: int = 4096) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self._step, len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n

    def seekable(self) -> bool:
        return False

    def seek(self, *args: Any) -> int:
        raise AssertionError("the checker must not seek")

    def tell(self) -> int:
        raise AssertionError("the checker must not tell")


def build(collections: dict[str, list[dict[str, Any]]], **kw: Any) -> bytes:
    """An archive written by mongoarchive's writer, one namespace after another."""
    buf = io.BytesIO()
    with mongoarchive.open(buf, "w", server_version="7.0.0", **kw) as w:
        writers = {ns: w.add_collection(*ns.split(".", 1), metadata="") for ns in collections}
        for ns, docs in collections.items():
            for doc in docs:
                writers[ns].write(doc)
            writers[ns].close()
    return buf.getvalue()


def doc_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every document and terminator after the magic, walked independently."""
    out = []
    pos = 4
    while pos < len(data):
        (size,) = struct.unpack_from("<i", data, pos)
        if size == -1:
            out.append((pos, 4))
            pos += 4
        else:
            out.append((pos, size))
            pos += size
    return out


def header_offsets(data: bytes, ns: str) -> list[int]:
    """Offsets of the namespace headers of ``ns`` (EOF or not), found by decoding every document."""
    hits = []
    for off, size in doc_offsets(data):
        if size < 5:
            continue
        doc = bson.decode(data[off : off + size])
        if list(doc)[:3] == ["db", "collection", "EOF"] and f"{doc['db']}.{doc['collection']}" == ns:
            hits.append(off)
    return hits


def codes(result: CheckResult, severity: str = "error") -> list[str]:
    return [p.code for p in result.problems if p.severity == severity]


# -- vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("item", VALID, ids=_id)
def test_valid_vectors_pass(item: tuple[Path, dict[str, Any]]) -> None:
    path, sidecar = item
    result = check_archive(path)
    refused = sidecar["refused_by"]
    assert result.ok() == (refused == [])
    assert [p.code for p in result.problems] == sidecar["warnings"]
    assert sorted({r for p in result.problems for r in p.refused_by}) == sorted(refused)
    assert result.ok(strict=True) == (sidecar["warnings"] == [])
    for release in ("100.6", "100.14", "100.16", "100.18"):
        assert check_archive(path, target=release).ok() == (release not in refused), release
    assert result.unchecked == []
    assert result.gzip == sidecar["summary"]["gzip"]
    got = [s.to_dict() for s in result.namespaces.values()]
    assert got == sidecar["summary"]["namespaces"]


@pytest.mark.parametrize("item", INVALID, ids=_id)
def test_invalid_vectors_name_the_problem(item: tuple[Path, dict[str, Any]]) -> None:
    path, sidecar = item
    expected = sidecar["error"]
    result = check_archive(path)
    assert not result.ok()
    first = result.errors[0]
    assert first.code == expected["code"]
    assert first.namespace == expected["namespace"]
    if expected["offset"] is not None:
        assert first.offset == expected["offset"]
    else:  # a metadata error: the checker adds the collection entry's offset
        assert first.offset is not None and first.offset > 4


def test_metadata_error_points_at_its_entry() -> None:
    path = next(p for p, _ in INVALID if p.stem == "bad-metadata")
    data = path.read_bytes()
    result = check_archive(path)
    (problem,) = result.errors
    size = struct.unpack_from("<i", data, problem.offset)[0]
    entry = bson.decode(data[problem.offset : problem.offset + size])
    assert f"{entry['db']}.{entry['collection']}" == problem.namespace == "shop.legacy"


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason="real archives not present")
def test_real_archives() -> None:
    good = check_archive(SHARED_VECTORS / "test.bar.archive")
    assert good.problems == []
    bad = check_archive(SHARED_VECTORS / "bad-format.archive")
    assert [(p.code, p.namespace) for p in bad.problems] == [("bad-metadata", "test.ixtest")]


# -- collecting every problem ----------------------------------------------------------


def test_two_crc_mismatches_are_both_reported() -> None:
    data = bytearray(build({"a.x": [{"v": "hello"}], "a.y": [{"v": "world"}]}))
    for word in (b"hello", b"world"):
        i = data.index(word)
        data[i] ^= 0x20
    result = check_archive(io.BytesIO(bytes(data)))
    eofs = [header_offsets(bytes(data), ns)[-1] for ns in ("a.x", "a.y")]
    assert [(p.code, p.namespace, p.offset) for p in result.errors] == [
        ("crc-mismatch", "a.x", eofs[0]),
        ("crc-mismatch", "a.y", eofs[1]),
    ]
    assert [s.crc for s in result.namespaces.values()] == ["mismatch", "mismatch"]


def test_resynchronises_after_a_framing_error() -> None:
    data = bytearray(build({"a.x": [{"i": i} for i in range(3)], "a.y": [{"s": "y"}], "a.z": [{"s": "z"}]}))
    # Break the length of a.x's second document and a.z's only document.
    clean = bytes(data)
    x_first, x_eof = header_offsets(clean, "a.x")[0], header_offsets(clean, "a.x")[-1]
    z_first, z_eof = header_offsets(clean, "a.z")[0], header_offsets(clean, "a.z")[-1]
    x_doc2 = x_first + struct.unpack_from("<i", clean, x_first)[0] + len(bson.encode({"i": 0}))
    z_doc = z_first + struct.unpack_from("<i", clean, z_first)[0]
    for off in (x_doc2, z_doc):
        struct.pack_into("<i", data, off, 3)
    result = check_archive(NoSeek(bytes(data), step=7))
    assert [(p.code, p.offset, p.namespace) for p in result.errors] == [
        ("bad-length", x_doc2, "a.x"),
        ("bad-length", z_doc, "a.z"),
    ]
    # Checking resumed at a.x's EOF header and a.z's EOF header; a.y was checked in full.
    assert result.unchecked == [(x_doc2, x_eof), (z_doc, z_eof)]
    assert result.namespaces[mongoarchive.Namespace("a", "y")].crc == "ok"
    assert codes(result, "warning") == ["crc-unverifiable", "crc-unverifiable"]
    # One vocabulary: the namespace's CRC state is the problem's word (not "mismatch").
    states = {str(s.ns): s.crc for s in result.namespaces.values()}
    assert states == {"a.x": "unverifiable", "a.y": "ok", "a.z": "unverifiable"}
    assert [n["crc"] for n in result.to_dict()["namespaces"]] == ["unverifiable", "ok", "unverifiable"]


def test_truncation_reports_every_unfinished_namespace() -> None:
    data = build({"a.x": [{"i": 1}], "a.y": [{"i": 2}], "a.z": []})
    cut = header_offsets(data, "a.x")[-1] + 10  # inside a.x's EOF header
    result = check_archive(io.BytesIO(data[:cut]))
    assert [(p.code, p.namespace) for p in result.errors] == [
        ("truncated", None),
        ("unfinished-namespace", "a.x"),
        ("unseen-namespace", "a.y"),
        ("unseen-namespace", "a.z"),
    ]
    assert all(p.offset == cut for p in result.errors)


def test_undeclared_namespace_reported_once_and_still_checksummed() -> None:
    data = bytearray(build({"a.x": [{"i": 1}], "a.y": [{"i": 2}]}))
    for off in header_offsets(bytes(data), "a.y"):
        i = data.index(b"y\x00", off + 4)
        data[i] = ord("q")
    result = check_archive(io.BytesIO(bytes(data)))
    assert [(p.code, p.namespace) for p in result.errors] == [
        ("undeclared-namespace", "a.q"),
        ("unseen-namespace", "a.y"),
    ]
    assert result.namespaces[mongoarchive.Namespace("a", "q")].crc == "ok"


def test_log_text_before_the_archive_is_skipped() -> None:
    data = build({"a.x": [{"i": 1}]})
    text = b"2024-01-01T00:00:00 writing a.x to archive on stdout\n"
    result = check_archive(io.BytesIO(text + data))
    assert [(p.code, p.offset) for p in result.errors] == [("data-before-magic", 0)]
    assert "text was mixed into the stream" in (result.errors[0].hint or "")
    assert result.unchecked == [(0, len(text))]
    assert result.namespaces[mongoarchive.Namespace("a", "x")].crc == "ok"


def test_gzip_read_without_gunzip_is_explained() -> None:
    data = gzip.compress(build({"a.x": [{"i": 1}]}))
    result = check_archive(io.BytesIO(data), gzip=False)
    (problem,) = result.errors
    assert problem.code == "bad-magic"
    assert "gzip" in (problem.hint or "")
    assert check_archive(io.BytesIO(data)).problems == []


def test_damaged_gzip_stops_with_an_open_ended_range() -> None:
    data = bytearray(gzip.compress(build({"a.x": [{"i": i, "pad": "x" * 200} for i in range(50)]})))
    for i in range(30, 60):
        data[i] ^= 0xFF
    result = check_archive(io.BytesIO(bytes(data)))
    assert not result.ok()
    assert result.errors[0].code in {"bad-gzip", "truncated", "bad-length", "missing-nul", "bad-header"}


def test_strict_header_rules_are_errors_for_100_14_and_later_only() -> None:
    data = bytearray(build({"a.x": [{"i": 1}]}))
    off = header_offsets(bytes(data), "a.x")[0]
    size = struct.unpack_from("<i", data, off)[0]
    header = bson.encode({"db": "a", "collection": "x", "EOF": False, "CRC": 0, "extra": 1})
    data[off : off + size] = header
    old = check_archive(io.BytesIO(bytes(data)), target="100.6")
    assert old.errors == []
    assert sorted(codes(old, "warning")) == ["crc-not-int64", "unknown-field"]
    assert old.ok() and not old.ok(strict=True)
    for target in ("100.14", "100.18", "all"):
        new = check_archive(io.BytesIO(bytes(data)), target=target)
        assert sorted(codes(new)) == ["crc-not-int64", "unknown-field"], target
        assert all(p.refused_by == ("100.14", "100.16", "100.18") for p in new.problems)


def test_extra_prelude_fields_are_accepted_by_every_release() -> None:
    """Every release ignores unknown fields in the archive header and collection entries (§3.1, §3.2)."""
    path = SPEC_VECTORS / "valid" / "tolerated-extra-fields.archive"
    for target in ("100.6", "100.14", "100.16", "100.18", "all"):
        result = check_archive(path, target=target)
        prelude = [p for p in result.problems if p.code == "ignored-field"]
        assert len(prelude) == 2 and all(p.severity == "warning" and p.refused_by == () for p in prelude)


@pytest.mark.parametrize(
    ("server_version", "refused"),
    [
        ("unknown", True),
        ("", True),
        (None, True),
        ("3.4", True),
        ("8.0.4-rc1", False),
        ("7.0.0+abc", False),
        ("8.0.4", False),
    ],
)
def test_server_version_must_be_x_y_z_from_100_16(server_version: str | None, refused: bool) -> None:
    fields: dict[str, Any] = {"concurrent_collections": 4, "version": "0.1"}
    if server_version is not None:
        fields["server_version"] = server_version
    fields["tool_version"] = "100.9.4"
    data = b"\x6d\xe2\x99\x81" + bson.encode(fields) + TERM
    default = check_archive(io.BytesIO(data))
    assert default.ok() is not refused
    assert check_archive(io.BytesIO(data), target="100.14").ok()
    assert check_archive(io.BytesIO(data), target="100.16").ok() is not refused
    if refused:
        (problem,) = default.problems
        assert (problem.code, problem.offset, problem.refused_by) == (
            "bad-server-version",
            4,
            ("100.16", "100.18"),
        )


def test_max_problems_caps_the_list() -> None:
    data = bytearray(build({f"a.c{i}": [{"v": f"text{i}"}] for i in range(6)}))
    for i in range(6):
        j = data.index(f"text{i}".encode())
        data[j] ^= 0x20
    result = check_archive(io.BytesIO(bytes(data)), max_problems=3)
    assert len(result.problems) == 3 and result.truncated_report
    # Counting goes on after the cap: all six are counted, three listed.
    assert (result.error_count, result.warning_count) == (6, 0)
    report = result.to_dict()
    assert (report["errors"], report["listed"], report["report_truncated"]) == (6, 3, True)


def test_missing_file_raises_io_error(tmp_path: Path) -> None:
    with pytest.raises(mongoarchive.ArchiveIOError):
        check_archive(tmp_path / "missing.archive")


def test_timeseries_data_and_its_eof_under_two_names() -> None:
    """Data under system.buckets.X, its EOF block under X with CRC 0: the buckets are unfinished (§5.4)."""
    docs = bson.encode({"a": 1})
    header = bson.encode(
        {"concurrent_collections": 4, "version": "0.1", "server_version": "7.0.0", "tool_version": "t"}
    )
    entry = bson.encode({"db": "d", "collection": "X", "metadata": "", "size": 0, "type": "timeseries"})

    def nsh(coll: str, eof: bool) -> bytes:
        return bson.encode({"db": "d", "collection": coll, "EOF": eof, "CRC": Int64(0)})

    prelude = b"\x6d\xe2\x99\x81" + header + entry + TERM
    buckets = nsh("system.buckets.X", False) + docs + TERM
    data = prelude + buckets + nsh("X", True) + TERM
    result = check_archive(io.BytesIO(data))
    assert [(p.code, p.namespace, p.offset) for p in result.errors] == [
        ("undeclared-namespace", "d.X", len(prelude) + len(buckets)),
        ("unfinished-namespace", "d.system.buckets.X", len(data)),
    ]
    assert result.namespaces[mongoarchive.Namespace("d", "system.buckets.X")].crc == "unfinished"


def test_every_problem_code_is_in_the_release_table() -> None:
    """No code falls back to the table's default: each was placed on purpose (spec §7)."""
    import re

    from mongoarchive._releases import REFUSED

    package = Path(mongoarchive.__file__).parent
    # The modules whose errors and warnings check reports (checker.py and what it runs).
    modules = ("checker.py", "_rules.py", "_framing.py", "_io.py", "_crc.py")
    source = "\n".join((package / m).read_text() for m in modules)
    found = set(re.findall(r'code="([a-z0-9.-]+)"', source))
    found |= set(re.findall(r'_warning\(\s*"([a-z0-9.-]+)"', source))
    found |= set(re.findall(r'Problem\(\s*"(?:error|warning)",\s*"([a-z0-9.-]+)"', source))
    found |= set(
        re.findall(r'"([a-z0-9.-]+)" if viewless_server else', (package / "_releases.py").read_text())
    )
    # Errors of the dump and restore drivers (connection, authentication, ...) are never check problems.
    drivers = (mongoarchive.errors.DumpError, mongoarchive.errors.RestoreError)
    found |= {
        cls.default_code
        for cls in vars(mongoarchive.errors).values()
        if isinstance(cls, type) and not issubclass(cls, drivers)
    }
    found -= {"error", "invalid-archive", "bad-framing", "bad-document", "io-error", "usage"}
    assert {"crc-unverifiable", "bad-server-version", "bad-bson", "viewless-timeseries"} <= found
    assert found - set(REFUSED) == set()
