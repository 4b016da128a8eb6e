"""Streaming (spec/archive.md §8): no seeks, short reads, pipes, truncation anywhere, bounded memory."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tracemalloc
import zlib
from typing import Any

import bson
import pytest
from hypothesis import HealthCheck, given, settings
from paths import REPO_ROOT, SHARED_VECTORS
from strategies import ArchiveModel, Op, archive_models, expected_documents, write_model

import mongoarchive
from mongoarchive import Document, TruncatedError

MIB16 = 16 * 1024 * 1024


class NoSeekShortReads(io.RawIOBase):
    """A pipe-like file: read() returns at most ``step`` bytes; seek and tell raise."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        self.data = data
        self.pos = 0
        self.step = step

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buf: Any) -> int:
        n = min(self.step, len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n

    def seek(self, *args: Any) -> int:
        raise AssertionError("the reader must not seek")

    def tell(self) -> int:
        raise AssertionError("the reader must not tell")


SMALL = ArchiveModel(
    "7.0.1",
    "t",
    2,
    (("d", "a", "", "collection"), ("", "oplog", "", ""), ("d", "empty", "", "view")),
    (
        Op("write", 0, bson.encode({"_id": 1})),
        Op("write", 1, bson.encode({"ts": 5})),
        Op("flush", 1),
        Op("write", 0, bson.encode({"_id": 2, "s": "é"})),
    ),
)


def small_vectors() -> list[tuple[str, bytes]]:
    out = [("generated", write_model(SMALL))]
    out.append(("generated-empty", write_model(ArchiveModel("8.3.0", "", 1, (), ()))))
    for name in ("test.bar.archive", "bad-format.archive"):
        path = SHARED_VECTORS / name
        if path.exists():
            out.append((name, path.read_bytes()))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archive_models(max_namespaces=3, max_docs=4))
def test_no_seek_short_reads(model: ArchiveModel) -> None:
    data = write_model(model)
    got: dict[mongoarchive.Namespace, list[bytes]] = {ns: [] for ns in model.data_namespaces}
    for step, mode in ((1, "r"), (3, "r:"), (7, "r")):
        for ns in got:
            got[ns] = []
        with mongoarchive.open(NoSeekShortReads(data, step), mode) as a:  # type: ignore[call-overload]
            for ns, raw in a.documents():
                got[ns].append(raw)
        assert got == expected_documents(model)


def test_gzip_no_seek_short_reads() -> None:
    data = gzip.compress(write_model(SMALL))
    with mongoarchive.open(NoSeekShortReads(data, 2)) as a:
        assert a.gzip
        got: dict[mongoarchive.Namespace, list[bytes]] = {ns: [] for ns in SMALL.namespaces}
        for ns, raw in a.documents():
            got[ns].append(raw)
    assert got == expected_documents(SMALL)


@pytest.mark.parametrize("as_gzip", [False, True])
def test_cli_inspect_reads_a_pipe(as_gzip: bool) -> None:
    data = write_model(SMALL, gzip=False)
    if as_gzip:
        data = gzip.compress(data)
    proc = subprocess.run(
        [sys.executable, "-m", "mongoarchive", "inspect", "--format", "json", "-"],
        input=data,
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    rows = {(n["db"], n["collection"]): n for n in summary["namespaces"]}
    assert rows[("d", "a")]["documents"] == 2
    assert rows[("", "oplog")]["documents"] == 1
    assert rows[("d", "empty")]["documents"] == 0
    assert all(n["crc"] == "ok" for n in rows.values())


@pytest.mark.parametrize(("name", "data"), small_vectors(), ids=[n for n, _ in small_vectors()])
def test_truncation_at_every_offset(name: str, data: bytes) -> None:
    with mongoarchive.open(io.BytesIO(data)) as a:
        a.validate()  # the whole vector is sound
    for cut in range(len(data)):
        with pytest.raises(TruncatedError), mongoarchive.open(io.BytesIO(data[:cut]), "r:") as a:
            a.validate()


def test_gzip_truncation_raises_truncated() -> None:
    data = write_model(SMALL)
    packed = gzip.compress(data)
    for cut in range(len(packed)):
        with pytest.raises(TruncatedError), mongoarchive.open(io.BytesIO(packed[:cut])) as a:
            a.validate()


def test_huge_length_at_end_of_short_stream_bounded_memory() -> None:
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.1") as w:
        w.add_collection("d", "a")
    prelude_and_header = out.getvalue()
    # Keep magic, prelude and the first namespace header; then a length claiming 16 MiB and 10 bytes.
    first_block = prelude_and_header.index(b"\xff\xff\xff\xff") + 4
    head_len = int.from_bytes(prelude_and_header[first_block : first_block + 4], "little")
    data = prelude_and_header[: first_block + head_len] + MIB16.to_bytes(4, "little") + b"x" * 10
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedError) as err, mongoarchive.open(NoSeekShortReads(data, 4096)) as a:
            for ev in a.events():
                assert not isinstance(ev, Document)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.offset == len(data)
    assert err.value.namespace == "d.a"
    assert peak < 40 * 1024 * 1024


def _sample_plain() -> bytes:
    return (REPO_ROOT / "spec" / "vectors" / "valid" / "sample.archive").read_bytes()


def test_truncated_gzip_reports_the_exact_end_of_the_inflated_data() -> None:
    """Every byte inflated before the cut is read first: the offset is where the data stops (§8)."""
    plain = _sample_plain()
    packed = gzip.compress(plain, mtime=0)
    for cut in range(10, len(packed) - 1, 37):
        inflated = len(zlib.decompressobj(31).decompress(packed[:cut]))
        with pytest.raises(TruncatedError) as info, mongoarchive.open(io.BytesIO(packed[:cut])) as archive:
            archive.validate()
        assert info.value.offset == min(inflated, len(plain))


def test_concatenated_gzip_members_read_as_one_stream() -> None:
    """As gunzip does: two members are the concatenation of their contents (§8)."""
    plain = _sample_plain()
    cut = len(plain) // 2
    packed = gzip.compress(plain[:cut], mtime=0) + gzip.compress(plain[cut:], mtime=0)
    with mongoarchive.open(io.BytesIO(packed)) as archive:
        got = [e.raw for e in archive.events() if isinstance(e, Document)]
    with mongoarchive.open(io.BytesIO(plain)) as archive:
        want = [e.raw for e in archive.events() if isinstance(e, Document)]
    assert got == want and got


def test_bytes_after_a_gzip_member_are_trailing_data() -> None:
    """Not damage of the compressed data: the member before them is complete (§8)."""
    member = gzip.compress(_sample_plain(), mtime=0)
    packed = member + b"log line\n"
    with (
        pytest.raises(mongoarchive.TrailingDataError) as info,
        mongoarchive.open(io.BytesIO(packed)) as archive,
    ):
        archive.validate()
    assert info.value.code == "trailing-data"
    assert info.value.offset == len(_sample_plain())
    assert f"(at byte {len(member)} of the compressed file)" in info.value.message
