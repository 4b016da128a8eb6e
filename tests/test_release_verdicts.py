"""``check --target`` gives the verdict of the official reader of each mongorestore release.

Damaged and borderline archives, at least one for every rule of either
release (spec/archive.md §7), are read by ``archref read`` of mongo-tools
100.6.1 and 100.18.0 (the official ``common/archive`` code, see
../shared/oracle/README.md) and checked with ``check --target`` of that
release: both must accept, or both refuse.  The default target (``all``) must
fail iff either release refuses.  One exception, by design: metadata is parsed
when a collection is restored, not when the archive is read, so an archive
whose only problem is ``bad-metadata`` passes ``archref read`` and fails check
for every target.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.code import Code
from bson.int64 import Int64
from bson.son import SON
from cli_helpers import run
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS

from mongoarchive._crc import crc64

ORACLE = REPO_ROOT.parent / "shared" / "oracle"
RELEASES = {"100.6": "100.6.1", "100.18": "100.18.0"}
#: Problems mongorestore finds only when it restores a collection, after reading the archive.
RESTORE_TIME = {"bad-metadata"}

pytestmark = pytest.mark.skipif(
    not all((ORACLE / r / "archref").is_file() for r in RELEASES.values()),
    reason=f"the official readers (archref) are not at {ORACLE}",
)

MAGIC = b"\x6d\xe2\x99\x81"
TERM = b"\xff\xff\xff\xff"
DOC = bson.encode({"_id": 1, "v": "x"})
DOC2 = bson.encode({"_id": 2, "v": "y"})


# -- building archives by hand (spec §2, §3) --------------------------------------------------------
def enc(fields: list[tuple[str, Any]]) -> bytes:
    return bson.encode(SON(fields))


def element(name: str, kind: int, payload: bytes) -> bytes:
    return bytes([kind]) + name.encode() + b"\x00" + payload


def symbol(name: str, text: str) -> bytes:
    """A BSON symbol element (type 0x0e), which pymongo never writes."""
    raw = text.encode() + b"\x00"
    return element(name, 0x0E, struct.pack("<i", len(raw)) + raw)


def field(name: str, value: Any) -> bytes:
    return bson.encode({name: value})[4:-1]


def document(*elements: bytes) -> bytes:
    body = b"".join(elements) + b"\x00"
    return struct.pack("<i", len(body) + 4) + body


def header(sv: Any = "8.0.4", drop: str | None = None, **extra: Any) -> bytes:
    fields = [("concurrent_collections", 4), ("version", "0.1"), ("server_version", sv)]
    fields.append(("tool_version", "100.10.0"))
    fields = [(k, extra.pop(k, v)) for k, v in fields if k != drop]
    return enc(fields + list(extra.items()))


def entry(db: str, coll: str, kind: str = "collection", **extra: Any) -> bytes:
    return enc(
        [("db", db), ("collection", coll), ("metadata", ""), ("size", 0), ("type", kind), *extra.items()]
    )


def nsh(db: str, coll: str, eof: Any = False, crc: Any = None, **extra: Any) -> bytes:
    """A namespace header with its fields in mongodump's order, then ``extra`` (§3.3)."""
    crc = Int64(0) if crc is None else crc
    fields = (field("db", db), field("collection", coll), field("EOF", eof), field("CRC", crc))
    return document(*fields, *(field(k, v) for k, v in extra.items()))


def stored(*docs: bytes) -> Int64:
    value = crc64(b"".join(docs))
    return Int64(value - (1 << 64) if value >= 1 << 63 else value)


def data(db: str, coll: str, *docs: bytes) -> bytes:
    return nsh(db, coll) + b"".join(docs) + TERM


def eof(db: str, coll: str, *docs: bytes) -> bytes:
    return nsh(db, coll, True, stored(*docs)) + TERM


def ns(db: str = "d", coll: str = "x", *docs: bytes) -> bytes:
    docs = docs or (DOC,)
    return data(db, coll, *docs) + eof(db, coll, *docs)


def archive(*body: bytes, head: bytes | None = None, entries: tuple[bytes, ...] | None = None) -> bytes:
    listed = (entry("d", "x"),) if entries is None else entries
    return MAGIC + (header() if head is None else head) + b"".join(listed) + TERM + b"".join(body)


GOOD = archive(ns())
TS = (entry("d", "X", "timeseries"),)


def timeseries(server: str, *body: bytes) -> bytes:
    return archive(*body, head=header(server), entries=TS)


def raw_header(*elements: bytes) -> bytes:
    return document(*elements)


def with_header(head: bytes, *docs: bytes) -> bytes:
    """A data block of d.x with a hand-made namespace header, then d.x's EOF block."""
    docs = docs or (DOC,)
    return archive(head + b"".join(docs) + TERM, eof("d", "x", *docs))


def eof_header(head: bytes) -> bytes:
    """d.x's data block, then an EOF block with a hand-made header."""
    return archive(data("d", "x", DOC), head + TERM)


CRC_OF_DOC = stored(DOC)
CASES: dict[str, Callable[[], bytes]] = {
    # framing (§2)
    "good": lambda: GOOD,
    "bad-magic": lambda: b"\x00\x01\x02\x03" + GOOD[4:],
    "text-before-magic": lambda: b"2024-01-01 writing d.x\n" + GOOD,
    "magic-cut": lambda: MAGIC[:3],
    "magic-only": lambda: MAGIC,
    "terminator-as-archive-header": lambda: MAGIC + TERM,
    "bad-length-in-prelude": lambda: MAGIC + header() + struct.pack("<i", 3) + TERM,
    "bad-length-in-body": lambda: archive(nsh("d", "x") + struct.pack("<i", 4) + b"\x00" * 4 + TERM),
    "huge-length": lambda: archive(nsh("d", "x") + struct.pack("<i", 16 * 1024 * 1024 + 1) + DOC + TERM),
    "missing-nul": lambda: archive(nsh("d", "x") + DOC[:-1] + b"\x01" + TERM, eof("d", "x", DOC)),
    "consecutive-terminators": lambda: archive(data("d", "x", DOC) + TERM, eof("d", "x", DOC)),
    "cut-in-document": lambda: GOOD[: len(archive()) + len(nsh("d", "x")) + 5],
    "cut-in-length": lambda: GOOD[: len(archive()) + len(nsh("d", "x")) + 2],
    "cut-in-prelude": lambda: archive()[:-6],
    "cut-at-block-boundary": lambda: archive(data("d", "x", DOC)),
    # checksum (§4)
    "crc-mismatch": lambda: archive(data("d", "x", DOC), nsh("d", "x", True, Int64(5)) + TERM),
    "crc-of-other-bytes": lambda: archive(data("d", "x", DOC), eof("d", "x", DOC2)),
    # the demultiplexer (§6)
    "data-after-eof": lambda: archive(data("d", "x", DOC), nsh("d", "x", True, CRC_OF_DOC) + DOC + TERM),
    "reopened": lambda: archive(ns(), data("d", "x", DOC)),
    "unfinished": lambda: archive(
        data("d", "x", DOC), ns("d", "y"), entries=(entry("d", "x"), entry("d", "y"))
    ),
    "unseen": lambda: archive(ns(), entries=(entry("d", "x"), entry("d", "y"))),
    "undeclared": lambda: archive(ns(), ns("d", "y")),
    "eof-of-undeclared": lambda: archive(ns(), eof("d", "y")),
    "empty-collection-name": lambda: archive(nsh("d", "") + TERM, entries=()),
    "byte-after-end": lambda: GOOD + b"\x00",
    "terminator-after-end": lambda: GOOD + TERM,
    "concatenated": lambda: GOOD + GOOD,
    "eof-block-alone": lambda: archive(eof("d", "x")),
    "empty-archive": lambda: archive(entries=()),
    "interleaved": lambda: archive(
        data("d", "x", DOC),
        data("d", "y", DOC2),
        data("d", "x", DOC2),
        eof("d", "y", DOC2),
        eof("d", "x", DOC, DOC2),
        entries=(entry("d", "x"), entry("d", "y")),
    ),
    "oplog": lambda: archive(ns("", "oplog"), entries=(entry("", "oplog", ""),)),
    # the prelude (§3.1, §3.2): lenient in every release
    "archive-header-extra-field": lambda: archive(ns(), head=header(compressed=False)),
    "entry-extra-field": lambda: archive(ns(), entries=(entry("d", "x", note="by hand"),)),
    "version-0.2": lambda: archive(ns(), head=header(version="0.2")),
    "version-int": lambda: archive(ns(), head=header(version=1)),
    "concurrent-collections-int64": lambda: archive(ns(), head=header(concurrent_collections=Int64(4))),
    "concurrent-collections-missing": lambda: archive(ns(), head=header(drop="concurrent_collections")),
    "concurrent-collections-string": lambda: archive(ns(), head=header(concurrent_collections="4")),
    "concurrent-collections-overflow": lambda: archive(
        ns(), head=header(concurrent_collections=Int64(1 << 40))
    ),
    "tool-version-missing": lambda: archive(ns(), head=header(drop="tool_version")),
    "tool-version-null": lambda: archive(ns(), head=header(tool_version=None)),
    "version-null": lambda: archive(ns(), head=header(version=None)),
    "entry-metadata-null": lambda: archive(ns(), entries=(entry("d", "x", metadata=None),)),
    "entry-type-null": lambda: archive(ns(), entries=(entry("d", "x", type=None),)),
    "archive-header-empty": lambda: archive(ns(), head=bson.encode({})),
    "entry-without-type": lambda: archive(
        ns(), entries=(enc([("db", "d"), ("collection", "x"), ("size", 0)]),)
    ),
    "entry-size-int64": lambda: archive(
        ns(), entries=(enc([("db", "d"), ("collection", "x"), ("metadata", ""), ("size", Int64(0))]),)
    ),
    "entry-size-string": lambda: archive(
        ns(), entries=(enc([("db", "d"), ("collection", "x"), ("size", "0")]),)
    ),
    "entry-collection-code": lambda: archive(ns(), entries=(enc([("db", "d"), ("collection", Code("x"))]),)),
    "entry-collection-symbol": lambda: archive(
        ns(), entries=(document(field("db", "d"), symbol("collection", "x")),)
    ),
    "entry-twice": lambda: archive(ns(), entries=(entry("d", "x"), entry("d", "x"))),
    # namespace headers: strict from 100.14 (§3.3)
    "header-db-symbol": lambda: with_header(
        raw_header(symbol("db", "d"), field("collection", "x"), field("EOF", False), field("CRC", Int64(0)))
    ),
    "header-collection-symbol": lambda: with_header(
        raw_header(field("db", "d"), symbol("collection", "x"), field("EOF", False), field("CRC", Int64(0)))
    ),
    "header-collection-code": lambda: with_header(nsh("d", Code("x"))),  # type: ignore[arg-type]
    "header-eof-int32-false": lambda: with_header(nsh("d", "x", eof=0)),
    "header-eof-int32-true": lambda: eof_header(nsh("d", "x", 1, CRC_OF_DOC)),
    "header-eof-double": lambda: with_header(nsh("d", "x", eof=0.0)),
    "header-eof-null": lambda: with_header(nsh("d", "x", eof=None)),
    "header-eof-string": lambda: with_header(nsh("d", "x", eof="no")),
    "header-crc-int32": lambda: with_header(nsh("d", "x", crc=0)),
    "header-crc-double": lambda: with_header(nsh("d", "x", crc=0.0)),
    "header-crc-null": lambda: with_header(
        raw_header(field("db", "d"), field("collection", "x"), field("EOF", False), field("CRC", None))
    ),
    "header-crc-fraction": lambda: with_header(nsh("d", "x", crc=0.5)),
    "header-crc-string": lambda: with_header(nsh("d", "x", crc="0")),
    "header-eof-crc-int32": lambda: archive(nsh("d", "x", True, 0) + TERM),
    "header-unknown-key": lambda: with_header(nsh("d", "x", shard="rs0")),
    "header-crc-missing": lambda: with_header(
        raw_header(field("db", "d"), field("collection", "x"), field("EOF", False))
    ),
    "header-eof-and-crc-missing": lambda: with_header(raw_header(field("db", "d"), field("collection", "x"))),
    "header-db-missing": lambda: archive(
        raw_header(field("collection", "x"), field("EOF", False), field("CRC", Int64(0))) + DOC + TERM,
        eof("", "x", DOC),
        entries=(entry("", "x"),),
    ),
    "header-fields-reordered": lambda: with_header(
        raw_header(field("CRC", Int64(0)), field("EOF", False), field("collection", "x"), field("db", "d"))
    ),
    # server_version: X.Y.Z from 100.16 (§3.1)
    **{
        f"server-version-{label}": (lambda sv=sv: archive(ns(), head=header(sv)))
        for label, sv in (
            ("unknown", "unknown"),
            ("empty", ""),
            ("3.4", "3.4"),
            ("8.0.4-rc1", "8.0.4-rc1"),
            ("7.0.0+abc", "7.0.0+abc"),
            ("8.0.4", "8.0.4"),
            ("v8.0.4", "v8.0.4"),
            ("8.0.4.1", "8.0.4.1"),
            ("trailing-space", "8.0.4 "),
            ("null", None),
        )
    },
    "server-version-missing": lambda: archive(ns(), head=header(drop="server_version")),
    "server-version-int": lambda: archive(ns(), head=header(8)),
    # timeseries naming on both sides of 8.3 (§5.4)
    **{
        f"timeseries-{server}-{naming}": (
            lambda server=server, naming=naming: timeseries(
                server, ns("d", "system.buckets.X" if naming == "buckets" else "X")
            )
        )
        for server in ("7.0.0", "8.2.11", "8.3.0", "8.3.0-rc0", "9.0.0", "unknown")
        for naming in ("buckets", "X")
    },
    "timeseries-eof-under-X": lambda: timeseries(
        "7.0.0", data("d", "system.buckets.X", DOC), nsh("d", "X", True, Int64(0)) + TERM
    ),
    "timeseries-eof-under-X-with-crc": lambda: timeseries(
        "7.0.0", data("d", "system.buckets.X", DOC), eof("d", "X", DOC)
    ),
    "timeseries-split": lambda: timeseries(
        "7.0.0", data("d", "system.buckets.X", DOC), data("d", "X", DOC2), eof("d", "X", DOC, DOC2)
    ),
    "timeseries-both-names": lambda: timeseries("7.0.0", ns("d", "system.buckets.X"), ns("d", "X")),
    "timeseries-83-eof-under-buckets": lambda: timeseries(
        "8.3.0", data("d", "X", DOC), eof("d", "system.buckets.X", DOC)
    ),
    "timeseries-eof-only-X": lambda: timeseries("7.0.0", eof("d", "X")),
    "timeseries-eof-only-buckets": lambda: timeseries("7.0.0", eof("d", "system.buckets.X")),
    "timeseries-buckets-declared-too": lambda: archive(
        ns("d", "system.buckets.X"), head=header("7.0.0"), entries=(*TS, entry("d", "system.buckets.X"))
    ),
}


# -- the two verdicts --------------------------------------------------------------------------------
def archref_accepts(release: str, path: Path, gzip: bool = False) -> bool:
    argv = [
        str(ORACLE / RELEASES[release] / "archref"),
        "read",
        "--quiet",
        *(["--gzip"] if gzip else []),
        str(path),
    ]
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    return proc.returncode == 0


def check_verdict(capsys: pytest.CaptureFixture[str], path: Path, target: str) -> tuple[bool, bool]:
    """(passes, fails only for restore-time problems) of ``mongoarchive check --target``."""
    import json

    status, out, _ = run(capsys, "check", "--format", "json", "--target", target, str(path))
    assert status in (0, 1), status
    (report,) = json.loads(out)["files"]
    errors = {p["code"] for p in report["problems"] if p["severity"] == "error"}
    return status == 0, bool(errors) and errors <= RESTORE_TIME


def assert_same_verdicts(capsys: pytest.CaptureFixture[str], path: Path, gzip: bool = False) -> None:
    accepted = {}
    for release in RELEASES:
        accepted[release] = archref_accepts(release, path, gzip)
        passes, restore_only = check_verdict(capsys, path, release)
        if restore_only:
            assert accepted[release], f"{release}: archref refuses what check finds only at restore time"
        else:
            assert passes == accepted[release], (
                f"check --target {release} passes={passes}, archref accepts={accepted[release]}"
            )
    passes, restore_only = check_verdict(capsys, path, "all")
    assert passes == all(accepted.values()) or restore_only, (
        f"check (all) passes={passes}, archref {accepted}"
    )


@pytest.mark.parametrize("name", list(CASES))
def test_case_verdicts(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.archive"
    path.write_bytes(CASES[name]())
    assert_same_verdicts(capsys, path)


def _vectors() -> list[Path]:
    files = []
    for kind in ("valid", "invalid"):
        files += sorted((SPEC_VECTORS / kind).glob("*.archive"))
    if SHARED_VECTORS.is_dir():
        files += sorted(SHARED_VECTORS.glob("*.archive"))
    return files


@pytest.mark.parametrize("path", _vectors(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vector_verdicts(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    assert_same_verdicts(capsys, path, gzip=path.read_bytes()[:2] == b"\x1f\x8b")


# -- against a server: what mongodump --out writes, what --dryRun and a restore find ------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from dumpserver import SecantusServer, secantusd_path

    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    srv = SecantusServer(tmp_path_factory.mktemp("verdicts-server")).start()
    try:
        with srv.client() as client:
            client.d.x.insert_many([{"_id": i} for i in range(3)])
        yield srv
    finally:
        srv.stop()


def tool(release: str, name: str, server: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(ORACLE / RELEASES[release] / name),
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        *argv,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("release", list(RELEASES))
def test_mongodump_out_writes_prelude_json_from_100_18(server: Any, tmp_path: Path, release: str) -> None:
    import json

    proc = tool(release, "mongodump", server, "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    prelude = tmp_path / "out" / "prelude.json"
    assert (tmp_path / "out" / "d" / "x.bson").is_file()
    if release == "100.6":
        assert not prelude.exists()
    else:
        assert json.loads(prelude.read_text())["ToolVersion"] == RELEASES[release]


DRY_RUN = {
    # case: (100.6.1 accepts, 100.18.0 accepts) with --dryRun; the body is never read
    "server-version-unknown": (True, False),
    "server-version-8.0.4": (True, True),
    "crc-mismatch": (True, True),
    "header-crc-int32": (True, True),
    "unseen": (True, True),
    "bad-magic": (False, False),
    "cut-in-prelude": (False, False),
}


@pytest.mark.parametrize("name", list(DRY_RUN))
def test_dry_run_reads_only_the_magic_and_the_prelude(server: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.archive"
    path.write_bytes(CASES[name]())
    for release, accepts in zip(RELEASES, DRY_RUN[name], strict=True):
        proc = tool(release, "mongorestore", server, "--dryRun", f"--archive={path}")
        assert (proc.returncode == 0) == accepts, (release, proc.returncode, proc.stderr[-500:])


@pytest.mark.skipif(not (SHARED_VECTORS / "bad-format.archive").is_file(), reason="real archives not present")
@pytest.mark.parametrize("release", list(RELEASES))
def test_bad_metadata_fails_the_restore_not_the_read(server: Any, release: str) -> None:
    path = SHARED_VECTORS / "bad-format.archive"
    assert archref_accepts(release, path)
    assert tool(release, "mongorestore", server, "--dryRun", f"--archive={path}").returncode == 0
    target = f"restored_{release.replace('.', '_')}"
    proc = tool(release, "mongorestore", server, f"--archive={path}", "--nsFrom=test.*", f"--nsTo={target}.*")
    assert proc.returncode != 0 and "error parsing metadata" in proc.stderr, proc.stderr[-500:]
