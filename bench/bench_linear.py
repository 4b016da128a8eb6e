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

``--salvage-patterns`` times instead the inputs that once made salvage
quadratic, each at a base size and at 4x (a linear tool shows ~4.0): a valid
archive of many namespaces, many damaged spots in one namespace, and garbage
full of namespace-header candidates inside a block.

    python bench/bench_linear.py [--sizes 16,32,64,128] [--dir bench/out] [--repeat 2]
    python bench/bench_linear.py --salvage-patterns [--repeat 2]
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


# -- salvage patterns -------------------------------------------------------------------------


def many_namespaces(count: int) -> bytes:
    """A valid archive of ``count`` namespaces, one document each."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14", tool_version="bench") as w:
        writers = [w.add_collection("bench", f"c{i:06d}") for i in range(count)]
        for i, ns in enumerate(writers):
            ns.write(bson.encode({"_id": i, "pad": "x" * 100}))
    return out.getvalue()


def _one_namespace(size: int) -> tuple[bytes, list[int]]:
    """A valid archive of one namespace of ~``size`` bytes, and where its documents start."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14", tool_version="bench") as w:
        ns = w.add_collection("bench", "spots")
        for i in range(size // 200):
            ns.write(bson.encode({"_id": i, "name": f"user-{i:09d}", "pad": "x" * 150}))
    data = out.getvalue()
    marker = b"spots\x00\x08EOF\x00\x00\x12CRC\x00"
    pos = data.index(marker) + len(marker) + 9  # past the CRC and the header's NUL
    starts = []
    while (length := int.from_bytes(data[pos : pos + 4], "little", signed=True)) >= 5:
        starts.append(pos)
        pos += length
    return data, starts


def damaged_spots(size: int) -> bytes:
    """One namespace of ~``size`` bytes in which every fifth document length (~1 KiB apart) is broken."""
    data, starts = _one_namespace(size)
    damaged = bytearray(data)
    for at in starts[::5]:
        damaged[at + 3] = 0x7F  # far above 16 MiB: a bad length, resynchronised after
    return bytes(damaged)


def header_candidates(size: int) -> bytes:
    """Damage, then ~``size`` bytes of namespace-header candidates (a length, then b"\x02db\x00")."""
    data, starts = _one_namespace(64 << 10)
    middle = starts[len(starts) // 2]
    junk = b"\xfe\xff\xff\xff" + (b"\x00\x00\x01\x00\x02db\x00" + b"\x00" * 8) * (size // 16)
    return data[:middle] + junk + data[middle:]


SALVAGE_PATTERNS: dict[str, tuple[Callable[[int], bytes], int]] = {
    "many namespaces": (many_namespaces, 2000),
    "damaged spots": (damaged_spots, 1_100_000),
    "header candidates": (header_candidates, 1 << 20),
}


def _salvage_bytes(data: bytes) -> None:
    salvage(io.BytesIO(data), io.BytesIO(), gzip=False)


def salvage_patterns(repeat: int) -> None:
    for name, (make, base) in SALVAGE_PATTERNS.items():
        times = []
        for scale in (1, 4):
            data = make(base * scale)
            seconds = best_of(repeat, functools.partial(_salvage_bytes, data))
            times.append(seconds)
            print(
                f"  {name:18s} x{scale}: {len(data) / MIB:7.2f} MiB {seconds:7.2f}s "
                f"{len(data) / MIB / seconds:7.2f} MiB/s",
                flush=True,
            )
        print(f"  {name:18s} ratio 4x/1x: {times[1] / times[0]:.2f} (linear ~4.0)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="16,32,64,128", help="sizes in MiB, comma-separated")
    parser.add_argument("--dir", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--salvage-patterns", action="store_true", help="time salvage's hard inputs")
    args = parser.parse_args(argv)
    if args.salvage_patterns:
        salvage_patterns(args.repeat)
        return 0
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


if __name__ == "__main__":
    sys.exit(main())
