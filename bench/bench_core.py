"""Benchmark of the format core, run by hand (never a test): see docs/performance.md.

For documents of ~200 bytes and of ~2 KB it writes a 1 GiB archive from
pre-encoded BSON, then validates it (framing + every CRC) in a fresh process,
and reports MB/s beside ``cat FILE > /dev/null`` of the same cached file, plus
the peak RSS of each process.  Validation (``ArchiveReader.validate()``) and
the ``check`` command run twice, on the compiled loops and with
``MONGOARCHIVE_PURE=1``, beside the official reader of mongo-tools 100.6.1
(``archref read --bufio``, from ../shared/oracle) on the same file; without
the oracle the benchmark says so and reports the rest.  Usage:

    python bench/bench_core.py [--size-mib 1024] [--dir bench/out] [--repeat 3] [--archref PATH]
                               [--baseline DIR]  # e.g. a checkout of the code before
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import bson

MIB = 1024 * 1024
#: The official reader of mongo-tools 100.6.1 (../shared/oracle/README.md); absent on most machines.
ARCHREF = Path(__file__).resolve().parents[2] / "shared" / "oracle" / "100.6.1" / "archref"


def make_documents(size: int, count: int = 512) -> list[bytes]:
    """``count`` distinct BSON documents of about ``size`` bytes each."""
    rng = random.Random(size)
    docs = []
    for i in range(count):
        filler = rng.randbytes(max(0, size - 80)).hex()[: max(0, size - 80)]
        docs.append(
            bson.encode(
                {"_id": bson.ObjectId(), "n": i, "x": rng.random(), "name": f"doc-{i}", "pad": filler}
            )
        )
    return docs


def child_write(path: str, doc_size: int, total: int) -> None:
    import mongoarchive

    docs = make_documents(doc_size)
    # Runs of 4096 pre-encoded documents, as a dump worker hands them over;
    # the timed loop does nothing but call write().
    batches = [[docs[(k + j) % len(docs)] for j in range(4096)] for k in range(0, len(docs), 64)]
    sizes = [sum(map(len, batch)) for batch in batches]
    t0 = time.perf_counter()
    written = 0
    with mongoarchive.open(path, "w", server_version="8.0.3", tool_version="bench") as out:
        colls = [out.add_collection("bench", f"c{i}", metadata="{}") for i in range(2)]
        i = 0
        while written < total:
            # Two namespaces taking turns, as parallel dumps do.
            write = colls[i % 2].write
            for raw in batches[i % len(batches)]:
                write(raw)
            written += sizes[i % len(batches)]
            i += 1
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": dt, "bytes": os.path.getsize(path), "peak_rss": peak}))


def child_validate(path: str) -> None:
    import mongoarchive

    t0 = time.perf_counter()
    with mongoarchive.open(path) as archive:
        summaries = archive.validate()
    dt = time.perf_counter() - t0
    assert all(s.crc == "ok" for s in summaries.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "seconds": dt,
        "bytes": os.path.getsize(path),
        "peak_rss": peak,
        "has_c": getattr(mongoarchive, "has_c", bool)(),
    }
    print(json.dumps(out))


def env_for(pure: bool, tree: str | None = None) -> dict[str, str]:
    """The environment of a measured process: pure or compiled loops, the code of ``tree`` if given."""
    env = {**os.environ, "MONGOARCHIVE_PURE": "1" if pure else "0"}
    if tree is not None:
        env["PYTHONPATH"] = tree
    return env


def run_child(*args: str, pure: bool = False, tree: str | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env_for(pure, tree)
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def time_command(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    """Wall-clock seconds of ``cmd`` (a fresh process: start-up included), which must succeed."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=cwd)
    return time.perf_counter() - t0


def time_check(path: str, pure: bool, tree: str | None = None) -> float:
    # From ``tree`` (or the repository), which "python -m" puts first on sys.path.
    cwd = tree or str(Path(__file__).resolve().parents[1])
    return time_command([sys.executable, "-m", "mongoarchive", "check", "-q", path], env_for(pure, tree), cwd)


def time_archref(archref: str, path: str) -> float:
    return time_command([archref, "read", "--bufio", "--quiet", path])


def time_cat(path: str) -> float:
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run(["cat", path], stdout=null, check=True)
    return time.perf_counter() - t0


def baseline_rss() -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, mongoarchive, bson; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", default=str(Path(__file__).parent / "out"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--doc-sizes", default="200,2000")
    parser.add_argument("--keep", action="store_true", help="keep the generated archives")
    parser.add_argument("--archref", default=str(ARCHREF), help="the official reader (archref of 100.6.1)")
    parser.add_argument(
        "--baseline", metavar="DIR", help="also time check and validate() with the code of this checkout"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "write":
            child_write(args.child[1], int(args.child[2]), int(args.child[3]))
        else:
            child_validate(args.child[1])
        return
    os.makedirs(args.dir, exist_ok=True)
    archref = args.archref if os.access(args.archref, os.X_OK) else None
    if archref is None:
        print(f"the official reader is absent ({args.archref}): no 'x archref' figures")
    base = baseline_rss()
    print(f"interpreter + imports peak RSS: {base / MIB:.1f} MiB")
    best = min
    rows = []
    for doc_size in (int(s) for s in args.doc_sizes.split(",")):
        path = os.path.join(args.dir, f"bench-{doc_size}.archive")
        total = args.size_mib * MIB
        writes = [run_child("--child", "write", path, str(doc_size), str(total)) for _ in range(args.repeat)]
        size = os.path.getsize(path)
        time_cat(path)  # warm the page cache
        row: dict[str, float | int | None] = {"doc_size": doc_size, "archive_bytes": size}
        # Interleaved, so that a burst of load elsewhere on the machine hits every reader alike.
        times: dict[str, list[float]] = {
            k: [] for k in ("cat", "archref", "check_c", "check_pure", "check_base")
        }
        vals: dict[str, list[dict[str, float]]] = {"c": [], "pure": [], "base": []}
        for _ in range(args.repeat):
            times["cat"].append(time_cat(path))
            if archref is not None:
                times["archref"].append(time_archref(archref, path))
            times["check_c"].append(time_check(path, pure=False))
            times["check_pure"].append(time_check(path, pure=True))
            vals["c"].append(run_child("--child", "validate", path))
            vals["pure"].append(run_child("--child", "validate", path, pure=True))
            if args.baseline:
                times["check_base"].append(time_check(path, pure=False, tree=args.baseline))
                vals["base"].append(run_child("--child", "validate", path, tree=args.baseline))
        assert all(v["has_c"] for v in vals["c"]), "the compiled loops are not built: pip install -e ."
        assert not any(v["has_c"] for v in vals["pure"])
        secs = {k: best(v) for k, v in times.items() if v}
        secs["validate_c"] = best(v["seconds"] for v in vals["c"])
        secs["validate_pure"] = best(v["seconds"] for v in vals["pure"])
        if vals["base"]:
            secs["validate_base"] = best(v["seconds"] for v in vals["base"])
        for key, seconds in secs.items():
            row[f"{key}_MBps"] = round(size / seconds / 1e6)
            if "archref" in secs and key != "archref":
                row[f"{key}_x_archref"] = round(secs["archref"] / seconds, 2)
        cat_mbs = size / secs["cat"] / 1e6
        val = min(vals["c"], key=lambda r: r["seconds"])
        wri = min(writes, key=lambda r: r["seconds"])
        row.update(
            validate_ratio=round(size / val["seconds"] / 1e6 / cat_mbs, 3),
            validate_peak_rss_MiB=round(val["peak_rss"] / MIB, 1),
            write_MBps=round(size / wri["seconds"] / 1e6),
            write_ratio=round(size / wri["seconds"] / 1e6 / cat_mbs, 3),
            write_peak_rss_MiB=round(wri["peak_rss"] / MIB, 1),
        )
        rows.append(row)
        print(json.dumps(row))
        if not args.keep:
            os.unlink(path)
    print("| documents | cat MB/s | validate MB/s (x cat) | write MB/s (x cat) | peak RSS validate / write |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| ~{r['doc_size']} B | {r['cat_MBps']} | {r['validate_c_MBps']} ({r['validate_ratio']}x) | "
            f"{r['write_MBps']} ({r['write_ratio']}x) | "
            f"{r['validate_peak_rss_MiB']} / {r['write_peak_rss_MiB']} MiB |"
        )
    print()
    keys = ["check_c", "check_pure", "validate_c", "validate_pure"]
    head = "| documents | archref --bufio MB/s | check C | check pure | validate() C | validate() pure |"
    if args.baseline:
        keys += ["check_base", "validate_base"]
        head += " check baseline | validate() baseline |"
    print(head)
    print("|---" * (len(keys) + 2) + "|")
    for r in rows:
        cells = []
        for key in keys:
            ratio = r.get(f"{key}_x_archref")
            cells.append(f"{r[key + '_MBps']}" + (f" ({ratio}x)" if ratio is not None else ""))
        print(f"| ~{r['doc_size']} B | {r.get('archref_MBps', 'absent')} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
