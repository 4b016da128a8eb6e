"""--gzip-level and ``gzip_level=``: every verb and API that writes gzip takes isal's levels 0 to 3."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import REPO_ROOT

import mongoarchive
from mongoarchive import UsageError
from mongoarchive._sink import DEFAULT_GZIP_LEVEL, GZIP_LEVELS, AtomicSink, check_gzip_level
from mongoarchive.cli import _common


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compressible archive of two databases (so that the levels give different bytes)."""
    path = tmp_path_factory.mktemp("level") / "in.archive"
    with mongoarchive.open(path, "w", server_version="7.0.0") as w:
        writers = [w.add_collection(db, "c") for db in ("a", "b")]
        for c in writers:
            for i in range(3000):
                c.write({"_id": i, "name": f"user-{i % 97}", "tags": ["x", "y", str(i % 13)]})
            c.close()
    return path


def cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mongoarchive", *argv],
        capture_output=True,
        text=True,
        cwd=cwd or REPO_ROOT,
        timeout=300,
        check=False,
    )


def inflated(path: Path) -> bytes:
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b", path
    return gzip.decompress(data)


def test_the_command_line_keeps_the_library_levels() -> None:
    assert tuple(GZIP_LEVELS) == _common.GZIP_LEVELS
    assert DEFAULT_GZIP_LEVEL == _common.DEFAULT_GZIP_LEVEL


@pytest.mark.parametrize("bad", [-1, 4, 9, True, 1.0, "1", None])
def test_a_level_isal_does_not_have_is_a_usage_error(bad: Any) -> None:
    with pytest.raises(UsageError) as info:
        check_gzip_level(bad)
    assert "is not one of 0, 1, 2, 3" in info.value.message and info.value.hint


def test_a_bad_level_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.archive.gz"
    with pytest.raises(UsageError):
        AtomicSink(out, gzip=True, level=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda src, dst: mongoarchive.copy(src, dst / "o", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.rewrite(src, dst / "o", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.salvage(src, dst / "o", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.merge([src], dst / "o", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.split(src, dst / "d", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.unpack(src, dst / "d", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.unpack(src, dst / "d", gzip_level=-1),  # even without gzip
        lambda src, dst: mongoarchive.pack(dst, dst / "o", server_version="7.0.0", gzip=True, gzip_level=4),
        lambda src, dst: mongoarchive.open(dst / "o", "w:gz", server_version="7.0.0", gzip_level=4),
    ],
    ids=["copy", "rewrite", "salvage", "merge", "split", "unpack", "unpack-plain", "pack", "open"],
)
def test_every_api_refuses_a_bad_level_before_writing(
    call: Callable[[Path, Path], Any], plain: Path, tmp_path: Path
) -> None:
    with pytest.raises(UsageError) as info:
        call(plain, tmp_path)
    assert "gzip level" in info.value.message
    assert not any(p.name.startswith(("o", "d", ".o")) for p in tmp_path.iterdir())


def test_dump_options_refuse_a_bad_level_before_connecting() -> None:
    # No server listens on port 1: a UsageError, not a connection error, shows the check came first.
    with pytest.raises(UsageError) as info:
        mongoarchive.dump(io.BytesIO(), port=1, gzip=True, gzip_level=7)  # type: ignore[attr-defined]
    assert "gzip level 7" in info.value.message


def test_levels_change_the_bytes_not_the_archive(plain: Path, tmp_path: Path) -> None:
    sizes = {}
    for level in GZIP_LEVELS:
        out = tmp_path / f"l{level}.archive.gz"
        mongoarchive.copy(plain, out, gzip=True, gzip_level=level)
        assert inflated(out) == plain.read_bytes()
        again = tmp_path / f"again{level}.archive.gz"
        mongoarchive.copy(plain, again, gzip=True, gzip_level=level)
        assert again.read_bytes() == out.read_bytes()  # deterministic: mtime 0
        sizes[level] = out.stat().st_size
    assert sizes[0] > sizes[1] >= sizes[3]
    default = tmp_path / "default.archive.gz"
    mongoarchive.copy(plain, default, gzip=True)
    assert default.read_bytes() == (tmp_path / f"l{DEFAULT_GZIP_LEVEL}.archive.gz").read_bytes()


#: Each verb that writes gzip: its arguments (IN, OUT, DIR filled in) and the files it writes.
VERBS: dict[str, tuple[list[str], Callable[[Path], list[Path]]]] = {
    "filter": (["filter", "{in}", "{out}"], lambda t: [t / "out.archive"]),
    "salvage": (["salvage", "{in}", "{out}"], lambda t: [t / "out.archive"]),
    "merge": (["merge", "{in}", "{out}"], lambda t: [t / "out.archive"]),
    "split": (["split", "{in}", "{dir}"], lambda t: sorted((t / "dir").glob("*.archive"))),
    "unpack": (["unpack", "{in}", "{dir}"], lambda t: sorted((t / "dir").rglob("*.bson.gz"))),
}


def _argv(template: list[str], plain: Path, tmp: Path) -> list[str]:
    values = {"{in}": str(plain), "{out}": str(tmp / "out.archive"), "{dir}": str(tmp / "dir")}
    return [values.get(a, a) for a in template]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_writes_gzip_at_the_level_given(verb: str, plain: Path, tmp_path: Path) -> None:
    template, outputs = VERBS[verb]
    got: dict[int, list[bytes]] = {}
    for level in (0, 3):
        tmp = tmp_path / str(level)
        tmp.mkdir()
        proc = cli(*_argv(template, plain, tmp), "--gzip-level", str(level))
        assert proc.returncode == 0, proc.stderr
        files = outputs(tmp)
        assert files, proc.stdout
        got[level] = [f.read_bytes() for f in files]
        for f in files:
            inflated(f)  # every output is gzip, though the input is plain: the level asks for it
    assert [gzip.decompress(b) for b in got[0]] == [gzip.decompress(b) for b in got[3]]
    assert sum(map(len, got[0])) > sum(map(len, got[3]))


def test_pack_writes_gzip_at_the_level_given(plain: Path, tmp_path: Path) -> None:
    assert cli("unpack", str(plain), str(tmp_path / "dir")).returncode == 0
    sizes = []
    for level in (0, 3):
        out = tmp_path / f"p{level}.archive.gz"
        proc = cli(
            "pack", str(tmp_path / "dir"), str(out), "--server-version", "7.0.0", "--gzip-level", str(level)
        )
        assert proc.returncode == 0, proc.stderr
        sizes.append(len(out.read_bytes()))
        assert mongoarchive.is_archive(out)
    assert sizes[0] > sizes[1]


@pytest.mark.parametrize("bad", ["4", "-1", "x", "1.5", ""])
@pytest.mark.parametrize("verb", ["filter", "salvage", "merge", "split", "unpack", "dump", "pack"])
def test_a_bad_level_on_the_command_line_is_one_clear_line(
    verb: str, bad: str, plain: Path, tmp_path: Path
) -> None:
    argv = {
        "filter": ["filter", str(plain), str(tmp_path / "o")],
        "salvage": ["salvage", str(plain), str(tmp_path / "o")],
        "merge": ["merge", str(plain), str(tmp_path / "o")],
        "split": ["split", str(plain), str(tmp_path / "d")],
        "unpack": ["unpack", str(plain), str(tmp_path / "d")],
        "dump": ["dump", "--port", "1", "--archive", str(tmp_path / "o")],
        "pack": ["pack", str(tmp_path), str(tmp_path / "o")],
    }[verb]
    proc = cli(*argv, f"--gzip-level={bad}")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        last.startswith(f"mongoarchive {verb}: error: argument --gzip-level: ") and "0 (fastest) to 3" in last
    )
    assert "Traceback" not in proc.stderr
    assert not any(p.name in ("o", "d") for p in tmp_path.iterdir())


@pytest.mark.parametrize("verb", ["filter", "salvage", "merge", "split"])
def test_a_level_with_no_gzip_is_refused(verb: str, plain: Path, tmp_path: Path) -> None:
    template, _ = VERBS[verb]
    proc = cli(*_argv(template, plain, tmp_path), "--no-gzip", "--gzip-level", "2")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "mongoarchive: error: --gzip-level and --no-gzip contradict each other; "
        "hint: drop one: a level is for gzip output"
    )
    assert not (tmp_path / "out.archive").exists() and not (tmp_path / "dir").exists()


def test_the_default_is_level_one_without_the_flag(plain: Path, tmp_path: Path) -> None:
    proc = cli("filter", str(plain), str(tmp_path / "o.gz"), "--gzip")
    assert proc.returncode == 0, proc.stderr
    mongoarchive.copy(plain, tmp_path / "lib.gz", gzip=True, gzip_level=1)
    assert (tmp_path / "o.gz").read_bytes() == (tmp_path / "lib.gz").read_bytes()
    assert os.path.getsize(tmp_path / "o.gz") > 0
