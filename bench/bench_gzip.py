"""gzip reading and writing, run by hand (never a test): see docs/performance.md.

Reading: ``mongoarchive check -q IN.gz`` (inflating in its second thread), the
same check with the inflating loop run in the reader's thread (the code
before the thread, swapped in by this script), and the official reader
``archref read --gzip --bufio --quiet`` of mongo-tools 100.6.1 on the same
file, each in a fresh process, in turns, the fastest of ``--repeat`` kept.

Writing: ``mongoarchive filter IN OUT --gzip-level N`` for isal's levels 0 to
3 (seconds, output size as a share of the input), then in one process isal's
``IGzipFile`` beside ``igzip_threaded`` (compression in a second thread) at
each level, on the same bytes.

The input is made by the official writer (``archref gen --docsize 1000``,
about ``--size-mib`` MiB) and its gzip copy by ``archref gen --gzip`` (Go's
compress/gzip, as ``mongodump --gzip`` writes) in a temporary directory.

    nice python bench/bench_gzip.py [--size-mib 256] [--repeat 3] [--archref PATH] [--dir DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1024 * 1024
DOC_BYTES = 1004  # bytes per document of ``archref gen --docsize 1000``
ARCHREF = Path(__file__).resolve().parents[2] / "shared" / "oracle" / "100.6.1" / "archref"
ROOT = Path(__file__).resolve().parents[1]

#: A child that runs check with the inflating loop in the reader's thread (as before the thread).
ONE_THREAD = """
import sys
import mongoarchive._io as io_module

class OneThread:
    def __init__(self, raw):
        self._inflater = io_module._Inflater(raw)
        self._out = memoryview(b"")
        self._failed = None

    def readinto(self, buf):
        while not self._out:
            if self._failed is not None:
                raise self._failed
            try:
                chunk = self._inflater._inflate_more()
            except Exception as exc:
                self._failed = exc
                raise
            if chunk is None:
                return 0
            self._out = memoryview(chunk)
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self):
        pass

io_module._Gunzip = OneThread
from mongoarchive.cli import main
sys.exit(main(sys.argv[1:]))
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
    return elapsed


def gen(archref: Path, out: Path, size_mib: int, gzip: bool) -> None:
    docs = max(1, size_mib * MIB // DOC_BYTES // 8)
    cmd = [str(archref), "gen", str(out), "--collections", "8", "--docs", str(docs)]
    cmd += ["--docsize", "1000", "--seed", "1", "--parallel", "1"] + (["--gzip"] if gzip else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def reading(plain: Path, packed: Path, archref: Path, repeat: int) -> None:
    cases = {
        "archref read --gzip --bufio": [str(archref), "read", "--gzip", "--bufio", "--quiet", str(packed)],
        "check, one thread (before)": [sys.executable, "-c", ONE_THREAD, "check", "-q", str(packed)],
        "check, inflating thread": [sys.executable, "-m", "mongoarchive", "check", "-q", str(packed)],
    }
    best = {name: float("inf") for name in cases}
    for _ in range(repeat):
        for name, cmd in cases.items():
            best[name] = min(best[name], timed(cmd))
    ref = best["archref read --gzip --bufio"]
    size = plain.stat().st_size
    print(f"\nreading {packed.stat().st_size:,} gzip bytes ({size:,} inflated), best of {repeat}")
    print("| run | seconds | inflated MB/s | x archref |")
    print("|---|---:|---:|---:|")
    for name, secs in best.items():
        print(f"| {name} | {secs:.2f} | {size / secs / 1e6:.0f} | {ref / secs:.2f} |")


def writing(plain: Path, work: Path, repeat: int) -> None:
    size = plain.stat().st_size
    print(f"\nwriting gzip of {size:,} bytes: filter IN OUT --gzip-level N, best of {repeat}")
    print("| level | seconds | MB/s | size / input |")
    print("|---|---:|---:|---:|")
    for level in range(4):
        out = work / f"out{level}.archive.gz"
        secs = float("inf")
        for _ in range(repeat):
            out.unlink(missing_ok=True)
            cmd = [
                sys.executable,
                "-m",
                "mongoarchive",
                "filter",
                str(plain),
                str(out),
                "--gzip-level",
                str(level),
            ]
            secs = min(secs, timed(cmd))
        print(f"| {level} | {secs:.2f} | {size / secs / 1e6:.0f} | {out.stat().st_size / size:.3f} |")
        out.unlink()
    from isal import igzip, igzip_threaded

    data = plain.read_bytes()
    print("\nin one process, the same bytes in 1 MiB writes to a null sink, best of the runs:")
    print("| level | IGzipFile MB/s | igzip_threaded MB/s |")
    print("|---|---:|---:|")
    for level in range(4):
        rates = []
        for threaded in (False, True):
            best = float("inf")
            for _ in range(repeat):
                sink = io.BytesIO()
                t0 = time.perf_counter()
                if threaded:
                    gz = igzip_threaded.open(sink, "wb", compresslevel=level, threads=1)
                else:
                    gz = igzip.IGzipFile(fileobj=sink, mode="wb", compresslevel=level, mtime=0)
                view = memoryview(data)
                for i in range(0, len(data), MIB):
                    gz.write(view[i : i + MIB])
                    if sink.tell() > 64 * MIB:  # keep memory flat: only the rate counts
                        sink.seek(0)
                        sink.truncate()
                gz.close()
                best = min(best, time.perf_counter() - t0)
            rates.append(len(data) / best / 1e6)
        print(f"| {level} | {rates[0]:.0f} | {rates[1]:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--archref", default=str(ARCHREF))
    parser.add_argument("--dir", default=None, help="keep the inputs here (made if missing)")
    parser.add_argument("--only", choices=("read", "write"), default=None)
    args = parser.parse_args()
    archref = Path(args.archref)
    if not os.access(archref, os.X_OK):
        raise SystemExit(f"the official tools are absent ({archref}): nothing to compare with")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-gzip-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        plain, packed = work / f"in{args.size_mib}.archive", work / f"in{args.size_mib}.archive.gz"
        if not plain.exists():
            gen(archref, plain, args.size_mib, gzip=False)
        if not packed.exists():
            gen(archref, packed, args.size_mib, gzip=True)
        print(f"load average at start: {os.getloadavg()[0]:.1f} (2-core machine)")
        if args.only in (None, "read"):
            reading(plain, packed, archref, args.repeat)
        if args.only in (None, "write"):
            writing(plain, work, args.repeat)
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
