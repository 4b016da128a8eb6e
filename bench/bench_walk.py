"""``check`` against ``ArchiveReader.validate()`` on one intact archive, run by hand (never a test).

Both walk the same stream with the same framing loop (``_walk``); check only
adds recording.  The archive (~200-byte documents, 1 GiB by default) is written
once by bench_core's writer; then validate and check take turns, each in a fresh
process, and the best of ``--repeat`` runs of each is compared.  Usage:

    python bench/bench_walk.py [--size-mib 1024] [--doc-size 200] [--repeat 5] [--dir bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

MIB = 1024 * 1024


def child(kind: str, path: str) -> None:
    import mongoarchive
    from mongoarchive.checker import check_archive

    t0 = time.perf_counter()
    if kind == "validate":
        with mongoarchive.open(path) as archive:
            ok = all(s.crc == "ok" for s in archive.validate().values())
    else:
        ok = check_archive(path).ok(strict=True)
    dt = time.perf_counter() - t0
    assert ok
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": dt, "peak_rss": peak}))


def run(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--doc-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best is kept")
    parser.add_argument("--dir", default=str(Path(__file__).parent / "out"))
    parser.add_argument("--keep", action="store_true", help="keep the generated archive")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, f"walk-{args.doc_size}.archive")
    if not os.path.exists(path):
        bench_core = str(Path(__file__).parent / "bench_core.py")
        subprocess.run(
            [
                sys.executable,
                bench_core,
                "--child",
                "write",
                path,
                str(args.doc_size),
                str(args.size_mib * MIB),
            ],
            check=True,
            capture_output=True,
        )
    size = os.path.getsize(path)
    runs: dict[str, list[dict[str, float]]] = {"validate": [], "check": []}
    for _ in range(args.repeat):
        for kind in runs:  # alternating, so both see the same machine load
            runs[kind].append(run("--child", kind, path))
    best = {kind: min(r["seconds"] for r in rs) for kind, rs in runs.items()}
    row = {
        "archive_bytes": size,
        "doc_size": args.doc_size,
        "validate_s": [round(r["seconds"], 3) for r in runs["validate"]],
        "check_s": [round(r["seconds"], 3) for r in runs["check"]],
        "validate_MBps": round(size / best["validate"] / 1e6),
        "check_MBps": round(size / best["check"] / 1e6),
        "check_over_validate": round(best["check"] / best["validate"], 3),
        "peak_rss_MiB": {k: round(max(r["peak_rss"] for r in rs) / MIB, 1) for k, rs in runs.items()},
    }
    print(json.dumps(row))
    if not args.keep:
        os.unlink(path)


if __name__ == "__main__":
    main()
