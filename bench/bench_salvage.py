"""``salvage`` of an intact and a damaged archive, this tree against another, run by hand (never a test).

Each run is a fresh process that imports ``mongoarchive`` from this tree or
from ``--against DIR`` (a directory holding a copy of the ``mongoarchive``
package, such as the code before a change, its C extension built), salvages
one input into a file under ``--dir`` and prints its wall, user and system seconds.
The two trees take turns on each input, so both see the same machine load;
the best of ``--repeat`` runs is kept and the ratio this/against printed.
The damaged input is the intact one with a log line spliced in after every
MiB (as bench_linear.py's), so salvage resynchronises about once a MiB.

    ../shared/oracle/100.18.0/archref gen bench/out/intact-1g.archive --collections 4 \\
        --docs 1342177 --docsize 200 --seed 1 --parallel 1
    python bench/bench_salvage.py bench/out/intact-1g.archive --against /tmp/before [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MIB = 1 << 20
LOG_LINE = b"2024-05-01T10:00:00.123+0000 I NETWORK [listener] connection accepted from 10.0.0.7:51234\n"
HERE = Path(__file__).resolve().parents[1]


def child(src: str, dst: str) -> None:
    from mongoarchive.salvage import salvage

    wall, before = time.perf_counter(), os.times()
    report = salvage(src, dst, gzip=False)
    wall, after = time.perf_counter() - wall, os.times()
    user, system = after.user - before.user, after.system - before.system
    totals = report.totals()
    print(json.dumps({"wall": wall, "user": user, "sys": system, "kept": totals["documents_kept"]}))


def damaged_copy(src: Path, dst: Path) -> None:
    """``src`` with a log line spliced in after every MiB."""
    with src.open("rb") as f, dst.open("wb") as out:
        first = True
        while chunk := f.read(MIB):
            if not first:
                out.write(LOG_LINE)
            out.write(chunk)
            first = False


def run(tree: Path, src: Path, dst: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(src), str(dst)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tree),
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    dst.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("archive", nargs="?")
    parser.add_argument("--against", required=False, help="directory holding the other mongoarchive package")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=str(HERE / "bench" / "out"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if not args.archive or not args.against:
        parser.error("ARCHIVE and --against are needed")
    folder = Path(args.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    intact = Path(args.archive).resolve()
    damaged = folder / (intact.stem + "-damaged.archive")
    if not damaged.exists():
        damaged_copy(intact, damaged)
    trees = {"this": HERE, "against": Path(args.against)}
    for name, src in (("intact", intact), ("damaged", damaged)):
        runs: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
        for _ in range(args.repeat):
            for tree, path in trees.items():  # alternating: the same load for both
                runs[tree].append(run(path, src, folder / f"salvaged-{tree}.archive"))
        kept = {t: sorted({r["kept"] for r in rs}) for t, rs in runs.items()}
        best = {t: {k: min(r[k] for r in rs) for k in ("wall", "user", "sys")} for t, rs in runs.items()}
        row = {
            "input": name,
            "bytes": src.stat().st_size,
            "documents_kept": kept,
            "wall_s": {t: [round(r["wall"], 2) for r in rs] for t, rs in runs.items()},
            "user_s": {t: [round(r["user"], 2) for r in rs] for t, rs in runs.items()},
            "sys_s": {t: [round(r["sys"], 2) for r in rs] for t, rs in runs.items()},
            # User time is the code's own; system time is mostly the spool's writes.
            **{
                f"this_over_against_{k}": round(best["this"][k] / best["against"][k], 3)
                for k in ("wall", "user", "sys")
            },
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
