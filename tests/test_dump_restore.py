"""The official mongorestore (100.6.1 and 100.18.0) restores what our dump wrote.

Our full dump of the session's server (tests/conftest_dump.py) is restored
with ``mongorestore --archive`` into a fresh SecantusDB server; every
collection and view must then have the source's type, options, indexes and
documents (for the timeseries collection, see below). Skipped without
../shared/oracle.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from mongoarchive.dump import dump

pytest_plugins = ["conftest_dump"]

from dumpserver import RELEASES, SecantusServer, catalogue, oracle_tool  # noqa: E402


@pytest.mark.parametrize("release", RELEASES)
def test_official_mongorestore_restores_our_dump(
    dump_server: SecantusServer, tmp_path: Path, release: str
) -> None:
    mongorestore = oracle_tool(release, "mongorestore")
    archive = tmp_path / "ours.archive"
    dump(archive, uri=dump_server.uri)
    target = SecantusServer(tmp_path / "target").start()
    try:
        done = subprocess.run(
            [str(mongorestore), f"--archive={archive}", "--host", "127.0.0.1", "--port", str(target.port)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert " 0 document(s) failed to restore" in done.stderr
        with (
            MongoClient(dump_server.uri, document_class=RawBSONDocument) as source,
            MongoClient(target.uri, document_class=RawBSONDocument) as restored,
        ):
            expected = catalogue(source)
            got = catalogue(restored)
    finally:
        target.stop()
    # SecantusDB lists a timeseries collection as a plain one with timeseries options; from
    # those options mongorestore (server < 8.3) sends its documents to system.buckets.X, as it
    # does with mongodump's own archive of this server (test_dump_oracle shows they are equal).
    ts_docs = [d for ns, e in got.items() if ns.startswith("gamma.") for d in e["documents"]]
    assert sorted(ts_docs) == expected.pop("gamma.weather")["documents"]
    got = {ns: e for ns, e in got.items() if not ns.startswith("gamma.")}
    assert sorted(got) == sorted(expected)
    for ns, entry in expected.items():
        assert got[ns]["type"] == entry["type"], ns
        assert got[ns]["options"] == entry["options"], ns
        assert got[ns].get("indexes") == entry.get("indexes"), ns
        assert got[ns]["documents"] == entry["documents"], ns
    # The data set is not trivially small: big documents, many indexes, a view, a capped collection.
    assert len(expected["alpha.many"]["documents"]) == 3000
    assert len(expected["alpha.shaped"]["indexes"]) >= 9
    assert expected["alpha.small_view"]["type"] == "view" and expected["alpha.small_view"]["documents"]
    assert expected["alpha.capped"]["options"]["capped"] is True
