"""Outputs: what the writers leave on disk and what the command line does with stdout.

Sinks (mongoarchive/_sink.py): file modes follow the umask, special files are
written through and never replaced, symbolic links are followed, partial
files are recognisable, synced before the rename and cleaned up after a
killed writer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import re
import select
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
from mongoarchive.cli import main
from mongoarchive.errors import ArchiveIOError
from mongoarchive.salvage import salvage

pytest_plugins = ["conftest_dump"]

from dumpserver import SecantusServer, free_port  # noqa: E402

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


@contextlib.contextmanager
def fifo_reader(fifo: Path) -> Iterator[Path]:
    """A ``cat FIFO > FILE`` running for the block; yields FILE, complete once the block ends.

    The copy goes to a file, not to a pipe of ours: a pipe nobody reads would
    fill up and stop the writer.
    """
    got = fifo.with_name(fifo.name + ".got")
    with open(got, "wb") as sink:
        reader = subprocess.Popen(["cat", str(fifo)], stdout=sink)
        try:
            yield got
            reader.wait(timeout=60)
        finally:
            reader.kill()
            reader.wait()


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
    with fifo_reader(fifo) as got:
        write_archive(fifo)
    assert got.read_bytes() == archive_bytes()
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
    with fifo_reader(fifo) as got:
        write_archive(link)
    assert got.read_bytes() == archive_bytes()
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


# -- the command line ----------------------------------------------------------
def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """``python -m mongoarchive ARGS`` in a child process (stdout and stderr captured unless given)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "mongoarchive", *args], check=False, timeout=300, **kwargs
    )


def shell(command: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``command`` in bash; returns (exit status of its first command, stdout, stderr)."""
    done = subprocess.run(
        ["bash", "-c", f'{command}; echo "${{PIPESTATUS[0]}}" > status'],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return int((cwd / "status").read_text()), done.stdout, done.stderr


def one_error_line(stderr: bytes | str) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("mongoarchive: error: "), text
    assert "Traceback" not in text and "internal error" not in text
    return lines[0]


NAMESPACES = 1500  # text output of many kilobytes: more than a pipe holds


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid archive of NAMESPACES namespaces (-v prints a line for each)."""
    path = tmp_path_factory.mktemp("many") / "many.archive"
    with mongoarchive.open(path, "w", server_version="7.0.0") as out:
        writers = [out.add_collection("db", f"c{i:04d}") for i in range(NAMESPACES)]
        for i, w in enumerate(writers):
            w.write({"_id": i})
    return path


@pytest.fixture(scope="module")
def damaged(many: Path) -> Path:
    """``many`` cut short: its last namespaces are truncated (check and salvage exit 1)."""
    path = many.with_name("damaged.archive")
    path.write_bytes(many.read_bytes()[:-40])
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.archive"
    write_archive(path)
    return path


# -- item: a closed stdout stops the printing, never the verdict or the report ---
@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_check_verdict_survives_a_closed_stdout(damaged: Path, tmp_path: Path, reader: str) -> None:
    status, out, err = shell(f"{sys.executable} -m mongoarchive check -v {damaged} | {reader}", tmp_path)
    assert status == 1, err
    assert err == ""
    assert out.count("\n") == (1 if reader == "head -1" else 0)


def test_check_json_verdict_survives_a_closed_stdout(damaged: Path, tmp_path: Path) -> None:
    files = " ".join([str(damaged)] * 40)  # a JSON report of many kilobytes
    status, out, err = shell(f"{sys.executable} -m mongoarchive check --format json {files} | true", tmp_path)
    assert (status, out, err) == (1, "", "")


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_salvage_writes_its_report_file_when_stdout_closes(
    damaged: Path, tmp_path: Path, reader: str
) -> None:
    out_path, report = tmp_path / "out.archive", tmp_path / "report.json"
    status, _, err = shell(
        f"{sys.executable} -m mongoarchive salvage {damaged} {out_path} --report {report} | {reader}",
        tmp_path,
    )
    assert status == 1, err
    assert err == ""
    assert json.loads(report.read_text())["totals"]["namespaces"] == NAMESPACES
    assert cli("check", str(out_path)).returncode == 0


def test_inspect_and_cat_exit_quietly_when_stdout_closes(many: Path, tmp_path: Path) -> None:
    for verb in ("inspect", "cat"):
        status, out, err = shell(f"{sys.executable} -m mongoarchive {verb} {many} | head -1", tmp_path)
        assert (status, err) == (0, ""), verb
        assert out.count("\n") == 1


def test_cat_of_a_damaged_archive_still_fails_when_stdout_closes(damaged: Path, tmp_path: Path) -> None:
    status, _, err = shell(f"{sys.executable} -m mongoarchive cat {damaged} | head -1", tmp_path)
    assert status == 1
    assert "truncated" in one_error_line(err) or "ends" in err


def test_an_archive_on_a_closed_stdout_is_an_output_error(damaged: Path, tmp_path: Path) -> None:
    """For archive bytes a closed pipe is not quiet: the reader holds a cut archive."""
    status, _, err = shell(f"{sys.executable} -m mongoarchive salvage {damaged} - | head -c 100", tmp_path)
    assert status == 2
    assert "cannot write to stdout" in one_error_line(err)


# -- item: output errors are ArchiveIOError, exit 2, and leave nothing behind -----
NO_SPACE = "mongoarchive: error: cannot write to stdout: No space left on device; hint: "


@pytest.mark.parametrize(
    "args",
    [
        ["inspect"],
        ["inspect", "--format", "json"],
        ["check"],
        ["check", "--format", "json"],
        ["cat"],
        ["cat", "--bson"],
    ],
)
def test_a_full_stdout_is_an_output_error(small: Path, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = cli(*args, str(small), stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(NO_SPACE)


def test_a_full_stdout_fails_a_damaged_check_with_exit_2(damaged: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = cli("check", str(damaged), stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(NO_SPACE)


def test_salvage_with_a_full_stdout_writes_nothing(damaged: Path, tmp_path: Path) -> None:
    out_path, report = tmp_path / "out.archive", tmp_path / "r.json"
    with open("/dev/full", "wb") as full:
        done = cli(
            "salvage",
            str(damaged),
            str(out_path),
            "--report",
            str(report),
            stdout=full,
            stderr=subprocess.PIPE,
        )
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(NO_SPACE)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_salvage_archive_to_a_full_stdout(damaged: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = cli("salvage", str(damaged), "-", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(NO_SPACE)


@pytest.mark.parametrize("where", ["missing/r.json", "folder"])
def test_salvage_with_an_unwritable_report_writes_nothing(damaged: Path, tmp_path: Path, where: str) -> None:
    (tmp_path / "folder").mkdir()
    out_path = tmp_path / "out.archive"
    done = cli("salvage", str(damaged), str(out_path), "--report", str(tmp_path / where))
    assert done.returncode == 2
    assert str(tmp_path / where) in one_error_line(done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_salvage_refuses_an_unwritable_output_before_reading(tmp_path: Path) -> None:
    done = cli("salvage", str(tmp_path / "no-such-input"), str(tmp_path / "missing" / "out.archive"))
    assert done.returncode == 2
    assert "missing" in one_error_line(done.stderr)


# -- item: no binary data on a terminal ------------------------------------------
def on_terminal(*args: str) -> tuple[int, bytes, str]:
    """Run the CLI with stdout on a pseudo-terminal: (status, what reached the terminal, stderr)."""
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mongoarchive", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            check=False,
            timeout=300,
        )
        os.close(slave)
        slave = -1
        shown = b""
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return done.returncode, shown, done.stderr.decode()


REFUSAL = "mongoarchive: error: refusing to write binary data to a terminal; hint: "


def test_cat_bson_refuses_a_terminal(small: Path) -> None:
    status, shown, err = on_terminal("cat", "--bson", str(small))
    assert status == 2 and shown == b""
    assert one_error_line(err).startswith(REFUSAL)


def test_cat_bson_refuses_before_reading(tmp_path: Path) -> None:
    status, _, err = on_terminal("cat", "--bson", str(tmp_path / "does-not-exist"))
    assert status == 2 and one_error_line(err).startswith(REFUSAL)


def test_cat_json_on_a_terminal_is_fine(small: Path) -> None:
    status, shown, err = on_terminal("cat", str(small))
    assert (status, err) == (0, "")
    assert shown.count(b'"_id"') == 3


def test_salvage_to_stdout_refuses_a_terminal_before_reading(tmp_path: Path) -> None:
    status, shown, err = on_terminal("salvage", str(tmp_path / "does-not-exist"), "-")
    assert status == 2 and shown == b""
    assert one_error_line(err).startswith(REFUSAL)


def test_dump_refuses_a_terminal_before_connecting() -> None:
    # Nothing listens on this port: a connection attempt would be a different error (exit 1).
    uri = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=60000"
    status, shown, err = on_terminal("dump", "--uri", uri)
    assert status == 2 and shown == b""
    line = one_error_line(err)
    assert line == REFUSAL + "redirect or pass --archive=FILE"


@pytest.mark.parametrize(
    "argv",
    [("filter", "IN", "-"), ("pack", "DIR", "-"), ("merge", "IN", "IN", "-")],
    ids=["filter", "pack", "merge"],
)
def test_rewrite_verbs_refuse_a_terminal_before_reading(tmp_path: Path, argv: tuple[str, ...]) -> None:
    # The inputs do not exist: reading them would be a different error.
    missing = str(tmp_path / "does-not-exist")
    args = [missing if a in ("IN", "DIR") else a for a in argv]
    status, shown, err = on_terminal(*args)
    assert status == 2 and shown == b""
    assert one_error_line(err).startswith(REFUSAL)


# -- item: --archive=FILE as in mongorestore; --ns that matches nothing ------------
@pytest.mark.parametrize("verb", ["inspect", "check", "cat"])
def test_archive_option_is_the_positional_file(
    capsys: pytest.CaptureFixture[str], small: Path, verb: str
) -> None:
    expected = main([verb, str(small)]), capsys.readouterr()
    assert (main([verb, f"--archive={small}"]), capsys.readouterr()) == expected
    assert (main([verb, "--archive", str(small)]), capsys.readouterr()) == expected
    assert expected[0] == 0 and expected[1].out


def test_archive_option_and_file_together_are_a_usage_error(
    capsys: pytest.CaptureFixture[str], small: Path
) -> None:
    assert main(["inspect", str(small), f"--archive={small}"]) == 2
    assert "one archive at a time" in capsys.readouterr().err
    assert main(["check", str(small), f"--archive={small}"]) == 0  # check takes several files
    assert main(["cat"]) == 2
    assert "no archive given" in capsys.readouterr().err


def test_salvage_archive_option(damaged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "out.archive"
    assert main(["salvage", f"--archive={damaged}", str(out_path)]) == 1
    assert main(["check", str(out_path)]) == 0
    capsys.readouterr()
    assert main(["salvage", f"--archive={damaged}", str(damaged), str(out_path)]) == 2
    assert "IN is given twice" in capsys.readouterr().err


def test_cat_pattern_that_matches_nothing_fails_after_the_output(
    capsys: pytest.CaptureFixture[str], small: Path
) -> None:
    status = main(["cat", str(small), "--ns", "db.coll", "--ns", "nothing.here", "--ns", "no.*"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out.count('"_id"') == 3  # the matching namespace is still written
    line = one_error_line(err)
    assert "'nothing.here'" in line and "'no.*'" in line and "'db.coll'" not in line
    assert main(["cat", str(small), "--ns", "nothing.here", "--limit", "0"]) == 1
    assert main(["cat", str(small), "--ns", "db.*", "--nsExclude", "db.coll"]) == 0  # matched, then excluded


# -- item: global -q before the verb --------------------------------------------
@pytest.mark.parametrize("verb", ["inspect", "check", "cat", "salvage"])
def test_global_quiet_before_and_after_every_verb(
    capsys: pytest.CaptureFixture[str], small: Path, tmp_path: Path, verb: str
) -> None:
    extra = [str(tmp_path / "out.archive"), "--force"] if verb == "salvage" else []
    for argv in (["-q", verb, str(small), *extra], [verb, str(small), *extra, "--quiet"]):
        status = main(argv)
        out, err = capsys.readouterr()
        assert status == 0, argv
        if verb in ("check", "salvage"):
            assert out == "", argv  # only failures are printed
        assert err == ""


# -- dump: the same outputs from a live server -------------------------------------
def dump_args(server: SecantusServer, *more: str) -> list[str]:
    return ["dump", "--uri", server.uri, "--db", "beta", "--collection", "one", *more]


def test_dump_global_quiet_before_the_verb(
    dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a.archive"
    assert main(dump_args(dump_server, f"--archive={target}")) == 0
    assert "done: 1 namespace," in capsys.readouterr().err  # the summary, without -q
    for argv in (
        ["-q", *dump_args(dump_server, f"--archive={target}")],
        dump_args(dump_server, f"--archive={target}", "--quiet"),
    ):
        assert main(argv) == 0
        assert capsys.readouterr() == ("", ""), argv


def test_dump_q_after_the_verb_is_the_query(
    dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a.archive"
    assert main(dump_args(dump_server, f"--archive={target}", "-q", '{"_id": {"$lt": 5}}')) == 0
    assert "done: 1 namespace, 5 documents" in capsys.readouterr().err
    with mongoarchive.open(target) as archive:
        assert sum(1 for _ in archive.documents()) == 5


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_dump_archive_mode_follows_umask(
    dump_server: SecantusServer, tmp_path: Path, umask: None, mask: int, mode: int
) -> None:
    os.umask(mask)
    target = tmp_path / "a.archive"
    assert main([*dump_args(dump_server, f"--archive={target}"), "--quiet"]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_dump_to_a_full_stdout(dump_server: SecantusServer) -> None:
    with open("/dev/full", "wb") as full:
        done = cli(*dump_args(dump_server), stdout=full)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(NO_SPACE)


def test_dump_into_a_fifo_and_a_device_node(dump_server: SecantusServer, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with fifo_reader(fifo) as got:
        done = cli(*dump_args(dump_server, f"--archive={fifo}", "--quiet"))
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert main(["check", "-q", str(got)]) == 0
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating device nodes needs root")
    assert cli(*dump_args(dump_server, f"--archive={node}", "--quiet")).returncode == 0
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_dump_refuses_a_bad_output_before_connecting(tmp_path: Path) -> None:
    uri = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=60000"
    done = cli("dump", "--uri", uri, f"--archive={tmp_path / 'missing' / 'a.archive'}")
    assert done.returncode == 2
    assert "cannot create" in one_error_line(done.stderr)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        done = cli("dump", "--uri", uri, f"--archive={tmp_path / 'sock'}")
    assert done.returncode == 2
    assert "it is a socket" in one_error_line(done.stderr)


def test_library_salvage_refuses_a_bad_output_before_reading(tmp_path: Path) -> None:
    class Unreadable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buf: object) -> int:
            raise AssertionError("the input was read")

    with pytest.raises(ArchiveIOError, match="cannot create"):
        salvage(Unreadable(), tmp_path / "missing" / "out.archive")
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ArchiveIOError, match="it is a directory"):
        salvage(Unreadable(), folder)


def test_salvage_into_a_fifo(damaged: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with fifo_reader(fifo) as got:
        done = cli("salvage", str(damaged), str(fifo), "--force", "-q")
    assert done.returncode == 1, done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert cli("check", "-q", str(got)).returncode == 0


def test_inspect_table_on_a_terminal(small: Path) -> None:
    status, shown, err = on_terminal("inspect", str(small))
    assert (status, err) == (0, "")
    assert b"db.coll" in shown
