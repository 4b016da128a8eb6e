"""Build the seed corpora under fuzz/corpus/ (or a given directory).

    python fuzz/build_corpus.py [OUT_DIR]

``archive/`` holds every spec/vectors/**/*.archive plus small archives written
here with mongoarchive's writer (plain, gzip, views, timeseries, oplog, empty
namespaces) and a few damaged copies; ``metadata/`` holds inputs for
fuzz_metadata.py (a target byte, then a metadata string or header document).
File names are content hashes, so rebuilding is idempotent.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import bson
from bson.int64 import Int64

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

import mongoarchive  # noqa: E402
from mongoarchive.errors import MongoArchiveError  # noqa: E402

SPEC_VECTORS = REPO_ROOT / "spec" / "vectors"
METADATA = (
    '{"options":{},"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],'
    '"uuid":"0123456789abcdef0123456789abcdef","collectionName":"%s","type":"collection"}'
)


def _archive(
    collections: list[tuple[str, str, str | None, list[dict[str, object]]]],
    *,
    server: str = "7.0.0",
    gzip: bool = False,
) -> bytes:
    out = io.BytesIO()
    with mongoarchive.open(out, "w:gz" if gzip else "w", server_version=server, tool_version="seed") as w:
        writers = [
            (w.add_collection(db, coll, METADATA % coll, type=kind), docs)
            for db, coll, kind, docs in collections
        ]
        for ns_writer, docs in writers:
            for doc in docs:
                ns_writer.write(doc)
            ns_writer.close()
    return out.getvalue()


def generated() -> Iterator[bytes]:
    """Small valid archives covering every kind of namespace, then damaged copies."""
    docs = [{"_id": i, "name": f"n{i}", "tags": ["a", "b"], "sub": {"x": 1.5}} for i in range(3)]
    yield _archive([])
    yield _archive([("test", "c", "collection", docs)])
    yield _archive([("test", "c", "collection", docs)], gzip=True)
    yield _archive([("test", "empty", "collection", [])])
    yield _archive(
        [
            ("test", "a", "collection", docs[:1]),
            ("test", "v", "view", []),
            ("test", "ts", "timeseries", [{"t": 1, "m": 2}]),
            ("", "oplog", "", [{"ts": 1, "op": "i"}]),
        ],
        server="7.0.0",
    )
    yield _archive([("admin", "system.users", "", [{"user": "u", "db": "admin"}])], server="8.3.0")
    base = _archive([("test", "c", "collection", docs), ("db2", "d", "collection", docs[:2])])
    yield base
    yield base[: len(base) // 2]  # truncated
    flipped = bytearray(base)
    flipped[-60] ^= 0x10
    yield bytes(flipped)  # bit rot in the last namespace
    cut = base.index(b"\xff\xff\xff\xff") + 4
    yield base[:cut] + b"2024-01-01T00:00:00.000+0000 I NETWORK connection accepted\n" + base[cut:]
    yield base + base  # two archives concatenated


def vectors() -> Iterator[bytes]:
    for path in sorted(SPEC_VECTORS.rglob("*.archive")):
        yield path.read_bytes()


def metadata_inputs(archives: list[bytes]) -> Iterator[bytes]:
    """fuzz_metadata inputs: target byte 0..3, then the string or document."""
    yield b"\x00" + (METADATA % "c").encode()
    yield b"\x00" + b'{"options":{"capped":true,"size":{"$numberLong":"4096"}},"indexes":[]}'
    yield b"\x00" + b'{"options":{},"indexes":[{"v":1,"key":{"_id":1},"name":"_id_","ns":"a.b"}]}'
    yield b"\x00" + b'{"options":{"viewOn":"c","pipeline":[{"$match":{"x":1}}]},"indexes":[],"type":"view"}'
    yield b"\x01" + bson.encode(
        {"db": "d", "collection": "c", "metadata": METADATA % "c", "size": 0, "type": "collection"}
    )
    yield b"\x02" + bson.encode({"db": "d", "collection": "c", "EOF": True, "CRC": Int64(-5)})
    yield b"\x03" + bson.encode(
        {"concurrent_collections": 4, "version": "0.1", "server_version": "7.0.0", "tool_version": "100.9.4"}
    )
    for data in archives:
        try:
            with mongoarchive.open(io.BytesIO(data)) as archive:
                for entry in archive.collections:
                    yield b"\x00" + entry.metadata.encode("utf-8", "replace")
        except MongoArchiveError:
            continue


def write_dir(folder: Path, items: Iterator[bytes]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for data in items:
        name = hashlib.sha1(data).hexdigest()[:16]
        (folder / name).write_bytes(data)
        count += 1
    return count


def build(out: Path) -> dict[str, int]:
    """Write the corpora under ``out``; returns the number of inputs per corpus."""
    archives = [*vectors(), *generated()]
    return {
        "archive": write_dir(out / "archive", iter(archives)),
        "metadata": write_dir(out / "metadata", metadata_inputs(archives)),
    }


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else FUZZ_DIR / "corpus"
    counts = build(target)
    print(", ".join(f"{k}: {v} inputs" for k, v in counts.items()), "in", target)
