"""Benchmark of ``export`` beside bsondump 100.6.1 on the same documents, run by hand (never a test).

Writes an archive of about ``--size-mib`` MiB of documents of ~250 bytes
(ObjectId, int32, int64, double, string, date, an embedded document, an
array) and the same documents as one ``.bson`` file, then times, each in a
fresh process, ``bsondump --quiet FILE.bson > /dev/null`` (BSON to JSON,
the reference) and ``mongoarchive export ARCHIVE DIR --format F`` for each
format, and prints BSON MB/s, the ratio to bsondump and the peak RSS of each
process.  See docs/performance.md.  Usage:

    nice python bench/bench_export.py [--size-mib 256] [--dir bench/out] [--repeat 3]
        [--bsondump ../shared/oracle/100.6.1/bsondump] [--formats parquet,parquet:j2,jsonl]

``parquet:j2`` is Parquet with ``--jobs 2``; "with workers" is the peak of
the summed RSS of the command and its worker processes (sampled).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bson

MIB = 1024 * 1024


def make_documents(count: int = 4096) -> list[bytes]:
    rng = random.Random(1)
    start = datetime.datetime(2024, 1, 1)
    docs = []
    for i in range(count):
        doc = {
            "_id": bson.ObjectId(),
            "n": i,
            "big": bson.Int64(rng.getrandbits(48)),
            "x": rng.random(),
            "name": f"customer-{i}",
            "when": start + datetime.timedelta(seconds=rng.randrange(10**8)),
            "address": {"city": rng.choice(["Oslo", "Lima", "Pune"]), "zip": f"{rng.randrange(10**5):05d}"},
            "tags": [rng.choice("abcdef") for _ in range(3)],
            "note": rng.randbytes(40).hex(),
        }
        docs.append(bson.encode(doc))
    return docs


def write_inputs(folder: Path, size: int) -> tuple[Path, Path, int]:
    import mongoarchive

    docs = make_documents()
    archive, plain = folder / "bench.archive", folder / "bench.bson"
    written = 0
    with mongoarchive.open(archive, "w", server_version="8.0.3", tool_version="bench") as out, plain.open(
        "wb"
    ) as raw:
        coll = out.add_collection("bench", "c", metadata="{}")
        i = 0
        while written < size:
            doc = docs[i % len(docs)]
            coll.write(doc)
            raw.write(doc)
            written += len(doc)
            i += 1
    return archive, plain, written


def timed(cmd: list[str], stdout: int | None = None) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of ``cmd`` run in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=stdout)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(after, before)


def rss_of(cmd: list[str]) -> int:
    """Peak RSS (KiB) of ``cmd``, as a wrapper process sees its child's."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def tree_rss(cmd: list[str]) -> int:
    """Peak of the summed RSS (KiB) of ``cmd`` and its descendants (its session), sampled every 20 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    peak = 0
    while proc.poll() is None:
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[3]) == proc.pid:  # the session id
                    total += int(stat[21]) * os.sysconf("SC_PAGE_SIZE") // 1024  # rss, in pages
            except (OSError, ValueError, IndexError):
                continue
        peak = max(peak, total)
        time.sleep(0.02)
    return peak


def export_cmd(archive: Path, out: Path, fmt: str) -> list[str]:
    """``FORMAT`` or ``FORMAT:jN`` (with ``--jobs N``)."""
    fmt, _, jobs = fmt.partition(":j")
    cmd = [sys.executable, "-m", "mongoarchive", "-q", "export", str(archive), str(out), "--format", fmt]
    return cmd + (["--jobs", jobs] if jobs else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--dir", default="bench/out")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bsondump", default="../shared/oracle/100.6.1/bsondump")
    parser.add_argument("--formats", default="parquet,arrow,jsonl")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    archive, plain, size = write_inputs(folder, args.size_mib * MIB)
    print(f"input: {size / MIB:.0f} MiB of BSON, {archive.stat().st_size / MIB:.0f} MiB archive")
    runs: dict[str, list[float]] = {}
    rss: dict[str, int] = {}
    tree: dict[str, int] = {}  # the command and its worker processes together
    with open(os.devnull, "wb") as null:
        for _ in range(args.repeat):
            seconds, _ = timed([args.bsondump, "--quiet", str(plain)], stdout=null.fileno())
            runs.setdefault("bsondump", []).append(seconds)
            for fmt in args.formats.split(","):
                out = folder / f"export-{fmt.replace(':', '-')}"
                shutil.rmtree(out, ignore_errors=True)
                seconds, _ = timed(export_cmd(archive, out, fmt))
                runs.setdefault(fmt, []).append(seconds)
    for fmt in args.formats.split(","):
        out = folder / f"export-rss-{fmt.replace(':', '-')}"
        shutil.rmtree(out, ignore_errors=True)
        rss[fmt] = rss_of(export_cmd(archive, out, fmt))
        shutil.rmtree(out, ignore_errors=True)
        tree[fmt] = tree_rss(export_cmd(archive, out, fmt))
    rss["bsondump"] = rss_of([args.bsondump, "--quiet", str(plain)])
    tree["bsondump"] = rss["bsondump"]
    ref = min(runs["bsondump"])
    for name, times in runs.items():
        best = min(times)
        print(
            f"{name:10s} best {best:6.2f} s  {size / best / 1e6:7.1f} MB/s  "
            f"x{ref / best:5.2f} of bsondump  peak RSS {rss[name] / 1024:4.0f} MiB "
            f"(with workers {tree[name] / 1024:4.0f})  "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)})"
        )


if __name__ == "__main__":
    main()
