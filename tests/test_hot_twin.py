"""The compiled per-document loops (mongoarchive/_hot_c.c) equal the pure ones (mongoarchive/_hot.py).

Function by function on generated, mutated and hostile buffers, on every vector
and on ``mongoarchive.testing.damaged_archives()``; then whole archives (read,
check, salvage) with the pure loops swapped in, and once more through
``MONGOARCHIVE_PURE=1`` in a subprocess.  The C twin must also never read
outside its buffer: ``test_no_read_past_the_buffer`` puts the data just before
an inaccessible page.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
import pytest
from guard_page import run_beside_guard_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS

import mongoarchive
from mongoarchive import _framing, _hot, _hotpath
from mongoarchive.checker import check_archive
from mongoarchive.errors import MongoArchiveError
from mongoarchive.salvage import salvage
from mongoarchive.testing import Damage, damaged_archives, read_all

try:
    from mongoarchive import _hot_c
except ImportError:
    _hot_c = None  # type: ignore[assignment]

needs_c = pytest.mark.skipif(_hot_c is None, reason="the C extension mongoarchive._hot_c is not built")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ("scan_run", "scan_last", "split_run")
VECTORS = sorted(
    [*SPEC_VECTORS.rglob("*.archive"), *SHARED_VECTORS.glob("*.archive")]
    if SHARED_VECTORS.is_dir()
    else SPEC_VECTORS.rglob("*.archive")
)


def _compiler() -> str | None:
    """The C compiler a build would use, if it is on PATH."""
    cc = os.environ.get("CC") or str(sysconfig.get_config_var("CC") or "cc")
    return shutil.which(cc.split()[0])


def test_has_c_where_a_compiler_exists() -> None:
    """CI's normal run must use the compiled loops: a silently failed build fails here."""
    if os.environ.get("MONGOARCHIVE_PURE", "") not in ("", "0"):
        pytest.skip("MONGOARCHIVE_PURE is set: the pure loops run on purpose")
    if _compiler() is None:
        pytest.skip("no C compiler on this machine: the extension cannot have been built")
    assert _hot_c is not None, "a compiler exists but mongoarchive._hot_c was not built (pip install -e .)"
    assert mongoarchive.has_c() is True
    assert _hotpath.scan_run is _hot_c.scan_run
    for name in ("_extjson_c", "_arrow_c", "_arrow_build_c"):  # the other extensions of setup.py
        built = importlib.util.find_spec(f"mongoarchive.{name}") is not None
        assert built, f"a compiler exists but mongoarchive.{name} was not built"


@pytest.mark.parametrize("value, pure", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_pure_flag_in_a_fresh_interpreter(value: str, pure: bool) -> None:
    env = {**os.environ, "MONGOARCHIVE_PURE": value}
    code = "import mongoarchive, mongoarchive._hotpath as h; print(mongoarchive.has_c(), h.IMPLEMENTATION)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    expected = (False, "pure") if pure or _hot_c is None else (True, "c")
    assert out.stdout.split() == [str(expected[0]), expected[1]]


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except (ValueError, TypeError, OverflowError, BufferError) as exc:
        return "error", (type(exc).__name__, str(exc))


def assert_same(buf: Any, pos: Any, limit: Any) -> None:
    assert _hot_c is not None
    for name in NAMES:
        pure = outcome(getattr(_hot, name), buf, pos, limit)
        comp = outcome(getattr(_hot_c, name), buf, pos, limit)
        assert pure == comp, (name, pos, limit)


def assert_same_everywhere(data: bytes) -> None:
    """Both at every start position with the whole buffer, and on the runs scan_run finds."""
    assert _hot_c is not None
    for buf in (data, bytearray(data), memoryview(data)):
        for pos in range(len(data) + 1):
            assert_same(buf, pos, len(data))
            end, _ = _hot.scan_run(buf, pos, len(data))
            assert _hot_c.split_run(buf, pos, end) == _hot.split_run(buf, pos, end)


def doc(size: int) -> bytes:
    """A valid BSON document of exactly ``size`` bytes (>= 13)."""
    out = bson.encode({"s": "x" * (size - 13)})
    assert len(out) == size
    return out


documents = st.lists(st.integers(13, 300).map(doc), max_size=12).map(b"".join)
# Lengths at and around every bound of §2, and a terminator.
edge_lengths = st.sampled_from([-1, 0, 3, 4, 5, 6, 16777216, 16777217, 2**31 - 1, -(2**31)])


@st.composite
def hostile_buffers(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(documents))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["overwrite", "length", "cut", "insert"]))
        at = draw(st.integers(0, len(data)))
        if kind == "overwrite" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "length":
            data[at:at] = struct.pack("<i", draw(edge_lengths))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=8))
    return bytes(data)


positions = st.one_of(st.integers(-5, 400), st.sampled_from([-(2**70), -(2**63), 2**63 - 1, 2**63, 2**70]))


@needs_c
@SETTINGS
@given(hostile_buffers(), positions, positions)
def test_same_on_hostile_buffers(data: bytes, pos: int, limit: int) -> None:
    for buf in (data, bytearray(data), memoryview(data)):
        assert_same(buf, pos, limit)


@needs_c
@SETTINGS
@given(hostile_buffers())
def test_same_at_every_position(data: bytes) -> None:
    assert_same_everywhere(data)


@needs_c
@SETTINGS
@given(st.binary(max_size=64), positions, positions)
def test_same_on_random_bytes(data: bytes, pos: int, limit: int) -> None:
    assert_same(data, pos, limit)


@needs_c
@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.name)
def test_same_on_vectors(path: Path) -> None:
    assert_same_everywhere(path.read_bytes())


@needs_c
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_archives())
def test_same_on_damaged_archives(damage: Damage) -> None:
    assert_same_everywhere(damage.data)


@needs_c
def test_arguments_are_checked_alike() -> None:
    data = doc(20) * 3
    for args in [(data, 0), (data, 0, 1, 2), (data, "0", 5), (data, 1.0, 5), (data, 0, None), (42, 0, 4)]:
        for name in NAMES:
            pure, comp = outcome(getattr(_hot, name), *args), outcome(getattr(_hot_c, name), *args)
            assert pure[0] == comp[0] == "error", (name, args)
    assert _hot_c.scan_run(data, True, 60) == _hot.scan_run(data, True, 60)  # an int subclass


@needs_c
def test_resizing_the_buffer_while_borrowed_raises() -> None:
    """An argument's __index__ that resizes the bytearray meets the borrowed buffer (BufferError)."""
    assert _hot_c is not None
    buf = bytearray(doc(20) * 4)

    class Shrinks:
        def __index__(self) -> int:
            del buf[4:]
            return 0

    for name in NAMES:
        with pytest.raises(BufferError):
            getattr(_hot_c, name)(buf, Shrinks(), 80)
        assert len(buf) == 80
    # Every call gave the buffer back: it can be resized again.
    buf.extend(b"\x00")
    del buf[80:]
    assert _hot_c.scan_run(buf, 0, 80) == (80, 4)


@needs_c
def test_non_contiguous_buffers_are_refused() -> None:
    assert _hot_c is not None
    view = memoryview(doc(20) * 4)[::2]
    for name in NAMES:
        with pytest.raises(BufferError):
            getattr(_hot_c, name)(view, 0, 40)


@needs_c
def test_no_read_past_the_buffer() -> None:
    """The buffer ends at an inaccessible page: a single byte read beyond it kills the process."""
    run_beside_guard_page(
        """
        from mongoarchive import _hot_c
        patterns = [b"", b"\\x05", b"\\x05\\x00\\x00", b"\\x10\\x00\\x00\\x00" + b"\\x00" * 5,
                    struct.pack("<i", 16777216), struct.pack("<i", 2**31 - 1), b"\\xff" * 7,
                    b"\\x05\\x00\\x00\\x00\\x00" * 3 + b"\\x06\\x00\\x00\\x00\\x00"]
        for data in patterns:
            n = len(data)
            view = at_guard(data)
            for pos in range(n + 1):
                for limit in (n, n + 1, 2**62):
                    _hot_c.scan_run(view, pos, limit)
                    _hot_c.scan_last(view, pos, limit)
                    try:
                        _hot_c.split_run(view, pos, limit)
                    except ValueError:
                        pass
        """
    )


# -- whole archives -------------------------------------------------------------


def whole(data: bytes) -> dict[str, Any]:
    """What reading, checking and salvaging ``data`` gives: events, errors, offsets, output."""
    result: dict[str, Any] = {}
    try:
        result["read"] = repr(read_all(data))
    except MongoArchiveError as exc:
        result["read"] = (type(exc).__name__, exc.code, exc.offset, exc.namespace, str(exc))
    result["check"] = check_archive(io.BytesIO(data)).to_dict()
    out = io.BytesIO()
    try:
        report = salvage(io.BytesIO(data), out, gzip=False)
        result["salvage"] = (report.to_dict(), out.getvalue())
    except MongoArchiveError as exc:
        result["salvage"] = (type(exc).__name__, exc.code, exc.offset, str(exc))
    return result


@needs_c
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_archives())
def test_whole_archives_agree(damage: Damage) -> None:
    if _hotpath.IMPLEMENTATION != "c":
        pytest.skip("MONGOARCHIVE_PURE is set: the pure loops already run everywhere")
    compiled = whole(damage.data)
    with _hotpath.pure_loops() as swapped:
        assert swapped >= 3  # at least _framing's two loops and salvage's scan
        pure = whole(damage.data)
    assert _framing.scan_run is _hot_c.scan_run  # given back

    assert pure == compiled


_CHILD = """
import io, json, sys
import mongoarchive
from mongoarchive.checker import check_archive
from mongoarchive.salvage import salvage
from mongoarchive.testing import read_all
from mongoarchive.errors import MongoArchiveError
out = {"has_c": mongoarchive.has_c(), "files": {}}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    r = {}
    try:
        r["read"] = repr(read_all(data))
    except MongoArchiveError as exc:
        r["read"] = [type(exc).__name__, exc.code, exc.offset, exc.namespace, str(exc)]
    r["check"] = check_archive(io.BytesIO(data)).to_dict()
    o = io.BytesIO()
    try:
        r["salvage"] = [salvage(io.BytesIO(data), o, gzip=False).to_dict(), o.getvalue().hex()]
    except MongoArchiveError as exc:
        r["salvage"] = [type(exc).__name__, exc.code, exc.offset, str(exc)]
    out["files"][path] = r
print(json.dumps(out, default=repr))
"""


def test_vectors_agree_through_the_environment() -> None:
    """Every vector read, checked and salvaged under MONGOARCHIVE_PURE=1 and without it."""
    paths = [str(p) for p in VECTORS]
    runs = {}
    for value in ("1", "0"):
        env = {**os.environ, "MONGOARCHIVE_PURE": value}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, *paths], env=env, capture_output=True, text=True, cwd=REPO_ROOT
        )
        assert done.returncode == 0, done.stderr[-2000:]
        runs[value] = json.loads(done.stdout)
    assert runs["1"]["has_c"] is False
    assert runs["0"]["has_c"] is (_hot_c is not None)
    assert runs["1"]["files"] == runs["0"]["files"]
    assert len(runs["1"]["files"]) == len(paths) > 10
