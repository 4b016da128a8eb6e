"""Reference dumps by the official mongodump of both releases, of one seeded SecantusDB server.

For each release: ``--archive`` with ``-j 1`` (one writer) and with ``-j 4``,
and ``--out`` plain and ``--gzip``, all with ``--oplog``, of the same data
(nothing writes to the server between the dumps).  Used by test_unpack.py and
test_pack.py; the fixture skips when the official tools or SecantusDB are absent.
"""

from __future__ import annotations

import datetime
import gzip
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dumpserver import SecantusServer, secantusd_path
from paths import REPO_ROOT

ORACLE = REPO_ROOT.parent / "shared" / "oracle"
RELEASES = ("100.6.1", "100.18.0")
MIB = 1024 * 1024

#: Collection names that exercise mongodump's file-name escaping (layout.py); "ü" * 124 makes
#: the longest namespace a server allows (255 bytes) and an escaped name over 238 bytes.
ODD_NAMES = ["with space", "sl/ash", "per%cent+plus", "ü" * 124, "L" * 230, "tab\there"]


def seed(client: Any) -> None:
    a = client.alpha
    a.plain.insert_many([{"_id": i, "x": "a" * (i % 50)} for i in range(300)])
    for name in ODD_NAMES:
        a[name].insert_one({"_id": 1, "name": name})
    a.create_collection("empty")
    a.command("create", "v", viewOn="plain", pipeline=[{"$match": {"x": "a"}}])
    # More than 16 MiB: the writer hands it over in several buffers (spec §9).
    a.big.insert_many([{"_id": i, "blob": "x" * MIB} for i in range(17)])
    a.plain.create_index("x", name="x_1")
    # SecantusDB accepts timeseries options but lists the collection as type "collection" and keeps
    # its documents under its own name (no system.buckets.ts): mongodump dumps it as a collection.
    a.create_collection("ts", timeseries={"timeField": "t", "metaField": "m"})
    a.ts.insert_one({"t": datetime.datetime(2024, 1, 1), "m": 1, "x": 1})
    client.beta.b.insert_many([{"_id": i} for i in range(10)])


class Dumps:
    """Paths of the reference dumps of one release."""

    def __init__(self, root: Path, release: str) -> None:
        self.release = release
        self.archive1 = root / f"{release}-j1.archive"
        self.archive4 = root / f"{release}-j4.archive"
        self.out = root / f"{release}-out"
        self.out_gz = root / f"{release}-out-gz"


def run_mongodump(release: str, uri: str, *args: str) -> None:
    exe = ORACLE / release / "mongodump"
    result = subprocess.run([str(exe), f"--uri={uri}", "--oplog", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="session")
def official_dumps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Dumps]]:
    if not ORACLE.is_dir():
        pytest.skip("the official mongo-tools are not in ../shared/oracle")
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    root = tmp_path_factory.mktemp("official")
    server = SecantusServer(root / "server").start()
    try:
        with server.client() as client:
            seed(client)
        dumps = {}
        for release in RELEASES:
            d = Dumps(root, release)
            run_mongodump(release, server.uri, "-j", "1", f"--archive={d.archive1}")
            run_mongodump(release, server.uri, "-j", "4", f"--archive={d.archive4}")
            run_mongodump(release, server.uri, f"--out={d.out}")
            run_mongodump(release, server.uri, "--gzip", f"--out={d.out_gz}")
            dumps[release] = d
        yield dumps
    finally:
        server.stop()


def tree(root: Path, *, inflate: bool = False) -> dict[str, bytes]:
    """Every file under ``root`` by relative path; ``inflate`` decompresses gzip files."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            data = path.read_bytes()
            if inflate and data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            out[str(path.relative_to(root))] = data
    return out
