"""Server CPU of each step of an atomic restore on SecantusDB, per index-build order (run by hand).

    nice python bench/bench_stage_order.py [--docs 20000] [--rounds 2]

For one collection of ``--docs`` documents of about 512 B with one secondary
index (``v``), each variant runs on a fresh SecantusDB server and prints the
server CPU seconds (from /proc) of each step:

- A: staging collection, its documents, its index, then ``renameCollection``
  (what an atomic restore does);
- B: staging collection, its index first, then its documents, then the rename;
- C: the rename before the index build (leaves the target without its index
  if the build fails or the process dies: not what an atomic restore may do,
  measured only to price the index entries the rename moves);
- D: no staging: documents into the target, then the index (``--no-atomic``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bson
from bench_restore import server_cpu
from bson.raw_bson import RawBSONDocument
from dumpserver import SecantusServer
from pymongo import MongoClient

INDEXES = [{"key": {"v": 1}, "name": "v_1"}]
VARIANTS = {
    "A data, index, rename": ["create stage", "insert stage", "index stage", "rename stage"],
    "B index, data, rename": ["create stage", "index stage", "insert stage", "rename stage"],
    "C data, rename, index": ["create stage", "insert stage", "rename stage", "index target"],
    "D data, index (no staging)": ["create target", "insert target", "index target"],
}


def run(steps: list[str], docs: list[RawBSONDocument], storage: Path) -> list[tuple[str, float]]:
    server = SecantusServer(storage).start()
    client: MongoClient[RawBSONDocument] = MongoClient(server.uri, document_class=RawBSONDocument)
    db = client.bench
    parts = []
    try:
        for step in steps:
            before = server_cpu(server)
            verb, which = step.split()
            name = "stage" if which == "stage" else "t"
            if verb == "create":
                db.command("create", name)
            elif verb == "insert":
                for k in range(0, len(docs), 1000):
                    db[name].insert_many(docs[k : k + 1000], ordered=False)
            elif verb == "index":
                db.command("createIndexes", name, indexes=INDEXES)
            else:
                client.admin.command("renameCollection", "bench.stage", to="bench.t", dropTarget=True)
            parts.append((step, server_cpu(server) - before))
        assert db.t.count_documents({}) == len(docs)
    finally:
        client.close()
        server.stop()
        shutil.rmtree(storage, ignore_errors=True)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    pad = "p" * 472
    docs = [RawBSONDocument(bson.encode({"_id": i, "v": i * 0.5, "pad": pad})) for i in range(args.docs)]
    names = list(VARIANTS)
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.rounds):
            # Each round in another order, as in bench_restore.py.
            for name in names[number % len(names) :] + names[: number % len(names)]:
                parts = run(VARIANTS[name], docs, Path(tmp) / f"{number}-{names.index(name)}")
                steps = "  ".join(f"{step} {cpu:.2f}" for step, cpu in parts)
                print(f"{name:28s} server CPU {sum(c for _, c in parts):5.2f} s:  {steps}", flush=True)


if __name__ == "__main__":
    main()
