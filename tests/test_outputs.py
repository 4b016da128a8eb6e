"""Outputs: what the writers leave on disk and what the command line does with stdout.

Sinks (mongoarchive/_sink.py): file modes follow the umask, special files are
written through and never replaced, symbolic links are followed, partial
files are recognisable, synced before the rename and cleaned up after a
killed writer.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import mongoarchive
from mongoarchive.errors import ArchiveIOError
from mongoarchive.salvage import salvage

PARTIAL = re.compile(r"\.(?P<base>.+)\.mongoarchive-partial\.(?P<pid>\d+)\.[0-9a-f]{8}")


def write_archive(dst: object, docs: int = 3) -> None:
    """A small valid archive written to ``dst`` by the library writer."""
    with mongoarchive.open(dst, "w", server_version="7.0.0") as out:  # type: ignore[call-overload]
        coll = out.add_collection("db", "coll")
        for i in range(docs):
            coll.write({"_id": i, "s": "x" * 10})


def archive_bytes(docs: int = 3) -> bytes:
    buf = io.BytesIO()
    write_archive(buf, docs)
    return buf.getvalue()


@pytest.fixture
def umask() -> Iterator[None]:
    """Restores the process umask the test changes."""
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield
    finally:
        os.umask(old)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if PARTIAL.fullmatch(p.name))


# -- item: file modes ----------------------------------------------------------
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_archive_mode_follows_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    target = tmp_path / "a.archive"
    write_archive(target)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() == archive_bytes()


def test_replaced_archive_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    os.umask(0o077)
    target = tmp_path / "a.archive"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_archive(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_bytes() == archive_bytes()


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_salvaged_archive_mode_follows_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(archive_bytes()[:-7])  # cut: salvage has work to do
    os.umask(mask)
    out = tmp_path / "out.archive"
    report = salvage(src, out)
    assert not report.clean
    assert stat.S_IMODE(out.stat().st_mode) == mode


# -- item: special files are written through, others refused, links followed ----
def test_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        write_archive(fifo)
        got, _ = reader.communicate(timeout=60)
    finally:
        reader.kill()
        reader.wait()
    assert got == archive_bytes()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def test_character_device_is_written_through(tmp_path: Path) -> None:
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except PermissionError:
        pytest.skip("creating device nodes needs root")
    write_archive(node)
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert os.lstat(node).st_rdev == os.makedev(1, 3)
    assert leftovers(tmp_path) == []


def test_dev_fd_path_is_written_through() -> None:
    r, w = os.pipe()
    try:
        write_archive(f"/dev/fd/{w}")
        os.close(w)
        w = -1
        with os.fdopen(r, "rb") as fh:
            r = -1
            assert fh.read() == archive_bytes()
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(ArchiveIOError, match=r"refusing to replace .*: it is a directory") as info:
        write_archive(folder)
    assert info.value.hint
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert leftovers(tmp_path) == []


def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(ArchiveIOError, match="it is a socket"):
            write_archive(path)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert leftovers(tmp_path) == []


def test_block_device_is_refused(tmp_path: Path) -> None:
    node = tmp_path / "blk"
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    except PermissionError:
        pytest.skip("creating device nodes needs root")
    with pytest.raises(ArchiveIOError, match="it is a block device"):
        write_archive(node)
    assert stat.S_ISBLK(os.lstat(node).st_mode)


def test_symlink_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "real.archive"
    target.write_bytes(b"old")
    link = tmp_path / "link.archive"
    link.symlink_to(target.name)
    write_archive(link)
    assert link.is_symlink()
    assert target.read_bytes() == archive_bytes()
    assert leftovers(tmp_path) == []


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.archive"
    link.symlink_to("sub/new.archive")
    write_archive(link)
    assert link.is_symlink()
    assert (tmp_path / "sub" / "new.archive").read_bytes() == archive_bytes()


def test_symlink_to_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        write_archive(link)
        got, _ = reader.communicate(timeout=60)
    finally:
        reader.kill()
        reader.wait()
    assert got == archive_bytes()
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


# -- item: partial files: named, synced, cleaned after a killed writer -----------
_BLOCKED_WRITER = textwrap.dedent(
    """
    import sys, time
    import mongoarchive
    out = mongoarchive.open(sys.argv[1], "w", server_version="7.0.0")
    coll = out.add_collection("db", "coll")
    out.write_prelude()
    coll.write({"_id": 1})
    print("written", flush=True)
    time.sleep(600)
    """
)


def start_blocked_writer(target: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "written\n"
    return proc


def test_killed_writer_leaves_a_recognisable_partial_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "a.archive"
    proc = start_blocked_writer(target)
    try:
        (stale,) = leftovers(tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    match = PARTIAL.fullmatch(stale)
    assert match is not None
    assert match["base"] == "a.archive" and int(match["pid"]) == proc.pid
    assert not target.exists()
    write_archive(target)
    assert leftovers(tmp_path) == []
    assert target.read_bytes() == archive_bytes()


def test_partial_of_a_live_writer_and_foreign_files_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.archive"
    proc = start_blocked_writer(target)
    try:
        (live,) = leftovers(tmp_path)
        # Close to our pattern but not ours: another target, another tool's name.
        foreign = [".b.archive.mongoarchive-partial.999999.0123abcd", ".a.archive.partial", ".a.archive.x"]
        for name in foreign:
            (tmp_path / name).write_bytes(b"keep")
        write_archive(target)
        assert (tmp_path / live).exists()
        assert all((tmp_path / name).exists() for name in foreign)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_file_and_directory_are_synced_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        events.append("fsync-dir" if stat.S_ISDIR(mode) else "fsync-file" if stat.S_ISREG(mode) else "?")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_archive(tmp_path / "a.archive")
    assert events == ["fsync-file", "rename", "fsync-dir"]


# -- item: the installed package is typed, in every install mode -----------------
def test_user_script_type_checks_against_the_installed_package(tmp_path: Path) -> None:
    """mypy --strict finds mongoarchive and its py.typed from outside the repository.

    The test environment is an editable install (``pip install -e .``): an
    import-hook editable install is invisible to mypy, a path entry is not.
    """
    script = tmp_path / "user.py"
    script.write_text(
        "import mongoarchive\n\n\n"
        "def first_collection(path: str) -> str:\n"
        "    with mongoarchive.open(path) as archive:\n"
        "        return archive.collections[0].collection\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "py.typed" not in done.stdout and "Cannot find implementation" not in done.stdout, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
