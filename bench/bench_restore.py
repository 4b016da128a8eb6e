"""Restore throughput beside the official mongorestore, same archive, same server (run by hand).

    nice python bench/bench_restore.py [--docs 200000] [--collections 4] [--doc-bytes 512]
                                       [--rounds 2] [--release 100.18.0] [-j 4] [--validator] [--trace]

Writes a synthetic archive, starts a SecantusDB server in a temporary
directory, then, alternating for ``--rounds`` rounds so both tools see the
same machine load, restores it with ``mongorestore --archive --drop`` and with
``mongoarchive.restore(drop=True)`` in its default (atomic) mode and with
``atomic=False``, and prints documents/s for each and the ratios against
mongorestore measured in the same run.

Every run gets a fresh server (started untimed), so no tool pays for what an
earlier run left (SecantusDB's oplog and tables grow with every restore), and
each round runs the tools in another order.
Both tools get the same ``-j``, one insertion worker per collection, batches of
1000 documents and the server's default write concern.  Besides wall time it
prints the CPU seconds the server process spent (from /proc): SecantusDB is
Python and shares the machine's cores with the client, so a client that uses
less CPU leaves more to the server.

``--trace`` puts a proxy (wire_trace.py) between each tool and the server and
prints, after each run, the commands it sent: inserts with their documents per
command, ``ordered`` and ``writeConcern``, how many were in flight at once, and
every other command with its time.  The proxy costs time: the figures of a
traced run are for comparing the traffic, not the speed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dumpserver import ORACLE, SecantusServer
from wire_trace import WireTrace

import mongoarchive


def client_cpu() -> float:
    """CPU seconds (user + system) of this process and of the children it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def server_cpu(server: SecantusServer) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_archive(path: Path, docs: int, collections: int, doc_bytes: int, validator: bool = False) -> None:
    """``docs`` documents over ``collections``; with ``validator`` each collection has one (an option,
    so an atomic restore on a server whose rename drops options copies instead of renaming)."""
    pad = "p" * max(0, doc_bytes - 40)
    meta: dict[str, object] = {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]}
    if validator:
        meta["options"] = {"validator": {"v": {"$exists": True}}}
    with mongoarchive.open(path, "w", server_version="8.2.11") as out:
        writers = [out.add_collection("bench", f"c{c}", meta) for c in range(collections)]
        for i in range(docs):
            writers[i % collections].write({"_id": i, "v": i * 0.5, "pad": pad})


def official(release: str, port: int, archive: Path, jobs: int) -> float:
    exe = ORACLE / release / "mongorestore"
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(exe),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--drop",
            f"--archive={archive}",
            "-j",
            str(jobs),
            "--numInsertionWorkersPerCollection=1",
            "--batchSize=1000",
        ],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return seconds


def ours(port: int, archive: Path, jobs: int, atomic: bool) -> float:
    started = time.perf_counter()
    result = mongoarchive.restore(
        archive,
        uri=f"mongodb://127.0.0.1:{port}/?directConnection=true",
        drop=True,
        parallel=jobs,
        insertion_workers=1,
        batch_size=1000,
        atomic=atomic,
    )
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(str(result.errors))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--collections", type=int, default=4)
    parser.add_argument("--doc-bytes", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--release", default="100.18.0")
    parser.add_argument("-j", type=int, default=4)
    parser.add_argument("--validator", action="store_true", help="give every collection a validator")
    parser.add_argument("--trace", action="store_true", help="print each run's commands (slower: a proxy)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "bench.archive"
        write_archive(archive, args.docs, args.collections, args.doc_bytes, args.validator)
        runs: dict[str, Callable[[int], float]] = {
            "mongorestore": lambda port: official(args.release, port, archive, args.j),
            "ours (atomic)": lambda port: ours(port, archive, args.j, True),
            "ours (--no-atomic)": lambda port: ours(port, archive, args.j, False),
        }
        names = list(runs)
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        own: dict[str, list[float]] = {name: [] for name in runs}
        for number in range(args.rounds):
            # Each round in another order, so no tool always runs on the more loaded end of one.
            for name in names[number % len(names) :] + names[: number % len(names)]:
                # A fresh server for every run: SecantusDB's oplog and tables grow with each restore,
                # and a later run on the same server paid measurably more server CPU for the same work.
                storage = Path(tmp) / f"server-{number}-{names.index(name)}"
                server = SecantusServer(storage).start()
                try:
                    trace = WireTrace(server.port) if args.trace else None
                    port = trace.port if trace is not None else server.port
                    before, mine = server_cpu(server), client_cpu()
                    times[name].append(runs[name](port))
                    cpu[name].append(server_cpu(server) - before)
                    # RUSAGE_CHILDREN grows by mongorestore's CPU only: the server is waited for
                    # (and counted) when it stops, after this.
                    own[name].append(client_cpu() - mine)
                    if trace is not None:
                        print(f"{name}:", *trace.summary(), sep="\n  ", flush=True)
                        trace.close()
                finally:
                    server.stop()
                    shutil.rmtree(storage, ignore_errors=True)
    size = args.docs * args.doc_bytes
    reference = statistics.median(times["mongorestore"])
    print(
        f"{args.docs} documents of ~{args.doc_bytes} B in {args.collections} collections "
        f"(~{size / 1e6:.0f} MB), -j {args.j}, {args.rounds} rounds, mongorestore {args.release}"
        + (", with validators" if args.validator else "")
    )
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:20s} {median:7.2f} s  {args.docs / median:9.0f} docs/s  "
            f"ratio {reference / median:.2f}x  server CPU {statistics.median(cpu[name]):5.2f} s  "
            f"client CPU {statistics.median(own[name]):5.2f} s  "
            f"(runs: {', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
