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

``--patterns`` runs the damage and namespace patterns instead (their own
section below): each input is built at 1x and 4x its base size and the
ratio of the times is printed (linear ~4, at most ~5 wanted; quadratic ~16),
with MiB/s at 4x (CPU time of the process, best of ``--repeat``):

* ``timeseries-prelude``: the reader on a prelude of timeseries entries whose
  data never comes (every namespace is reported unended);
* ``namespaces-x-resyncs``: check on a prelude of many namespaces and as many
  resynchronisations;
* ``ff-run``: check crossing a run of ``ff`` bytes after a block;
* ``16mib-no-nul``: check on headers each followed by a 16 MiB length whose
  document does not end with a NUL;
* ``zeros``: check on zeros after the magic (resynchronising scan, no limit).

    python bench/bench_linear.py [--sizes 16,32,64,128] [--dir bench/out] [--repeat 2]

Separately, ``bench_writer_add_collection`` times declaring 10,000 to 80,000
namespaces in one writer (nothing is written to disk):

    python bench/bench_linear.py --writer-add-collection
    python bench/bench_linear.py --patterns [all|NAME,...] [--repeat 1]

``--salvage-patterns`` times instead the inputs that once made salvage
quadratic, each at a base size and at 4x (a linear tool shows ~4.0): a valid
archive of many namespaces, many damaged spots in one namespace, and garbage
full of namespace-header candidates inside a block.

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


def best_of(repeat: int, fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
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


# -- damage and namespace patterns (--patterns) ---------------------------------------------
MAGIC = b"\x6d\xe2\x99\x81"
TERM = b"\xff\xff\xff\xff"


def _prelude(names: list[tuple[str, str]], kind: str = "collection") -> bytes:
    head = bson.encode(
        {"concurrent_collections": 1, "version": "0.1", "server_version": "7.0.14", "tool_version": "b"}
    )
    entries = b"".join(
        bson.encode({"db": db, "collection": c, "metadata": "", "size": 0, "type": kind}) for db, c in names
    )
    return MAGIC + head + entries + TERM


def _header(db: str, coll: str, eof: bool = False) -> bytes:
    return bson.encode({"db": db, "collection": coll, "EOF": eof, "CRC": bson.Int64(0)})


def pattern_timeseries_prelude(scale: int) -> bytes:
    """A prelude of 5,000 x scale timeseries entries and no body."""
    return _prelude([("bench", f"ts{i:07d}") for i in range(5000 * scale)], kind="timeseries")


def pattern_namespaces_x_resyncs(scale: int) -> bytes:
    """4,000 x scale declared namespaces, then 4,000 x scale resynchronisations."""
    n = 4000 * scale
    unit = _header("bench", "n0000000") + bson.encode({"_id": 1}) + b"\x00\x00\x00\x00"
    return _prelude([("bench", f"n{i:07d}") for i in range(n)]) + unit * n


def pattern_ff_run(scale: int) -> bytes:
    """A block, then 16 MiB x scale of ff bytes, then the namespace's EOF block."""
    head = _prelude([("bench", "c")]) + _header("bench", "c") + bson.encode({"_id": 1}) + TERM
    return head + b"\xff" * (16 * MIB * scale) + _header("bench", "c", True) + TERM


def pattern_16mib_no_nul(scale: int) -> bytes:
    """8 MiB x scale + 16 MiB of 1,000-byte units: a header, a 16 MiB length, filler.

    16 MiB is 216 modulo 1,000, so each claimed document ends in the filler of a later
    unit and fails its NUL check.  The last 16 MiB only give the lengths room (the
    stream ends inside the first claimed document there), so 8 MiB x scale is checked.
    """
    header = _header("bench", "c")
    unit = header + (16 * MIB).to_bytes(4, "little")
    unit += b"\x01" * (1000 - len(unit))
    return _prelude([("bench", "c")]) + unit * ((8 * scale + 16) * MIB // 1000)


def pattern_zeros(scale: int) -> bytes:
    """The magic and a prelude, then 32 MiB x scale of zeros."""
    return _prelude([("bench", "c")]) + b"\x00" * (32 * MIB * scale)


def _read_expecting_error(data: bytes) -> None:
    try:
        with mongoarchive.open(io.BytesIO(data)) as archive:
            archive.validate()
    except mongoarchive.MongoArchiveError:
        return
    raise AssertionError("the pattern was expected to be refused")


def _check_unbounded(data: bytes) -> None:
    assert not check_archive(io.BytesIO(data), max_damage=None).ok()


PATTERNS: dict[str, tuple[Callable[[int], bytes], Callable[[bytes], None]]] = {
    "timeseries-prelude": (pattern_timeseries_prelude, _read_expecting_error),
    "namespaces-x-resyncs": (pattern_namespaces_x_resyncs, _check_unbounded),
    "ff-run": (pattern_ff_run, _check_unbounded),
    "16mib-no-nul": (pattern_16mib_no_nul, _check_unbounded),
    "zeros": (pattern_zeros, _check_unbounded),
}


def run_patterns(names: list[str], repeat: int) -> None:
    print(f"{'pattern':22s} {'1x':>8s} {'4x':>8s} {'ratio':>6s} {'MiB/s at 4x':>12s}")
    for name in names:
        build, task = PATTERNS[name]
        times = []
        size = 0
        for scale in (1, 4):
            data = build(scale)
            size = len(data)
            # CPU time of this process: on a shared machine wall time measures the neighbours.
            times.append(best_of(repeat, functools.partial(task, data), time.process_time))
        print(
            f"{name:22s} {times[0]:7.2f}s {times[1]:7.2f}s {times[1] / times[0]:6.2f} "
            f"{size / MIB / times[1]:12.1f}",
            flush=True,
        )


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
    parser.add_argument(
        "--patterns",
        nargs="?",
        const="all",
        default=None,
        metavar="NAMES",
        help=f"time the damage patterns instead (all, or some of: {', '.join(PATTERNS)})",
    )
    parser.add_argument("--salvage-patterns", action="store_true", help="time salvage's hard inputs")
    args = parser.parse_args(argv)
    if args.patterns is not None:
        names = list(PATTERNS) if args.patterns == "all" else args.patterns.split(",")
        run_patterns(names, args.repeat)
        return 0
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
