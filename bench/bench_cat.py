"""``mongoarchive cat`` beside the official ``bsondump``, run by hand (never a test): see docs/performance.md.

Writes an archive of ``--docs`` documents of about 170 bytes (ObjectId, ints,
a double, strings, a date, an array, a subdocument) in two namespaces, and a
``.bson`` file of the same documents; then times, in the same run, ``bsondump``
of mongo-tools 100.6.1 on the ``.bson`` file (canonical Extended JSON, the only
mode it has) and ``mongoarchive cat`` of the archive in both modes and with
``--bson``, output to /dev/null; then both modes again with
``MONGOARCHIVE_PURE=1`` (no compiled converter: python-bsonjs, or json_util
without it), the reference the compiled converter is measured against.  Median
wall time of ``--repeat`` runs; ratios are bsondump's time over ours.

    python bench/bench_cat.py [--docs 500000] [--repeat 3] [--dir DIR] [--oracle DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mongoarchive  # noqa: E402


def documents(count: int) -> list[bytes]:
    rng = random.Random(170)
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    out = []
    for i in range(count):
        doc = {
            "_id": bson.ObjectId(),
            "n": i,
            "x": rng.random() * 1000,
            "name": f"user-{i}",
            "when": start + datetime.timedelta(seconds=i),
            "tags": ["a", "b\u00e9"],
            "sub": {"k": rng.randint(0, 1 << 40), "ok": bool(i & 1)},
            "pad": "p" * 34,
        }
        out.append(bson.encode(doc))
    return out


def make_inputs(folder: Path, count: int) -> tuple[Path, Path, int]:
    sample = documents(4096)
    archive, plain = folder / "cat.archive", folder / "cat.bson"
    total = 0
    with mongoarchive.open(archive, "w", server_version="7.0.0") as out, plain.open("wb") as bsonfile:
        colls = [out.add_collection("bench", f"c{i}", metadata="{}") for i in range(2)]
        for i in range(count):
            raw = sample[i % len(sample)]
            colls[(i // 1000) % 2].write(raw)
            bsonfile.write(raw)
            total += len(raw)
    return archive, plain, total


def timed(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(median wall seconds, peak RSS MiB of the largest child so far)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the inputs go (default: a temporary directory)")
    parser.add_argument("--oracle", default=str(ROOT.parent / "shared" / "oracle" / "100.6.1"))
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench-cat-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        archive, plain, total = make_inputs(folder, args.docs)
        print(f"{args.docs} documents, {total / args.docs:.0f} B each on average, {total} bytes")
        cli = [sys.executable, "-m", "mongoarchive", "cat"]
        rows: list[tuple[str, list[str], dict[str, str] | None]] = []
        bsondump = Path(args.oracle) / "bsondump"
        if bsondump.exists():
            rows.append(("bsondump 100.6.1 (canonical)", [str(bsondump), "--quiet", str(plain)], None))
        else:
            print(f"no bsondump at {bsondump}: no ratios, our figures only", file=sys.stderr)
        pure = {**os.environ, "MONGOARCHIVE_PURE": "1"}
        rows += [
            ("cat --json canonical", [*cli, "--json", "canonical", str(archive)], None),
            ("cat (relaxed)", [*cli, str(archive)], None),
            ("cat --bson", [*cli, "--bson", str(archive)], None),
            ("cat --json canonical, MONGOARCHIVE_PURE=1", [*cli, "--json", "canonical", str(archive)], pure),
            ("cat (relaxed), MONGOARCHIVE_PURE=1", [*cli, str(archive)], pure),
        ]
        reference = None
        print(f"median of {args.repeat} runs, output to /dev/null")
        print("| run | seconds | documents/s | x bsondump |")
        print("|---|---:|---:|---:|")
        for name, cmd, env in rows:
            seconds, _ = timed(cmd, args.repeat, env)
            if reference is None and name.startswith("bsondump"):
                reference = seconds
            ratio = f"{reference / seconds:.2f}" if reference else "-"
            print(f"| {name} | {seconds:.2f} | {args.docs / seconds:,.0f} | {ratio} |")
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
