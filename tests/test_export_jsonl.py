"""``export --format jsonl`` converts batches of documents with ``cat``'s converter.

Each namespace's file is, in both modes, with or without ``--query`` and
however the batches are cut, the text ``cat`` writes for each of its
documents converted alone, and reads back to the same values as the
reference converter's lines; a document that is not valid BSON is reported
at its own archive offset, and the namespace's file is not published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bson
import pytest
from arrow_docs import documents
from bson import json_util
from bson.codec_options import DatetimeConversion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mongoarchive
from mongoarchive import _export_writers, _jsonlines
from mongoarchive._extjson import converter, has_bsonjs, lines
from mongoarchive.export import export
from mongoarchive.model import Document

LOAD = json_util.JSONOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def values(text: bytes) -> list[Any]:
    """Each line read back by json_util, as BSON bytes: equal bytes are exactly equal values."""
    assert text == b"" or text.endswith(b"\n")
    # split, not splitlines: U+0085 and U+2028 inside a string end no line.
    return [bson.encode(json_util.loads(line, json_options=LOAD)) for line in text.decode().split("\n")[:-1]]


def _archive(path: Path, by_ns: dict[str, list[bytes]]) -> None:
    """The namespaces' documents, taking turns one document at a time (blocks interleave)."""
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        colls = {ns: out.add_collection(*ns.split(".")) for ns in by_ns}
        for i in range(max(map(len, by_ns.values()))):
            for ns, docs in by_ns.items():
                if i < len(docs):
                    colls[ns].write(docs[i])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(documents, min_size=1, max_size=20),
    st.lists(documents, max_size=20),
    st.sampled_from(["relaxed", "canonical"]),
    st.sampled_from([1, 64, 1 << 20]),
    st.booleans(),
)
def test_lines_equal_one_conversion_per_document(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    mode: str,
    chunk: int,
    with_query: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("jsonl")
    by_ns = {"d.one": [bson.encode(d) for d in first], "d.two": [bson.encode(d) for d in second]}
    _archive(tmp / "a.archive", by_ns)
    def even(raw: bytes) -> bool:  # a --query: documents one event each, not runs
        return len(raw) % 2 == 0

    query = even if with_query else None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_export_writers, "JSONL_CHUNK", chunk)  # 1: a batch per piece; 1 MiB: one batch
        export(tmp / "a.archive", tmp / "out", format="jsonl", json_mode=mode, query=query)  # type: ignore[arg-type]
    convert = converter(mode)  # type: ignore[arg-type]
    for ns, raws in by_ns.items():
        kept = [r for r in raws if not with_query or even(r)]
        text = (tmp / "out" / "d" / f"{ns.split('.')[1]}.jsonl").read_bytes()
        assert text == b"".join(lines(r, mode, has_bsonjs())[0] for r in kept)  # cat's text, one by one
        reference = "".join(convert(r) + "\n" for r in kept).encode()
        assert values(text) == values(reference)


def _bad(value: bytes) -> bytes:
    body = b"\x02a\x00" + (len(value) + 1).to_bytes(4, "little") + value + b"\x00"
    return (len(body) + 5).to_bytes(4, "little") + body + b"\x00"


@pytest.mark.parametrize("with_query", [False, True], ids=["runs", "query"])
@pytest.mark.parametrize("chunk", [1, 1 << 20], ids=["small-batches", "one-batch"])
@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
def test_a_bad_document_is_reported_at_its_offset(
    tmp_path: Path, chunk: int, with_query: bool, large: bool
) -> None:
    docs = [bson.encode({"a": f"ok {i}"}) for i in range(30)]
    # large: the bad document is over _jsonlines.LARGE (made 64 bytes), so it is converted alone.
    docs.insert(17, _bad(b"\xff not UTF-8" + b"x" * (100 if large else 0)))
    path = tmp_path / "h.archive"
    _archive(path, {"d.c": docs})
    with mongoarchive.open(path) as archive:
        offsets = [e.offset for e in archive.events() if isinstance(e, Document)]
    with pytest.MonkeyPatch.context() as mp, pytest.raises(mongoarchive.ArchiveError) as caught:
        mp.setattr(_export_writers, "JSONL_CHUNK", chunk)
        if large:
            mp.setattr(_jsonlines, "LARGE", 64)
        export(path, tmp_path / "o", format="jsonl", query=(lambda raw: True) if with_query else None)
    assert caught.value.code == "bad-bson" and caught.value.namespace == "d.c"
    assert caught.value.offset == offsets[17]
    assert not (tmp_path / "o" / "d" / "c.jsonl").exists()


def test_a_whole_export_leaves_only_the_final_file(tmp_path: Path) -> None:
    # The writer's binary file is the partial file: after a whole export nothing partial is left.
    docs = [bson.encode({"_id": i, "s": "é" * (i % 7)}) for i in range(5000)]
    _archive(tmp_path / "a.archive", {"d.c": docs})
    export(tmp_path / "a.archive", tmp_path / "o", format="jsonl")
    names = sorted(p.name for p in (tmp_path / "o" / "d").iterdir())
    assert names == ["c.jsonl"]
    text = (tmp_path / "o" / "d" / "c.jsonl").read_bytes()
    assert values(text) == docs  # every document, in order (the layout is the back end's)
