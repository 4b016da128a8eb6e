"""``salvage`` and ``mongoarchive salvage`` on truncated, bit-flipped and log-contaminated vectors.

The expected number of documents that come back is derived from the layout of
the known-good vector (``test_damage.walk``), never from salvage itself; every
output must pass ``check_archive``.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path
from typing import Any

import bson
import pytest
from conftest import spec_vectors
from test_damage import LOG_LINE, TEXT_HINT, VALID, Item, plain, walk

import mongoarchive
from mongoarchive.checker import check_archive
from mongoarchive.cli import main
from mongoarchive.salvage import SalvageReport, salvage

IDS = [name for name, _ in VALID]
BASE = plain(next(p for p, _ in spec_vectors("valid") if p.stem == "base-two-namespaces"))


def run(data: bytes, **options: Any) -> tuple[SalvageReport, bytes]:
    out = io.BytesIO()
    report = salvage(io.BytesIO(data), out, gzip=False, **options)
    return report, out.getvalue()


def contents(archive_bytes: bytes) -> dict[str, list[bytes]]:
    """Documents per prelude entry of a valid archive (buckets folded onto their timeseries)."""
    got: dict[str, list[bytes]] = {}
    with mongoarchive.open(io.BytesIO(archive_bytes)) as archive:
        names = {str(c.namespace) for c in archive.collections}
        for c in archive.collections:
            got.setdefault(str(c.namespace), [])
        for ns, raw in archive.documents():
            key = str(ns)
            if key not in names:
                key = f"{ns.db}.{ns.collection.removeprefix('system.buckets.')}"
            got[key].append(raw)
    return got


def assert_valid(output: bytes) -> None:
    """At least one mongorestore release reads ``output`` (spec §7).

    Not every one: salvage copies the archive header as read, so a server_version
    "unknown" (which 100.16+ refuse) stays, and keeps an 8.3 timeseries naming,
    which releases before 100.16 refuse.
    """
    results = [check_archive(io.BytesIO(output), target=t) for t in ("100.6", "100.18")]
    assert any(r.ok() for r in results), [p.to_dict() for r in results for p in r.errors]


def documents(data: bytes) -> list[Item]:
    return [i for i in walk(data) if i.kind == "document"]


def _eof_block_of(data: bytes, doc: Item) -> int:
    """The block index of the EOF block of ``doc``'s namespace (from the known-good layout)."""
    items = walk(data)
    headers = {
        i.block: bson.decode(data[i.offset : i.offset + i.size]) for i in items if i.kind == "ns-header"
    }
    mine = headers[doc.block]
    return next(
        b
        for b, h in headers.items()
        if h.get("EOF") and (h["db"], h["collection"]) == (mine["db"], mine["collection"])
    )


#: The valid vectors that hold data documents.
WITH_DOCUMENTS = [(n, d) for n, d in VALID if documents(d)]
DOC_IDS = [name for name, _ in WITH_DOCUMENTS]


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_an_intact_archive_comes_back_whole(name: str, data: bytes) -> None:
    report, output = run(data)
    assert report.clean, report.render_text()
    assert_valid(output)
    assert contents(output) == contents(data)
    with mongoarchive.open(io.BytesIO(output)) as a, mongoarchive.open(io.BytesIO(data)) as b:
        assert [(c.db, c.collection, c.metadata, c.type) for c in a.collections] == [
            (c.db, c.collection, c.metadata, c.type) for c in b.collections
        ]
    assert all(n.status == "intact" for n in report.namespaces)


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_truncated_copies_keep_every_complete_document(name: str, data: bytes) -> None:
    docs = documents(data)
    step = 1 if name == "base-two-namespaces" else 7
    for cut in range(0, len(data), step):
        report, output = run(data[:cut], keep_unverified=True)
        assert_valid(output)
        expected = sum(1 for d in docs if d.offset + d.size <= cut)
        kept = sum(len(v) for v in contents(output).values())
        assert kept == expected, (cut, report.render_text())
        assert not report.clean
        assert any(d.code == "truncated" for d in report.damaged), cut
        # Without keep_unverified only namespaces whose EOF block (and CRC) came through are kept.
        report, output = run(data[:cut])
        assert_valid(output)
        ended = {i.block for i in walk(data) if i.kind == "ns-header" and i.offset + i.size <= cut}
        verified = sum(1 for d in docs if _eof_block_of(data, d) in ended)
        assert sum(len(v) for v in contents(output).values()) == verified, (cut, report.render_text())
        assert report.totals()["documents_dropped"] == expected - verified


@pytest.mark.parametrize(("name", "data"), WITH_DOCUMENTS, ids=DOC_IDS)
def test_bit_flipped_documents_are_kept_when_still_well_formed(name: str, data: bytes) -> None:
    docs = documents(data)
    for doc in docs:
        for offset in range(doc.offset + 4, doc.offset + doc.size - 1):
            damaged = bytearray(data)
            damaged[offset] ^= 1 << (offset % 8)
            try:
                bson.decode(bytes(damaged[doc.offset : doc.offset + doc.size]))
                lost = 0
            except Exception:
                lost = 1
            report, output = run(bytes(damaged), keep_unverified=True)
            assert_valid(output)
            t = report.totals()
            assert t["documents_kept"] == len(docs) - lost, (offset, report.render_text())
            assert t["documents_lost"] == lost
            assert [n.status for n in report.namespaces].count("crc-mismatch") == 1, offset
            # The damaged namespace's documents are all unverified: kept only on request.
            same_ns = sum(1 for d in docs if _eof_block_of(data, d) == _eof_block_of(data, doc))
            assert t["documents_unverified"] == same_ns - lost
            report, output = run(bytes(damaged))
            assert_valid(output)
            t = report.totals()
            assert t["documents_kept"] == len(docs) - same_ns, (offset, report.render_text())
            assert t["documents_dropped"] == same_ns and t["documents_unverified"] == 0


@pytest.mark.parametrize(("name", "data"), VALID, ids=IDS)
def test_log_lines_between_items_lose_no_document(name: str, data: bytes) -> None:
    before = contents(data)
    for at in sorted({i.offset for i in walk(data)} | {len(data)}):
        report, output = run(data[:at] + LOG_LINE + data[at:])
        assert_valid(output)
        assert contents(output) == before, (at, report.render_text())
        assert not report.clean
        (damage,) = report.damaged
        assert (damage.start, damage.end) == (at, at + len(LOG_LINE)), damage
        if damage.code != "trailing-data":
            assert damage.hint is not None and TEXT_HINT in damage.hint, damage


def test_a_log_line_inside_a_document_costs_that_document_only() -> None:
    docs = documents(BASE)
    for doc in docs:
        at = doc.offset + doc.size // 2
        report, output = run(BASE[:at] + LOG_LINE + BASE[at:], keep_unverified=True)
        assert_valid(output)
        assert report.totals()["documents_kept"] == len(docs) - 1, report.render_text()
        (damage,) = report.damaged
        assert damage.hint is not None and TEXT_HINT in damage.hint
        # The hint points at the text itself, not at printable bytes of the document before it.
        named = int(re.search(r"stream at byte (\d+) \(", damage.hint).group(1))  # type: ignore[union-attr]
        assert named == at and damage.start <= named < damage.end


def test_damaged_prelude_entry_is_rebuilt_from_namespace_headers() -> None:
    entries = [i for i in walk(BASE) if i.kind == "entry"]
    damaged = bytearray(BASE)
    damaged[entries[0].offset : entries[0].offset + 4] = b"\xff\xff\xff\x7f"
    report, output = run(bytes(damaged))
    assert_valid(output)
    assert report.prelude == "damaged"
    assert report.totals()["documents_kept"] == len(documents(BASE))
    with mongoarchive.open(io.BytesIO(output)) as a, mongoarchive.open(io.BytesIO(BASE)) as b:
        first, second = b.collections
        got = {str(c.namespace): c for c in a.collections}
    assert got[str(second.namespace)].metadata == second.metadata  # the intact entry survives
    assert got[str(first.namespace)].metadata == ""  # the damaged one is rebuilt empty
    outcome = next(n for n in report.namespaces if n.namespace == str(first.namespace))
    assert any("prelude entry was lost" in note for note in outcome.notes)


def test_a_damaged_archive_header_is_found_again() -> None:
    at = 4
    report, output = run(BASE[:at] + LOG_LINE + BASE[at:])
    assert report.header == "ok"
    with mongoarchive.open(io.BytesIO(output)) as a, mongoarchive.open(io.BytesIO(BASE)) as b:
        assert a.header == b.header


def test_truncated_gzip_keeps_what_decompresses() -> None:
    packed = gzip.compress(BASE, mtime=0)
    report, output = run(packed[: len(packed) * 3 // 4])
    assert_valid(output)
    assert report.gzip_in
    assert any(d.code == "truncated" for d in report.damaged)


def test_concatenated_archives_keep_the_first_and_report_the_rest() -> None:
    report, output = run(BASE + BASE)
    assert contents(output) == contents(BASE)
    (damage,) = report.damaged
    assert (damage.code, damage.start, damage.end) == ("trailing-data", len(BASE), 2 * len(BASE))
    assert damage.hint is not None and "two archives were concatenated" in damage.hint


def test_bytes_that_are_no_archive_give_an_empty_valid_archive() -> None:
    report, output = run(b"hello world\n" * 100)
    assert_valid(output)
    assert report.header == "rebuilt" and report.totals()["documents_kept"] == 0


# -- the command ------------------------------------------------------------------------------


def test_cli_exit_codes_and_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.archive"
    good.write_bytes(BASE)
    bad = tmp_path / "bad.archive"
    bad.write_bytes(BASE[: len(BASE) - 30])
    out = tmp_path / "out.archive"
    assert main(["salvage", str(good), str(out)]) == 0
    capsys.readouterr()
    assert main(["salvage", str(bad), str(out)]) == 2  # OUT exists
    capsys.readouterr()
    report_file = tmp_path / "report.json"
    assert (
        main(["salvage", str(bad), str(out), "--force", "--format", "json", "--report", str(report_file)])
        == 1
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(report_file.read_text())
    assert printed["clean"] is False
    assert {"namespaces", "damaged", "totals", "header", "prelude"} <= set(printed)
    assert printed["damaged"][0]["code"] == "truncated"
    assert main(["check", str(out)]) == 0
    capsys.readouterr()
    assert main(["salvage", str(good), str(good), "--force"]) == 2  # same file
    assert main(["salvage", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_cli_writes_to_stdout_with_the_report_on_stderr(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(BASE + b"trailing text\n")
    assert main(["salvage", str(src), "-", "--format", "json"]) == 1
    captured = capfdbinary.readouterr()
    assert captured.out == BASE
    assert json.loads(captured.err)["damaged"][0]["code"] == "trailing-data"


def test_cli_gzip_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(BASE)
    assert main(["salvage", str(src), str(tmp_path / "a"), "--gzip"]) == 0
    assert (tmp_path / "a").read_bytes()[:2] == b"\x1f\x8b"
    src.write_bytes(gzip.compress(BASE))
    assert main(["salvage", str(src), str(tmp_path / "b")]) == 0  # follows the input
    assert (tmp_path / "b").read_bytes()[:2] == b"\x1f\x8b"
    assert main(["salvage", str(src), str(tmp_path / "c"), "--no-gzip"]) == 0
    assert (tmp_path / "c").read_bytes() == BASE


_SALVAGE_RSS = """
import io, resource, sys
sys.path.insert(0, {root!r})
from mongoarchive.salvage import salvage
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = salvage(sys.argv[1], io.BytesIO(), gzip=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
print(report.totals()["bytes_skipped"])
"""


def test_salvage_streams_a_gzip_bomb_with_bounded_memory(tmp_path: Path) -> None:
    """64 MiB of zeros inside a block, gzipped to ~64 KB: skipped without holding it (§8)."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    head = BASE[: next(i for i in walk(BASE) if i.kind == "ns-header").offset]
    path = tmp_path / "bomb.archive"
    with gzip.open(path, "wb") as fh:
        fh.write(BASE[: len(head) + 60])  # into the first block
        for _ in range(4):
            fh.write(bytes(16 << 20))
    proc = subprocess.run(
        [sys.executable, "-c", _SALVAGE_RSS.format(root=str(REPO_ROOT)), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    grown_kib, skipped = (int(x) for x in proc.stdout.split())
    assert skipped >= 63 << 20
    assert grown_kib <= 64 * 1024, grown_kib
