"""Peak memory of each verb on inputs built to make memory grow, run by hand (never a test).

Every input is generated in a temporary directory (removed afterwards, never
committed), then the verb runs as a subprocess under ``/usr/bin/time -v``
(``resource.getrusage`` of the children where it is missing) and its maximum
resident set size is printed as a Markdown table.  The target is 64 MiB for
every row; a row over it is marked.

    python bench/bench_memory.py [--quick] [--only NAME[,NAME...]] [--keep DIR]

``--quick`` shrinks the large inputs (1 GiB becomes 128 MiB, 256 MiB becomes
64 MiB, 12 huge documents become 4); the damage patterns keep their size.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import bson
from bson.int64 import Int64

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mongoarchive._crc import crc64

MIB = 1024 * 1024
TARGET_MIB = 64
MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"
# What mongodump writes for a collection with the _id index (canonical Extended JSON, §3.2).
METADATA = (
    '{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],'
    '"uuid":"0123456789abcdef0123456789abcdef","collectionName":"%s","type":"collection"}'
)


# -- archive pieces, written as raw bytes (fast, and free to break rules) ------------------
def header_doc() -> bytes:
    return bson.encode(
        {
            "concurrent_collections": 4,
            "version": "0.1",
            "server_version": "7.0.14",
            "tool_version": "100.18.0",
        }
    )


def entry_doc(db: str, coll: str) -> bytes:
    return bson.encode(
        {"db": db, "collection": coll, "metadata": METADATA % coll, "size": 0, "type": "collection"}
    )


def ns_header(db: str, coll: str, eof: bool = False, crc: int = 0) -> bytes:
    if crc >= 1 << 63:
        crc -= 1 << 64
    return bson.encode({"db": db, "collection": coll, "EOF": eof, "CRC": Int64(crc)})


def write_prelude(out: BinaryIO, names: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> None:
    out.write(MAGIC + header_doc())
    for db, coll in names:
        out.write(entry_doc(db, coll))
    out.write(TERMINATOR)


def docs_archive(path: Path, size: int, doc_size: int) -> None:
    """Documents of ``doc_size`` bytes in three namespaces, blocks of about 1 MiB, ``size`` bytes."""
    names = [("bench", f"c{i}") for i in range(3)]
    pad = max(doc_size - 60, 1)
    docs = [
        bson.encode({"_id": i, "name": f"user-{i:09d}", "pad": "x" * pad, "n": i * 7})
        for i in range(max(1, MIB // doc_size))
    ]
    block = b"".join(docs)
    crcs = [0, 0, 0]
    with path.open("wb") as out:
        write_prelude(out, names)
        written = 0
        turn = 0
        while written < size:
            i = turn % 3
            db, coll = names[i]
            out.write(ns_header(db, coll) + block + TERMINATOR)
            crcs[i] = crc64(block, crcs[i])
            written += len(block)
            turn += 1
        for (db, coll), crc in zip(names, crcs, strict=True):
            out.write(ns_header(db, coll, True, crc) + TERMINATOR)


def huge_docs_archive(path: Path, count: int) -> None:
    """``count`` documents of just under 16 MiB each, one namespace, one block per document."""
    pad = 16 * MIB - 64
    with path.open("wb") as out:
        write_prelude(out, [("bench", "big")])
        crc = 0
        for i in range(count):
            doc = bson.encode({"_id": i, "pad": "y" * pad})
            out.write(ns_header("bench", "big") + doc + TERMINATOR)
            crc = crc64(doc, crc)
        out.write(ns_header("bench", "big", True, crc) + TERMINATOR)


def one_big_document_archive(path: Path, shape: str) -> None:
    """One document of about 16 MiB: one long string, or many small subdocuments."""
    if shape == "string":
        doc = bson.encode({"_id": 0, "pad": "z" * (16 * MIB - 64)})
    else:
        # ~60 bytes an element: as many Python objects per byte as a real document gets.
        items = []
        total = 0
        i = 0
        while total < 16 * MIB - 4096:
            item = {"k": i, "s": f"value-{i:08d}", "f": i / 3}
            items.append(item)
            total += 58
            i += 1
        doc = bson.encode({"_id": 0, "items": items})
        while len(doc) > 16 * MIB:
            items.pop()
            doc = bson.encode({"_id": 0, "items": items})
    with path.open("wb") as out:
        write_prelude(out, [("bench", "one")])
        out.write(ns_header("bench", "one") + doc + TERMINATOR)
        out.write(ns_header("bench", "one", True, crc64(doc)) + TERMINATOR)


def resync_archive(path: Path, size: int) -> None:
    """A block whose data is cut by a bad length, over and over: one resynchronisation each."""
    doc = bson.encode({"_id": 1, "v": "abc"})
    unit = ns_header("bench", "c") + doc + b"\x00\x00\x00\x00"
    with path.open("wb") as out:
        write_prelude(out, [("bench", "c")])
        out.write(unit * (size // len(unit)))


def undeclared_archive(path: Path, size: int) -> None:
    """Blocks of namespaces the prelude does not declare, each one new."""
    with path.open("wb") as out:
        write_prelude(out, [("bench", "c")])
        written = 0
        i = 0
        while written < size:
            piece = ns_header("bench", f"u{i:07d}") + TERMINATOR
            out.write(piece)
            written += len(piece)
            i += 1
        out.write(ns_header("bench", "c", True, 0) + TERMINATOR)


def many_namespaces_archive(path: Path, count: int) -> None:
    """A valid archive whose prelude declares ``count`` empty collections (EOF blocks only)."""
    names = [("bench", f"coll{i:07d}") for i in range(count)]
    with path.open("wb") as out:
        write_prelude(out, names)
        for db, coll in names:
            out.write(ns_header(db, coll, True, 0) + TERMINATOR)


# -- measuring ---------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    describe: str
    build: Callable[[Path], None]
    argv: list[str]
    stdin_pipe: bool = False


def gzip_docs_archive(path: Path, size: int, doc_size: int) -> None:
    """``docs_archive`` gzipped (isal, level 1), streamed: the plain copy is removed."""
    from isal import igzip

    plain = path.with_suffix(".plain")
    docs_archive(plain, size, doc_size)
    with plain.open("rb") as src, igzip.open(path, "wb", compresslevel=1) as out:
        shutil.copyfileobj(src, out, 1 << 20)
    plain.unlink()


def cases(quick: bool) -> list[Case]:
    big = 128 * MIB if quick else 1024 * MIB
    mid = 64 * MIB if quick else 256 * MIB
    huge = 4 if quick else 12
    return [
        Case(
            "check-1gib",
            f"`check` of {big // MIB} MiB (1000-byte documents)",
            lambda p: docs_archive(p, big, 1000),
            ["check", "{file}"],
        ),
        Case(
            "check-1gib-gzip",
            f"`check` of {big // MIB} MiB gzipped (1000-byte documents; the inflating thread)",
            lambda p: gzip_docs_archive(p, big, 1000),
            ["check", "{file}"],
        ),
        Case(
            "cat-json-1gib",
            f"`cat` (JSON) of {big // MIB} MiB (1000-byte documents)",
            lambda p: docs_archive(p, big, 1000),
            ["cat", "{file}"],
        ),
        Case(
            "salvage-1gib",
            f"`salvage` of {big // MIB} MiB (1000-byte documents) to a file",
            lambda p: docs_archive(p, big, 1000),
            ["salvage", "{file}", "{out}"],
        ),
        Case(
            "salvage-1gib-gzip",
            f"`salvage` of {big // MIB} MiB gzipped to a gzipped file",
            lambda p: gzip_docs_archive(p, big, 1000),
            ["salvage", "{file}", "{out}"],
        ),
        Case(
            "cat-bson-huge-docs",
            f"`cat --bson` of {huge} documents of 16 MiB",
            lambda p: huge_docs_archive(p, huge),
            ["cat", "--bson", "{file}"],
        ),
        Case(
            "cat-bson-stdin",
            f"`cat --bson` of {big // MIB} MiB on stdin (256 KiB documents)",
            lambda p: docs_archive(p, big, 256 * 1024),
            ["cat", "--bson", "-"],
            stdin_pipe=True,
        ),
        Case(
            "cat-bson-stdin-small",
            f"`cat --bson` of {big // MIB} MiB on stdin (200-byte documents)",
            lambda p: docs_archive(p, big, 200),
            ["cat", "--bson", "-"],
            stdin_pipe=True,
        ),
        Case(
            "cat-json-stdin",
            f"`cat` (JSON) of {mid // MIB} MiB on stdin (256 KiB documents)",
            lambda p: docs_archive(p, mid, 256 * 1024),
            ["cat", "-"],
            stdin_pipe=True,
        ),
        Case(
            "cat-json-stdin-small",
            f"`cat` (JSON) of {mid // MIB} MiB on stdin (200-byte documents)",
            lambda p: docs_archive(p, mid, 200),
            ["cat", "-"],
            stdin_pipe=True,
        ),
        Case(
            "cat-json-16mib-string",
            "`cat` (JSON) of one 16 MiB document (one string)",
            lambda p: one_big_document_archive(p, "string"),
            ["cat", "{file}"],
        ),
        Case(
            "cat-json-16mib-fields",
            "`cat` (JSON) of one 16 MiB document (280,000 subdocuments)",
            lambda p: one_big_document_archive(p, "fields"),
            ["cat", "{file}"],
        ),
        Case(
            "check-resync",
            "`check` of 8 MiB of resynchronisation patterns",
            lambda p: resync_archive(p, 8 * MIB),
            ["check", "{file}"],
        ),
        Case(
            "check-undeclared",
            "`check` of 8 MiB of undeclared namespaces",
            lambda p: undeclared_archive(p, 8 * MIB),
            ["check", "{file}"],
        ),
        Case(
            "inspect-150k",
            "`inspect` of a prelude of 150,000 namespaces",
            lambda p: many_namespaces_archive(p, 150_000),
            ["inspect", "{file}"],
        ),
        Case(
            "inspect-json-150k",
            "`inspect --format json` of a prelude of 150,000 namespaces",
            lambda p: many_namespaces_archive(p, 150_000),
            ["inspect", "--format", "json", "{file}"],
        ),
        Case(
            "check-150k",
            "`check` of a prelude of 150,000 namespaces",
            lambda p: many_namespaces_archive(p, 150_000),
            ["check", "{file}"],
        ),
        Case(
            "check-zeros",
            "`check` of 256 MiB of zeros on stdin (default --max-damage)",
            lambda p: p.write_bytes(b"\x00" * (256 * MIB)),
            ["check", "-"],
            stdin_pipe=True,
        ),
    ]


_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def measure(case: Case, path: Path) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of the verb on ``path``."""
    out = path.with_name(path.name + ".out")
    argv = [a.replace("{file}", str(path)).replace("{out}", str(out)) for a in case.argv]
    command = [sys.executable, "-m", "mongoarchive", *argv]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer is not None:
        command = [timer, "-v", *command]
    with contextlib.ExitStack() as stack:
        feeder = None
        stdin: int | BinaryIO = subprocess.DEVNULL
        if case.stdin_pipe:
            feeder = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
            stack.callback(feeder.wait)
            assert feeder.stdout is not None
            stdin = feeder.stdout
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - t0
        if feeder is not None and feeder.stdout is not None:
            feeder.stdout.close()
    stderr = proc.stderr.decode("utf-8", "replace")
    found = _MAX_RSS.search(stderr)
    if found is not None:
        kib = int(found.group(1))
    else:
        # ru_maxrss of the children is the largest of any child so far: only meaningful
        # when it grew during this run.
        kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    status = proc.returncode
    if timer is not None:
        exited = re.search(r"Exit status: (\d+)", stderr)
        status = int(exited.group(1)) if exited else status
    return kib / 1024, seconds, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller large inputs")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--keep", default=None, metavar="DIR", help="build inputs in DIR and keep them")
    args = parser.parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    chosen = [c for c in cases(args.quick) if not only or c.name in only]
    print("| case | input | peak RSS | time | exit |")
    print("|---|---|---|---|---|")
    with contextlib.ExitStack() as stack:
        if args.keep:
            folder = Path(args.keep)
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-memory-")))
        for case in chosen:
            path = folder / f"{case.name}.archive"
            if not path.exists():
                case.build(path)
            rss, seconds, status = measure(case, path)
            path.with_name(path.name + ".out").unlink(missing_ok=True)
            mark = "" if rss <= TARGET_MIB else " (over 64 MiB)"
            size = path.stat().st_size / MIB
            print(
                f"| {case.describe} | {size:.1f} MiB | {rss:.0f} MiB{mark} | {seconds:.1f} s | {status} |",
                flush=True,
            )
            if not args.keep:
                path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
