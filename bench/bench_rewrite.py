"""Throughput and peak memory of filter, copy and unpack beside check, cat and archref, run by hand.

The input is made by the official writer in a temporary directory (removed
afterwards, never committed)::

    archref gen IN --collections 8 --docs N --docsize 1000 --seed 1 --parallel 1

with N chosen so that IN is about ``--size-mib`` MiB.  Each verb then runs as
a subprocess of ``python -m mongoarchive`` under ``/usr/bin/time -v``
(``resource.getrusage`` of the children where it is missing); outputs go to
the same temporary directory and are deleted between runs.  The row
``cat > file, sync`` is the cost of writing the output at all (filter syncs
its output before moving it into place).  Printed: seconds,
MB/s, the ratio of each time to check's and to cat's, and peak RSS, as a
Markdown table, then the exact copy (``mongoarchive.copy``, through the
writer) beside the official ``archref rewrite IN OUT`` of the same run.
Targets: a rename-only filter costs at most 1.5x check, the copy runs at
least 2x as fast as archref rewrite, and no verb peaks over 64 MiB.  Cases
run in turns (one run of each, then the next round) so that a slow spell of
the machine hits every case alike; the fastest run of each is kept.

    nice python bench/bench_rewrite.py [--size-mib 1024] [--repeat 3] [--archref PATH] [--dir DIR]
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
TARGET_RSS_MIB = 64
TARGET_FILTER_RATIO = 1.5
TARGET_COPY_SPEEDUP = 2.0
#: Bytes per document of ``archref gen --docsize 1000`` (measured: 803,167 bytes for 800).
DOC_BYTES = 1004
ARCHREF = Path(__file__).resolve().parents[2] / "shared" / "oracle" / "100.18.0" / "archref"
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


@dataclass(frozen=True)
class Case:
    name: str
    #: The command; ``{in}`` and ``{out}`` are replaced by the input and a fresh output path.
    argv: tuple[str, ...]
    verb: bool = True


CASES = (
    Case("cat", ("cat", "{in}"), verb=False),
    # What writing the output costs by itself: a filter writes it and syncs it before the rename.
    Case("cat > file, sync", ("sh", "-c", 'cat "$0" > "$1" && sync "$1"', "{in}", "{out}"), verb=False),
    Case("check", ("check", "{in}")),
    Case("filter, rename only", ("filter", "{in}", "{out}", "--nsFrom", "gen.*", "--nsTo", "renamed.*")),
    # The same to standard output (/dev/null): the cost of the rewrite without writing a file.
    Case(
        "filter, rename only, to /dev/null",
        ("filter", "{in}", "-", "--nsFrom", "gen.*", "--nsTo", "renamed.*"),
    ),
    Case(
        "filter, exclude + rename",
        ("filter", "{in}", "{out}", "--nsExclude", "gen.c0003", "--nsFrom", "gen.*", "--nsTo", "renamed.*"),
    ),
    Case("filter, no transform", ("filter", "{in}", "{out}")),
    Case("unpack", ("unpack", "{in}", "{out}")),
    # The exact copy through the writer, and the official tools' own read + write of the same input.
    Case(
        "copy (mongoarchive.copy)",
        (
            sys.executable,
            "-c",
            "import sys, mongoarchive; mongoarchive.copy(sys.argv[1], sys.argv[2])",
            "{in}",
            "{out}",
        ),
        verb=False,
    ),
    Case("archref rewrite", ("{archref}", "rewrite", "{in}", "{out}"), verb=False),
)


def generate(archref: Path, path: Path, size_mib: int) -> None:
    docs = max(1, size_mib * MIB // (8 * DOC_BYTES))
    shape = ["--collections", "8", "--docs", str(docs), "--docsize", "1000", "--seed", "1", "--parallel", "1"]
    subprocess.run([str(archref), "gen", str(path), *shape], check=True)


def measure(case: Case, src: Path, out: Path, archref: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one run of ``case``; its output is removed afterwards."""
    argv = [
        a.replace("{in}", str(src)).replace("{out}", str(out)).replace("{archref}", str(archref))
        for a in case.argv
    ]
    command = [sys.executable, "-m", "mongoarchive", *argv] if case.verb else argv
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer is not None:
        command = [timer, "-v", *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{case.name} failed: {stderr[-2000:]}")
    found = _MAX_RSS.search(stderr)
    # Without time(1), ru_maxrss of the children is the largest of any child so far.
    kib = (
        int(found.group(1)) if found else max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    )
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    return seconds, kib / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the input (default 1024)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest is kept")
    parser.add_argument("--archref", type=Path, default=ARCHREF, help="the official archref (100.18.0)")
    parser.add_argument("--dir", help="where to put the input and outputs (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not args.archref.is_file():
        parser.error(f"archref not found at {args.archref}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-rewrite-") as tmp:
        src = Path(tmp) / "in.archive"
        generate(args.archref, src, args.size_mib)
        size = src.stat().st_size
        subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        runs: dict[str, list[tuple[float, float]]] = {case.name: [] for case in CASES}
        for _ in range(args.repeat):
            for case in CASES:
                runs[case.name].append(measure(case, src, Path(tmp) / "out", args.archref))
        rows = {name: (min(s for s, _ in got), max(r for _, r in got)) for name, got in runs.items()}
    cat_s, check_s = rows["cat"][0], rows["check"][0]
    print(f"input: {size:,} bytes ({size / MIB:.0f} MiB), best of {args.repeat}")
    print("| run | seconds | MB/s | x check | x cat | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    missed = []
    for name, (seconds, rss) in rows.items():
        mark = " (over target)" if rss > TARGET_RSS_MIB and name != "archref rewrite" else ""
        print(
            f"| {name} | {seconds:.2f} | {size / seconds / 1e6:.0f} | {seconds / check_s:.2f} | "
            f"{seconds / cat_s:.1f} | {rss:.1f} MiB{mark} |"
        )
        if mark:
            missed.append(f"{name}: peak RSS {rss:.1f} MiB > {TARGET_RSS_MIB} MiB")
    ratio = rows["filter, rename only"][0] / check_s
    if ratio > TARGET_FILTER_RATIO:
        missed.append(f"rename-only filter costs {ratio:.2f}x check > {TARGET_FILTER_RATIO}x")
    speedup = rows["archref rewrite"][0] / rows["copy (mongoarchive.copy)"][0]
    print(f"copy: {speedup:.2f}x as fast as archref rewrite (target >= {TARGET_COPY_SPEEDUP}x)")
    if speedup < TARGET_COPY_SPEEDUP:
        missed.append(f"copy is {speedup:.2f}x as fast as archref rewrite < {TARGET_COPY_SPEEDUP}x")
    for line in missed:
        print(f"target missed: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
