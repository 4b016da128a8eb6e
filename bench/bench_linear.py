"""Time against input size: reading, checking and salvaging grow linearly, run by hand (never a test).

For each size (16, 32, 64, 128 MiB by default) it writes an archive of ~200
byte documents in three namespaces, then times, each in this process and
best of ``--repeat``:

* ``validate``: framing and every CRC (``ArchiveReader.validate``);
* ``events``: every event with its document bytes;
* ``check``: ``check_archive`` on the intact file;
* ``salvage``: ``salvage`` of a damaged copy (a log line spliced into every
  MiB, so the resynchronisation scan runs all the way through).

It prints seconds, MB/s and the ratio to the previous size: a linear tool
shows ratios near 2.0 when the size doubles (quadratic would show ~4).

    python bench/bench_linear.py [--sizes 16,32,64,128] [--dir bench/out] [--repeat 2]

Separately, ``bench_writer_add_collection`` times declaring 10,000 to 80,000
namespaces in one writer (nothing is written to disk):

    python bench/bench_linear.py --writer-add-collection
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mongoarchive
from mongoarchive.checker import check_archive
from mongoarchive.salvage import salvage

MIB = 1024 * 1024
LOG_LINE = b"2024-05-01T10:00:00.123+0000 I NETWORK [listener] connection accepted from 10.0.0.7:51234\n"


def write_archive(path: Path, size_mib: int) -> int:
    """An archive of about ``size_mib`` MiB; returns the number of documents."""
    count = 0
    with mongoarchive.open(path, "w", server_version="7.0.14", tool_version="bench") as w:
        namespaces = [w.add_collection("bench", f"c{i}") for i in range(3)]
        target = size_mib * MIB
        written = 0
        while written < target:
            raw = bson.encode({"_id": count, "name": f"user-{count:09d}", "pad": "x" * 140, "n": count * 7})
            namespaces[count % 3].write(raw)
            written += len(raw)
            count += 1
    return count


def damaged_copy(src: Path, dst: Path) -> None:
    """``src`` with a log line spliced in after every MiB (inside documents, mostly)."""
    data = src.read_bytes()
    with dst.open("wb") as out:
        for start in range(0, len(data), MIB):
            out.write(data[start : start + MIB])
            if start + MIB < len(data):
                out.write(LOG_LINE)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def validate(path: Path) -> None:
    with mongoarchive.open(path) as archive:
        archive.validate()


def events(path: Path) -> None:
    with mongoarchive.open(path) as archive:
        for _ in archive.events():
            pass


def check(path: Path) -> None:
    assert check_archive(path).ok()


def salvage_damaged(path: Path) -> None:
    report = salvage(path, io.BytesIO(), gzip=False)
    assert not report.clean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="16,32,64,128", help="sizes in MiB, comma-separated")
    parser.add_argument("--dir", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    tasks: dict[str, Callable[[Path, Path], None]] = {
        "validate": lambda p, d: validate(p),
        "events": lambda p, d: events(p),
        "check": lambda p, d: check(p),
        "salvage": lambda p, d: salvage_damaged(d),
    }
    results: dict[str, list[float]] = {name: [] for name in tasks}
    for size in sizes:
        path = folder / f"linear-{size}.archive"
        damaged = folder / f"linear-{size}-damaged.archive"
        docs = write_archive(path, size)
        damaged_copy(path, damaged)
        line = [f"{size:4d} MiB ({docs} documents):"]
        for name, task in tasks.items():
            seconds = best_of(args.repeat, functools.partial(task, path, damaged))
            results[name].append(seconds)
            line.append(f"{name} {seconds:6.2f}s {path.stat().st_size / MIB / seconds:6.0f} MiB/s")
        print("  ".join(line), flush=True)
        path.unlink()
        damaged.unlink()
    print("\nratio of time to the previous size (size doubles: linear ~2.0, quadratic ~4.0)")
    for name, times in results.items():
        ratios = [f"{b / a:4.2f}" for a, b in itertools.pairwise(times)]
        print(f"  {name:9s} {'  '.join(ratios)}")
    return 0


def bench_writer_add_collection(counts: tuple[int, ...] = (10_000, 20_000, 40_000, 80_000)) -> int:
    """Seconds to declare ``count`` namespaces with ``add_collection``; prints ratios as above."""
    times = []
    for count in counts:

        def declare(count: int = count) -> None:
            writer = mongoarchive.open(io.BytesIO(), "w", server_version="7.0.14", tool_version="bench")
            for i in range(count):
                writer.add_collection("bench", f"c{i}")
            writer.abort()

        seconds = best_of(2, declare)
        times.append(seconds)
        print(f"{count:6d} namespaces: {seconds:6.3f}s {count / seconds:9.0f} add_collection/s", flush=True)
    ratios = [f"{b / a:4.2f}" for a, b in itertools.pairwise(times)]
    print(f"ratio when the count doubles (linear ~2.0, quadratic ~4.0): {'  '.join(ratios)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--writer-add-collection"]:
        sys.exit(bench_writer_add_collection())
    sys.exit(main())
