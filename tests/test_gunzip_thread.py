"""The inflating thread of gzip input (mongoarchive/_io.py, spec/archive.md §8).

Errors come out in stream order, exactly as from one thread; the thread holds
a bounded number of chunks ahead; it never outlives its source (close, error,
an abandoned reader, Ctrl-C, a reader of stdout that goes away).
"""

from __future__ import annotations

import gc
import gzip
import io
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from paths import REPO_ROOT, SPEC_VECTORS

import mongoarchive
import mongoarchive._io
from mongoarchive import ArchiveIOError, Document, TruncatedError
from mongoarchive._io import _Gunzip, _Inflater, open_source

SAMPLE = (SPEC_VECTORS / "valid" / "sample.archive").read_bytes()
THREAD_NAME = "mongoarchive-gunzip"


def inflating_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def wait_until(condition: Any, what: str) -> None:
    """Poll ``condition`` (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.005)


def big_archive(tmp_path: Path, docs: int = 30000) -> bytes:
    """A plain archive of a few MiB: many more inflated chunks than the thread may hold."""
    path = tmp_path / "big.archive"
    with mongoarchive.open(path, "w", server_version="7.0.0") as w:
        c = w.add_collection("db", "c")
        for i in range(docs):
            c.write({"_id": i, "pad": os.urandom(60).hex()})
        c.close()
    return path.read_bytes()


@pytest.fixture(autouse=True)
def no_thread_left() -> Any:
    assert inflating_threads() == []
    yield
    gc.collect()
    wait_until(lambda: inflating_threads() == [], "every inflating thread to end")


def test_a_whole_read_ends_the_thread(tmp_path: Path) -> None:
    packed = gzip.compress(big_archive(tmp_path), 1, mtime=0)
    seen = []
    with mongoarchive.open(io.BytesIO(packed)) as archive:
        for _event in archive.events():
            if not seen:
                seen = inflating_threads()  # the inflating runs beside the reader
    assert len(seen) == 1 and not seen[0].is_alive()
    assert inflating_threads() == []


def test_close_after_a_few_bytes_stops_a_thread_with_work_left(tmp_path: Path) -> None:
    packed = gzip.compress(big_archive(tmp_path), 1, mtime=0)
    source = open_source(io.BytesIO(packed))
    inner = source._inner
    assert isinstance(inner, _Gunzip)
    buf = memoryview(bytearray(100))
    assert source.readinto(buf) == 100
    # Blocked on the full queue: there is more to inflate than it may hold.
    wait_until(lambda: len(inner._inflater._chunks) == _Gunzip.AHEAD, "the queue to fill")
    source.close()
    assert inflating_threads() == []
    source.close()  # twice is harmless


def test_a_read_after_close_is_an_error_not_a_wait(tmp_path: Path) -> None:
    packed = gzip.compress(big_archive(tmp_path), 1, mtime=0)
    source = open_source(io.BytesIO(packed))
    assert source.readinto(memoryview(bytearray(10))) == 10
    source.close()
    with pytest.raises(ArchiveIOError) as info:
        source.readinto(memoryview(bytearray(10)))
    assert "was closed" in info.value.message
    assert inflating_threads() == []


def test_the_thread_stays_a_bounded_number_of_chunks_ahead() -> None:
    """A gzip bomb (256 MiB of zeros) opened and never read: the thread inflates a few MiB and waits."""
    packed = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = packed.compress(b"\0" * (256 << 20)) + packed.flush()
    source = open_source(io.BytesIO(bomb))
    inner = source._inner
    assert isinstance(inner, _Gunzip)
    assert source.readinto(memoryview(bytearray(10))) == 10
    inflater = inner._inflater
    wait_until(lambda: len(inflater._chunks) == _Gunzip.AHEAD, "the queue to fill")
    time.sleep(0.2)  # room to run ahead, were the queue unbounded
    held = sum(len(c) for c in inflater._chunks if isinstance(c, bytes))
    assert len(inflater._chunks) == _Gunzip.AHEAD
    assert held <= _Gunzip.AHEAD * _Inflater.OUT
    source.close()


def test_an_abandoned_reader_lets_its_thread_go(tmp_path: Path) -> None:
    packed = gzip.compress(big_archive(tmp_path), 1, mtime=0)
    archive = mongoarchive.open(io.BytesIO(packed))
    next(iter(archive.events()))
    assert inflating_threads() != []
    del archive
    # no_thread_left collects the reader and waits for the thread to end


class OneThread:
    """The inflating loop run in the reader's thread, as before the thread: the reference."""

    def __init__(self, raw: Any) -> None:
        self._inflater = _Inflater(raw)
        self._out = memoryview(b"")
        self._failed: Exception | None = None

    def readinto(self, buf: memoryview) -> int:
        while not self._out:
            if self._failed is not None:
                raise self._failed
            try:
                chunk = self._inflater._inflate_more()
            except Exception as exc:
                self._failed = exc
                raise
            if chunk is None:
                return 0
            self._out = memoryview(chunk)
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        return None


def outcome(packed: bytes) -> tuple[Any, ...]:
    try:
        with mongoarchive.open(io.BytesIO(packed)) as archive:
            archive.validate()
    except mongoarchive.MongoArchiveError as exc:
        return (type(exc), exc.code, exc.offset, exc.namespace, exc.message, exc.hint)
    return ("ok",)


def damaged_copies() -> list[tuple[str, bytes]]:
    packed = gzip.compress(SAMPLE, mtime=0)
    flipped_crc = bytearray(packed)
    flipped_crc[-6] ^= 0xFF  # the trailer's CRC-32
    flipped_data = bytearray(packed)
    flipped_data[len(packed) // 2] ^= 0x55
    return [
        ("cut", packed[: len(packed) // 2]),
        ("cut in the trailer", packed[:-3]),
        ("trailer crc", bytes(flipped_crc)),
        ("deflate data", bytes(flipped_data)),
        ("trailing text", packed + b"log line\n"),
        ("second member cut", packed + gzip.compress(b"x" * 5000, mtime=0)[:30]),
    ]


@pytest.mark.parametrize(("name", "packed"), damaged_copies(), ids=[n for n, _ in damaged_copies()])
def test_errors_are_those_of_a_one_threaded_read(
    name: str, packed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Truncation, damage, trailing bytes: same class, code, offset, namespace, message and hint."""
    threaded = outcome(packed)
    with monkeypatch.context() as patch:
        patch.setattr(mongoarchive._io, "_Gunzip", OneThread)
        reference = outcome(packed)
    assert threaded == reference
    assert threaded != ("ok",)


def test_offsets_count_every_inflated_byte() -> None:
    packed = gzip.compress(SAMPLE, mtime=0)
    with pytest.raises(TruncatedError) as cut, mongoarchive.open(io.BytesIO(packed[:-3])) as a:
        a.validate()
    assert cut.value.offset == len(SAMPLE)
    with (
        pytest.raises(mongoarchive.TrailingDataError) as tail,
        mongoarchive.open(io.BytesIO(packed + b"junk")) as a,
    ):
        a.validate()
    assert tail.value.offset == len(SAMPLE)
    assert f"(at byte {len(packed)} of the compressed file)" in tail.value.message


class FailsAfter(io.RawIOBase):
    """A file whose reads fail with EIO once ``good`` bytes have been served."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data = data
        self.good = good
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.pos >= self.good:
            raise OSError(5, "Input/output error")
        n = min(len(buf), self.good - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def test_a_read_error_in_the_thread_is_an_io_error_after_the_data_before_it(tmp_path: Path) -> None:
    packed = gzip.compress(big_archive(tmp_path, 8000), 1, mtime=0)
    documents = 0
    with pytest.raises(ArchiveIOError) as info, mongoarchive.open(FailsAfter(packed, len(packed) // 2)) as a:
        for event in a.events():
            documents += isinstance(event, Document)
    assert "cannot read" in info.value.message and "Input/output error" in info.value.message
    assert documents > 0


def test_an_error_is_raised_again_by_every_later_read() -> None:
    packed = gzip.compress(SAMPLE, mtime=0)[:-20]
    source = open_source(io.BytesIO(packed))
    buf = memoryview(bytearray(1 << 20))
    with pytest.raises(Exception) as first:
        while source.readinto(buf):
            pass
    with pytest.raises(type(first.value)):
        source.readinto(buf)
    source.close()


def test_ctrl_c_while_the_input_pipe_is_silent_exits_130() -> None:
    """The thread waits on a pipe that gets no more bytes; SIGINT still ends the process."""
    half = gzip.compress(SAMPLE, mtime=0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongoarchive", "check", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert proc.stdin is not None
    proc.stdin.write(half[: len(half) // 2])
    proc.stdin.flush()
    # Its inflating thread exists once the reading has started (a bound on waiting, not a timing).
    wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) >= 2, "the reading to start")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert err.decode().strip().splitlines()[-1] == "mongoarchive: interrupted"
    assert b"Traceback" not in err


def test_cat_of_a_gzip_archive_into_head_exits_quietly(tmp_path: Path) -> None:
    path = tmp_path / "big.archive.gz"
    path.write_bytes(gzip.compress(big_archive(tmp_path), 1, mtime=0))
    for verb in ("cat", "inspect"):
        proc = subprocess.run(
            ["sh", "-c", f"{sys.executable} -m mongoarchive {verb} {path} | head -n 1"],
            capture_output=True,
            cwd=REPO_ROOT,
            timeout=120,
            check=False,
        )
        assert (proc.returncode, proc.stderr) == (0, b""), verb
        assert proc.stdout.count(b"\n") == 1
