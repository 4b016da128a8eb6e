"""``mongoarchive stats``: sizes and shapes counted independently of the module, sampling, output."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import bson
import pytest
from bson import Int64, ObjectId
from cli_helpers import run

import mongoarchive
from mongoarchive.stats import stats


def _docs() -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for i in range(500):
        doc: dict[str, object] = {"_id": ObjectId() if i % 4 else i, "n": i if i % 2 else Int64(i)}
        if i % 3 == 0:
            doc["sub"] = {"a": "x" * (i % 50), "b": [1, "two", {"c": None}]}
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("st") / "s.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        c = out.add_collection("db", "c")
        out.add_collection("db", "empty")
        other = out.add_collection("other", "x")
        for doc in _docs():
            c.write(doc)
        other.write({"_id": 1})
    return path


def test_sizes_and_shape_match_an_independent_count(archive: Path) -> None:
    result = stats(archive, include=["db.*"])
    assert [str(n.ns) for n in result.namespaces] == ["db.c", "db.empty"]
    c = result.namespaces[0].to_dict()
    docs = _docs()
    sizes = sorted(len(bson.encode(d)) for d in docs)
    assert c["documents"] == len(docs) and c["bytes"] == sum(sizes)
    size = c["size"]
    assert isinstance(size, dict)
    assert (size["min"], size["max"]) == (sizes[0], sizes[-1])
    # Nearest rank: the ceil(q * n)-th smallest size.
    assert size["median"] == sizes[math.ceil(0.5 * len(sizes)) - 1] == statistics.median_low(sizes)
    assert size["p99"] == sizes[math.ceil(0.99 * len(sizes)) - 1]
    assert size["max_of_limit"] == sizes[-1] / (16 * 1024 * 1024)
    fields = {f["path"]: f for f in c["fields"]}  # type: ignore[union-attr]
    assert c["id_types"] == {"objectId": 375, "int": 125}
    assert fields["n"]["types"] == {"int": 250, "long": 250}
    assert fields["sub"]["present"] == 167 and fields["sub.a"]["types"] == {"string": 167}
    assert fields["sub.b[]"]["types"] == {"int": 167, "string": 167, "object": 167}
    assert fields["sub.b[].c"]["types"] == {"null": 167}
    assert fields["sub"]["presence"] == pytest.approx(167 / 500)


def test_sampling_is_reproducible_with_a_seed(archive: Path) -> None:
    one = stats(archive, sample=50, seed=7).to_dict()
    two = stats(archive, sample=50, seed=7).to_dict()
    other = stats(archive, sample=50, seed=8).to_dict()
    assert one == two
    c = one["namespaces"][0]  # type: ignore[index]
    assert c["analysed"] == 50 and c["documents"] == 500
    assert one != other
    assert stats(archive, sample=10_000).namespaces[0].analysed == 500


def test_cli_text_and_json(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "stats", str(archive), "--format", "json", "--ns", "other.*")
    assert status == 0, err
    report = json.loads(out)
    assert [n["collection"] for n in report["namespaces"]] == ["x"]
    status, out, _ = run(capsys, "stats", str(archive))
    assert status == 0
    assert "db.c: 500 documents" in out and "sub.b[].c" in out and "_id types: objectId 375, int 125" in out
    status, _, err = run(capsys, "stats", str(archive), "--sample", "0")
    assert status == 2 and "--sample" in err


def test_damaged_input_is_an_error(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(archive.read_bytes())
    data[data.rfind(b"xxxx")] ^= 0x20
    bad = tmp_path / "bad.archive"
    bad.write_bytes(bytes(data))
    status, _, err = run(capsys, "stats", str(bad))
    assert status == 1 and "CRC-64 mismatch" in err
