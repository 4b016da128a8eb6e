"""Start-up time of the command, run by hand (never a test): see docs/performance.md.

Medians of whole-process wall times, warm cache: ``mongoarchive --version``,
``mongoarchive check`` of a 1 KB archive, and in the same run the references
``python -c pass``, ``python -c "import bson"`` and the official reader
(``archref read``, mongo-tools 100.6.1) on the same file, when
``../shared/oracle`` is there.  Usage:

    python -m compileall -q mongoarchive   # as an installed package has it
    python bench/bench_start.py [--runs 7] [--oracle DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "spec" / "vectors" / "valid" / "base-two-namespaces.archive"


def median_seconds(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # warm up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--oracle", default=str(ROOT.parent / "shared" / "oracle" / "100.6.1"))
    args = parser.parse_args()
    script = shutil.which("mongoarchive") or ""
    cli = [script] if script else [sys.executable, "-m", "mongoarchive"]
    rows: list[tuple[str, list[str]]] = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import bson'", [sys.executable, "-c", "import bson"]),
        ("mongoarchive --version", [*cli, "--version"]),
        (f"mongoarchive check ({ARCHIVE.stat().st_size} B)", [*cli, "check", str(ARCHIVE)]),
    ]
    archref = Path(args.oracle) / "archref"
    if archref.exists():
        rows.append(("archref read (official reader)", [str(archref), "read", "--quiet", str(ARCHIVE)]))
    else:
        print(f"no official reader at {archref}: its row is left out", file=sys.stderr)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # Each run then compiles every module from source (tens of milliseconds), which an
        # installed package does not: pip writes the bytecode at install time.
        print(
            "PYTHONDONTWRITEBYTECODE is set: run 'python -m compileall -q mongoarchive' first",
            file=sys.stderr,
        )
    print(f"command: {' '.join(cli)}; median of {args.runs} runs")
    print("| run | median wall s |")
    print("|---|---:|")
    for name, cmd in rows:
        print(f"| {name} | {median_seconds(cmd, args.runs):.3f} |")


if __name__ == "__main__":
    main()
