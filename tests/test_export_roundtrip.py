"""Every document comes back from the Parquet columns plus ``_extra``, whatever its types.

Hypothesis writes namespaces of documents whose fields change type from one
document to the next (tests/arrow_docs.py), exports them to Parquet with small
row groups (so later documents meet a schema inferred without them), reads
the file back and rebuilds each document; only the documented widenings are
allowed.  Run with the compiled scans and, in one more test, the pure ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import bson
import pytest
from arrow_docs import documents
from arrow_rows import rebuild, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import REPO_ROOT

import mongoarchive
from mongoarchive.export import export

pytest.importorskip("pyarrow")
pytest.importorskip("pymongoarrow")
import pyarrow.parquet as pq


def _roundtrip(docs: list[dict[str, Any]], row_group_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.archive"
        with mongoarchive.open(path, "w", server_version="7.0.14") as out:
            coll = out.add_collection("d", "c", {"indexes": []})
            for doc in docs:
                coll.write(doc)
        result = export(path, Path(tmp) / "out", format="parquet", row_group_bytes=row_group_bytes)
        assert result.complete
        table = pq.read_table(Path(tmp) / "out" / "d" / "c.parquet")
        rows = table.to_pylist()
        assert len(rows) == len(docs)
        originals = [bson.decode(bson.encode(d)) for d in docs]
        for original, row in zip(originals, rows, strict=True):
            back = rebuild(row, table.schema)
            assert same(original, back), (original, back, row)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=12), st.sampled_from([64, 300, 1 << 20]))
def test_every_document_comes_back(docs: list[dict[str, Any]], row_group_bytes: int) -> None:
    _roundtrip(docs, row_group_bytes)


def test_known_confusions_come_back() -> None:
    """The size-preserving confusions: int64 and double (8 bytes each), 5-byte values in lists."""
    from bson import Int64

    docs: list[dict[str, Any]] = [
        {"i": Int64(1), "d": 1.5, "l": [1, 2], "s": {"x": 1.0}, "z": -0.0},
        {"i": 2.5, "d": Int64(2**62), "l": [True, None], "s": {"x": Int64(3)}, "z": float("nan")},
        {"i": Int64(-(2**63)), "d": float("-inf"), "l": ["", 1], "s": {"x": float("nan")}, "z": 2**31 - 1},
        {"i": Int64(2**63 - 1), "d": 7, "l": [{"a": 1}], "s": {}, "z": None},
    ]
    _roundtrip(docs, 64)  # the schema comes from the first document alone
    _roundtrip(docs, 1 << 20)


def test_pure_scans_in_a_subprocess() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "import mongoarchive._arrow_scan as s; assert s.IMPLEMENTATION == 'pure'\n"
        "import test_export_roundtrip as t; t.test_known_confusions_come_back()\n"
    )
    env = {**os.environ, "MONGOARCHIVE_PURE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_dotted_key_never_lands_in_a_struct_column() -> None:
    """pymongoarrow reads a top-level key "a.b" as the path a -> b: it must not see such keys."""
    import datetime

    docs: list[dict[str, Any]] = [
        {"a": {"a": 0, "b": 0}},
        {"a.b": 0},
        {"a": {"a": 1, "b": 2}, "a.b": 3},
        {"a": {"a": 0, "b": datetime.datetime(2000, 1, 1)}, "a.b": {}},
    ]
    _roundtrip(docs[:3], 1 << 20)
    _roundtrip([docs[3], {"a.b": {}}], 1 << 20)
    _roundtrip(docs[:2], 16)  # the second document meets the schema of the first alone
