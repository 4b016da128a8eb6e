"""``export --jobs N``: row groups converted in worker processes give the one-process output.

Same Parquet values and manifest for ``jobs=1`` and ``jobs=3`` (many small row
groups over several namespaces, rows with ``_extra``, folders of parts); the
same publish rule on a damaged archive and on broken BSON; no partial file and
no child process left behind after success, damage or an interrupt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bson import Int64, MaxKey, ObjectId
from test_export import _element_string, _flip_crc_byte, _raw_doc, run_cli

import mongoarchive
from mongoarchive.export import MANIFEST, export

pa = pytest.importorskip("pyarrow")
pytest.importorskip("pymongoarrow")
import pyarrow.parquet as pq  # noqa: E402


def _doc(i: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": ObjectId(i.to_bytes(12, "big")), "n": i, "big": Int64(i * 7), "s": f"v{i}"}
    if i % 97 == 0:
        doc["n"] = f"text {i}"  # a misfit: kept in _extra
    if i % 131 == 0:
        doc["odd"] = MaxKey()
    return doc


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "jobs.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        colls = [out.add_collection("app", name) for name in ("a", "b", "c")]
        for i in range(3000):
            colls[i % 3 if i < 2400 else 0].write(_doc(i))  # interleaved, then one alone
    return path


def _children() -> set[int]:
    """Process ids of this process's children, from /proc (every thread's list).

    multiprocessing's resource tracker is left out: one per interpreter, it
    lives until the interpreter exits (``test_the_cli_leaves_no_process``).
    """
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            with open(task / "children") as handle:
                found.update(int(p) for p in handle.read().split())
        except FileNotFoundError:  # the thread ended since the listing: it has no children now
            continue
    return {p for p in found if b"resource_tracker" not in _cmdline(p)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _session(sid: int) -> list[int]:
    """Processes (zombies included) still in session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:  # stat field 6, the session id
                found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_children_left() -> Any:
    if not Path("/proc/self/task").exists():
        pytest.skip("needs Linux /proc to list child processes")
    before = _children()
    yield
    assert _children() <= before, "a worker process outlived export"


def _tables(root: Path) -> dict[str, Any]:
    return {str(p.relative_to(root)): pq.read_table(p) for p in sorted(root.rglob("*.parquet"))}


def _manifest(root: Path) -> dict[str, Any]:
    value = json.loads((root / MANIFEST).read_text())
    value.pop("directory")
    return value


@pytest.mark.parametrize("rows_per_file", [0, 700])
def test_jobs_give_the_same_values_and_manifest(archive: Path, tmp_path: Path, rows_per_file: int) -> None:
    outs = {}
    for jobs in (1, 3):
        out = tmp_path / f"j{jobs}"
        export(archive, out, row_group_bytes=4096, rows_per_file=rows_per_file, jobs=jobs)
        outs[jobs] = out
    one, three = _tables(outs[1]), _tables(outs[3])
    assert sorted(one) == sorted(three) and len(one) >= 3
    for name, table in one.items():
        assert table.equals(three[name], check_metadata=True), name
    assert _manifest(outs[1]) == _manifest(outs[3])
    extra = sum(n["extra_rows"] for n in _manifest(outs[3])["namespaces"])
    assert extra > 0


def test_many_row_groups_in_one_file(archive: Path, tmp_path: Path) -> None:
    export(archive, tmp_path / "o", row_group_bytes=2048, jobs=2)
    meta = pq.ParquetFile(tmp_path / "o" / "app" / "a.parquet").metadata
    assert meta.num_row_groups > 10
    big = pq.read_table(tmp_path / "o" / "app" / "a.parquet").column("big").to_pylist()
    assert big == [i * 7 for i in range(3000) if (i < 2400 and i % 3 == 0) or i >= 2400]  # archive order


def test_a_damaged_archive_publishes_the_same_with_jobs(tmp_path: Path) -> None:
    from test_export import DOCS

    src = tmp_path / "v.archive"
    with mongoarchive.open(src, "w", server_version="7.0.14") as out:
        first = out.add_collection("app", "first")
        varied = out.add_collection("app", "varied")
        for i in range(400):
            first.write(_doc(i))
        first.close()
        for doc in DOCS:
            varied.write(doc)
    bad = tmp_path / "bad.archive"
    _flip_crc_byte(src, bad)
    seen = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"o{jobs}"
        status, _, err = run_cli(bad, out, "--jobs", jobs, "--row-group-mib", "1")
        assert status == 1 and "CRC-64 mismatch" in err and "Traceback" not in err
        manifest = _manifest(out)
        assert manifest["complete"] is False
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        assert files == [MANIFEST, "app/first.parquet"]  # verified kept, no partial file
        seen[jobs] = manifest
    assert seen["1"] == seen["2"]


def test_broken_bson_in_a_worker_is_the_same_error(tmp_path: Path) -> None:
    path = tmp_path / "h.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        c = out.add_collection("d", "c")
        for i in range(200):
            c.write(_raw_doc(_element_string(b"a", f"ok{i}".encode())))
        c.write(_raw_doc(_element_string(b"a", b"\xff")))
    errors = []
    for jobs in (1, 2):
        with pytest.raises(mongoarchive.ArchiveError) as caught:
            export(path, tmp_path / f"o{jobs}", row_group_bytes=512, jobs=jobs)
        errors.append((caught.value.code, caught.value.namespace, str(caught.value)))
        assert not list((tmp_path / f"o{jobs}").rglob("*.parquet"))
        assert not [p for p in (tmp_path / f"o{jobs}").rglob("*") if "partial" in p.name]
    assert errors[0] == errors[1] and errors[0][:2] == ("bad-bson", "d.c")


def test_an_interrupt_stops_the_workers_and_leaves_no_partial(archive: Path, tmp_path: Path) -> None:
    seen = 0

    def interrupt_late(raw: bytes) -> bool:  # --query's predicate: Ctrl-C arrives mid-run
        nonlocal seen
        seen += 1
        if seen == 2500:
            raise KeyboardInterrupt
        return True

    with pytest.raises(KeyboardInterrupt):
        export(archive, tmp_path / "o", row_group_bytes=2048, query=interrupt_late, jobs=2)
    out = tmp_path / "o"
    assert not [p for p in out.rglob("*") if "partial" in p.name]
    whole = {"a.parquet": 1400, "b.parquet": 800, "c.parquet": 800}
    for path in (out / "app").glob("*"):  # a namespace verified before the interrupt is whole
        assert pq.read_table(path).num_rows == whole[path.name]
    assert len(list((out / "app").glob("*"))) < 3


def test_jobs_must_be_positive(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(mongoarchive.UsageError):
        export(archive, tmp_path / "o", jobs=0)
    status, _, err = run_cli(archive, tmp_path / "o", "--jobs", "0")
    assert status == 2 and "--jobs" in err and "Traceback" not in err


def test_jsonl_ignores_jobs(archive: Path, tmp_path: Path) -> None:
    export(archive, tmp_path / "o", format="jsonl", jobs=2)
    assert len((tmp_path / "o" / "app" / "a.jsonl").read_text().splitlines()) == 2400 // 3 + 600
    assert os.path.exists(tmp_path / "o" / MANIFEST)


@pytest.mark.parametrize("damaged", [False, True])
def test_the_cli_leaves_no_process(archive: Path, tmp_path: Path, damaged: bool) -> None:
    src = archive
    if damaged:
        src = tmp_path / "bad.archive"
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF
        src.write_bytes(bytes(data))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongoarchive", "export", str(src), str(tmp_path / "o"), "--jobs", "3",
         "--row-group-mib", "1", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == (1 if damaged else 0), err
    assert b"Traceback" not in err
    # The workers and the resource tracker exit with the command: nothing of its session is left.
    deadline = 50
    while _session(proc.pid) and deadline:
        time.sleep(0.1)  # the tracker notices its pipe closed; not a timing of the code under test
        deadline -= 1
    assert _session(proc.pid) == []
