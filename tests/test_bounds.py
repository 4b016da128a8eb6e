"""Memory and work stay bounded on hostile inputs: structural checks, never timings.

Each test builds an input that used to make a list, a set, a copy or a loop grow
with the damage (or never end), and checks the structure that now bounds it:
capped lists with counts, one problem for a run, bounded hints, bounded reads.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import threading
from typing import Any

import bson
import pytest
from bson import json_util
from bson.codec_options import DatetimeConversion
from bson.int64 import Int64

import mongoarchive
from mongoarchive import _extjson, _framing, _jsonlines
from mongoarchive._framing import HINT_WINDOW, Framer
from mongoarchive._io import open_source
from mongoarchive._rules import Demux
from mongoarchive.checker import MAX_UNDECLARED, check_archive
from mongoarchive.cli import main
from mongoarchive.model import CollectionEntry

MAGIC = b"\x6d\xe2\x99\x81"
TERM = b"\xff\xff\xff\xff"
MIB = 1 << 20


def prelude(*names: tuple[str, str], kind: str = "collection") -> bytes:
    head = bson.encode(
        {"concurrent_collections": 1, "version": "0.1", "server_version": "7.0.0", "tool_version": "t"}
    )
    entries = b"".join(
        bson.encode({"db": db, "collection": coll, "metadata": "", "size": 0, "type": kind})
        for db, coll in names
    )
    return MAGIC + head + entries + TERM


def header(db: str, coll: str, eof: bool = False, crc: int = 0) -> bytes:
    return bson.encode({"db": db, "collection": coll, "EOF": eof, "CRC": Int64(crc)})


class Endless(io.RawIOBase):
    """``pattern`` repeated for ever; fails the test after ``fail_after`` bytes were read."""

    def __init__(self, head: bytes, pattern: bytes, fail_after: int) -> None:
        self.head = head
        self.pattern = pattern * max(1, 65536 // len(pattern))
        self.fail_after = fail_after
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.read_bytes >= self.fail_after:
            raise AssertionError(f"read {self.read_bytes} bytes of an endless stream")
        data = self.head or self.pattern
        self.head = b""
        n = min(len(buf), len(data))
        buf[:n] = data[:n]
        self.read_bytes += n
        return n


# -- check: lists that grow with damage -------------------------------------------------
def test_unchecked_ranges_are_capped_and_counted() -> None:
    doc = bson.encode({"_id": 1})
    unit = header("d", "c") + doc + b"\x00\x00\x00\x00"  # a bad length after every header
    data = prelude(("d", "c")) + unit * 500
    result = check_archive(io.BytesIO(data), max_problems=50)
    assert len(result.unchecked) == 50
    assert result.unchecked_omitted == 500 - 50
    # Every skipped byte is still counted: from each bad length to the next header.
    assert result.unchecked_bytes == 500 * 4
    assert result.to_dict()["unchecked_omitted"] == 450


def test_adjacent_unchecked_ranges_are_merged() -> None:
    # Stray terminators, then garbage right after them: one range, not two.
    head = prelude(("d", "c")) + header("d", "c") + bson.encode({"_id": 1}) + TERM
    data = head + TERM * 3 + b"\x00" * 10 + header("d", "c", True) + TERM
    result = check_archive(io.BytesIO(data))
    start = len(head) + 4
    assert result.unchecked == [(start, start + 8 + 10)]
    assert result.unchecked_bytes == 18


def test_undeclared_namespaces_are_capped_and_counted() -> None:
    extra = 300
    body = b"".join(header("d", f"u{i}") + TERM for i in range(MAX_UNDECLARED + extra))
    data = prelude(("d", "c")) + body + header("d", "c", True) + TERM
    result = check_archive(io.BytesIO(data), max_problems=10_000)
    undeclared = [ns for ns in result.namespaces if ns.collection.startswith("u")]
    assert len(undeclared) == MAX_UNDECLARED
    assert result.untracked_blocks == extra
    codes = [p.code for p in result.errors]
    # One error per followed namespace, one saying the rest are counted, one per unfinished.
    assert codes.count("undeclared-namespace") == MAX_UNDECLARED + 1
    assert codes.count("unfinished-namespace") == MAX_UNDECLARED


def test_run_of_terminators_is_one_problem() -> None:
    data = prelude(("d", "c")) + header("d", "c") + TERM + TERM * 5000 + header("d", "c", True) + TERM
    result = check_archive(io.BytesIO(data))
    assert [p.code for p in result.errors] == ["consecutive-terminators"]
    assert "4999 more" in result.errors[0].message
    start = len(data) - len(header("d", "c", True) + TERM) - 4999 * 4
    assert result.unchecked == [(start, start + 4999 * 4)]


def test_max_damage_stops_an_endless_stream_of_zeros() -> None:
    source = Endless(b"", b"\x00", fail_after=64 * MIB)
    result = check_archive(source, max_damage=MIB)
    assert result.errors[-1].code == "damage-limit"
    assert "max_damage" in result.errors[-1].message
    assert result.unchecked[-1][1] is None
    assert source.read_bytes <= 4 * MIB


@pytest.mark.parametrize("pattern", [b"\x00", TERM, b"\x02db\x00"], ids=["zeros", "terminators", "marks"])
def test_max_damage_stops_endless_garbage_after_a_prelude(pattern: bytes) -> None:
    head = prelude(("d", "c")) + header("d", "c") + bson.encode({"_id": 1}) + TERM
    source = Endless(head, pattern, fail_after=64 * MIB)
    result = check_archive(source, max_damage=MIB)
    assert result.errors[-1].code == "damage-limit"
    assert result.unchecked_bytes <= MIB
    assert source.read_bytes <= 4 * MIB


def test_cli_max_damage_through_a_pipe() -> None:
    """80 MiB of zeros on a pipe, --max-damage 1MiB: a clear error naming the limit, exit 1."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongoarchive", "check", "--max-damage", "1MiB", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    fed = [0]

    def feed() -> None:
        block = b"\x00" * MIB
        try:
            for _ in range(80):
                proc.stdin.write(block)  # type: ignore[union-attr]
                fed[0] += 1
        except (BrokenPipeError, ValueError):
            pass  # the checker stopped reading: what is being tested
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()  # type: ignore[union-attr]

    writer = threading.Thread(target=feed)
    writer.start()
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1, err
    writer.join()
    assert fed[0] < 80  # the checker stopped reading long before the end
    text = out.decode()
    assert "[damage-limit]" in text and "--max-damage" in text
    assert "more than 1048576 bytes could not be checked" in text


def test_cli_max_damage_parses_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    from mongoarchive.cli.check import byte_count

    assert byte_count("1MiB") == MIB
    assert byte_count("64m") == 64 * MIB
    assert byte_count("2GiB") == 2 << 30
    assert byte_count("4096") == 4096
    assert byte_count("none") is None
    assert main(["check", "--max-damage", "lots", "-"]) == 2
    assert "--max-damage" in capsys.readouterr().err


# -- framing: copies and moves bounded --------------------------------------------------
def test_missing_nul_hint_sees_a_bounded_window(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = _framing.describe_document

    def spy(data: bytes, offset: int, size: int) -> str:
        seen.append(len(data))
        return real(data, offset, size)

    monkeypatch.setattr(_framing, "describe_document", spy)
    size = 16 * MIB
    fake = size.to_bytes(4, "little") + b"\x01" * (size - 4) + b"\x00" * 100
    data = prelude(("d", "c")) + header("d", "c") + fake
    result = check_archive(io.BytesIO(data))
    assert "missing-nul" in [p.code for p in result.errors]
    assert seen and max(seen) <= HINT_WINDOW + 512


def test_stepping_through_a_large_window_rarely_moves_it() -> None:
    """Small steps with a 16 MiB need must not move the whole window at each step."""
    fr = Framer(open_source(io.BytesIO(b"\x00" * (20 * MIB)), gzip=False))
    assert fr.fill(16 * MIB)
    moves = 0
    base = fr.base
    for _ in range(2000):
        fr.pos += 100
        assert fr.fill(16 * MIB - 100)
        if fr.base != base:
            moves += 1
            base = fr.base
    # 200,000 bytes consumed: at most one move per chunk (1 MiB) consumed, plus one.
    assert moves <= 1


# -- demultiplexer: linear in the namespaces --------------------------------------------
def test_unended_visits_the_aliases_once() -> None:
    entries = [CollectionEntry("d", f"t{i}", "", 0, "timeseries") for i in range(300)]
    demux = Demux(entries)

    class Counting(dict[Any, Any]):
        calls = 0

        def items(self) -> Any:
            Counting.calls += 1
            return super().items()

        def __iter__(self) -> Any:
            Counting.calls += 1
            return super().__iter__()

    demux.timeseries = Counting(demux.timeseries)
    errors = demux.unended(0)
    assert len(errors) == 300
    assert Counting.calls <= 1


# -- cat: output batched by bytes ---------------------------------------------------------
class Recorder(io.RawIOBase):
    """A binary stdout that remembers the size of every write."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = len(memoryview(data).cast("B"))
        self.sizes.append(n)
        self.total += n
        return n


def _big_docs_archive(count: int, pad: int) -> bytes:
    buf = io.BytesIO()
    with mongoarchive.open(buf, "w", server_version="7.0.0") as w:
        ns = w.add_collection("d", "c", metadata="")
        for i in range(count):
            ns.write({"_id": i, "pad": "p" * pad})
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [["--bson"], []], ids=["bson", "json"])
def test_cat_writes_in_bounded_pieces(fmt: list[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.archive"
    path.write_bytes(_big_docs_archive(600, 64 * 1024))
    out = Recorder()

    class Stdout:
        buffer = out

        @staticmethod
        def flush() -> None:
            out.flush()

    monkeypatch.setattr(sys, "stdout", Stdout)
    assert main(["cat", *fmt, str(path)]) == 0
    assert out.total > 600 * 64 * 1024
    # 512 documents at a time made one write of 32 MiB; now no write holds much more
    # than a batch of 1 MiB plus one document.
    assert max(out.sizes) <= 2 * MIB


# -- Extended JSON: a large document is not parsed into objects ---------------------------
needs_bsonjs = pytest.mark.skipif(not _extjson.has_bsonjs(), reason="python-bsonjs not installed")


@needs_bsonjs
@pytest.mark.parametrize("mode", ["relaxed", "canonical"])
def test_large_document_is_not_parsed_whole(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"k": i, "s": f"v\n{i}", "f": i / 3, "e": [], "d": {}} for i in range(25_000)]
    raw = bson.encode({"_id": 1, "items": items})
    parsed: list[int] = []
    real = json.loads

    def spy(text: str, *args: Any, **kw: Any) -> Any:
        parsed.append(len(text))
        return real(text, *args, **kw)

    monkeypatch.setattr(json, "loads", spy)
    line = _extjson.converter(mode, use_bsonjs=True)(raw)  # type: ignore[arg-type]
    assert len(line) > _jsonlines.LARGE
    assert parsed == []  # libbson's text is written as it is
    monkeypatch.setattr(json, "loads", real)
    options = json_util.JSONOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
    slow = _extjson.converter(mode, use_bsonjs=False)(raw)  # type: ignore[arg-type]
    assert bson.encode(json_util.loads(line, json_options=options)) == bson.encode(
        json_util.loads(slow, json_options=options)
    )
