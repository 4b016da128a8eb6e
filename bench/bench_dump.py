"""Dump throughput beside a plain pymongo find of the same data (run by hand, not a test).

    python bench/bench_dump.py [--size-mb 1024] [--collections 8] [--doc-bytes 1024] [-j 4]
                               [--uri URI]   # default: start a SecantusDB server in a temp dir

Seeds the database (unless --uri points at one already seeded with --keep), then
in the same run measures (1) a plain find of every collection with
RawBSONDocument, one after the other, and (2) ``mongoarchive.dump`` with ``-j``
workers into /dev/null-like memory sink, and prints documents/s, MB/s and the
ratio dump/find.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mongoarchive.dump import dump

DB = "benchdb"


class NullSink:
    """Counts bytes, keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        return None


def seed(uri: str, size_mb: int, collections: int, doc_bytes: int) -> None:
    per_coll = size_mb * 1024 * 1024 // collections // doc_bytes
    pad = "p" * (doc_bytes - 60)
    with MongoClient(uri) as client:
        client.drop_database(DB)
        for c in range(collections):
            coll = client[DB][f"c{c}"]
            batch = []
            for i in range(per_coll):
                batch.append({"_id": i, "c": c, "v": i * 0.5, "pad": pad})
                if len(batch) == 5000:
                    coll.insert_many(batch, ordered=False)
                    batch = []
            if batch:
                coll.insert_many(batch, ordered=False)


def plain_find(uri: str) -> tuple[int, int, float]:
    docs = nbytes = 0
    started = time.perf_counter()
    with MongoClient(uri, document_class=RawBSONDocument) as client:
        for name in sorted(client[DB].list_collection_names()):
            for doc in client[DB][name].find():
                docs += 1
                nbytes += len(doc.raw)
    return docs, nbytes, time.perf_counter() - started


def our_dump(uri: str, jobs: int) -> tuple[int, int, float]:
    sink = NullSink()
    started = time.perf_counter()
    result = dump(sink, uri=uri, db=DB, parallel=jobs)
    return result.documents, result.bytes, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--collections", type=int, default=8)
    ap.add_argument("--doc-bytes", type=int, default=1024)
    ap.add_argument("-j", type=int, default=4)
    ap.add_argument("--uri")
    ap.add_argument("--no-seed", action="store_true", help="the database is already there")
    args = ap.parse_args()
    server = None
    uri = args.uri
    if uri is None:
        from dumpserver import SecantusServer

        server = SecantusServer(Path(tempfile.mkdtemp(prefix="bench-dump-"))).start()
        uri = server.uri
    try:
        if not args.no_seed:
            t = time.perf_counter()
            seed(uri, args.size_mb, args.collections, args.doc_bytes)
            print(
                f"seeded {args.size_mb} MB in {args.collections} collections "
                f"in {time.perf_counter() - t:.1f} s"
            )
        f_docs, f_bytes, f_s = plain_find(uri)
        d_docs, d_bytes, d_s = our_dump(uri, args.j)
        assert f_docs == d_docs and f_bytes == d_bytes, (f_docs, d_docs, f_bytes, d_bytes)
        mb = 1024 * 1024
        print(
            f"find (RawBSONDocument): {f_docs / f_s:12.0f} docs/s "
            f"{f_bytes / mb / f_s:8.1f} MB/s  ({f_s:.2f} s)"
        )
        print(
            f"dump -j {args.j}:               {d_docs / d_s:12.0f} docs/s "
            f"{d_bytes / mb / d_s:8.1f} MB/s  ({d_s:.2f} s)"
        )
        print(f"ratio dump/find: {f_s / d_s:.2f}x  ({d_docs} documents, {d_bytes / mb:.1f} MB)")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
