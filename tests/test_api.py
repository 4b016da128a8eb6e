"""The public library API: iteration, exact copies, entry lookup, typed forms, lazy exports."""

from __future__ import annotations

import inspect
import io
import json
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from conftest import spec_vectors
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS
from strategies import strip_offsets

import mongoarchive
from mongoarchive import ArchiveReader, Document, Namespace, NamespaceEnd, Segment, UsageError

ORACLE = REPO_ROOT.parent / "shared" / "oracle"
VALID = spec_vectors("valid")
#: Valid vectors whose namespace headers are not in the strict form mongorestore 100.14+ requires
#: (or that carry unknown fields): the writer always writes that form, so their copies differ there.
NORMALISED = {"tolerated-extra-fields", "tolerated-int32-crc", "tolerated-missing-keys"}


def _copy_bytes(src: Path | io.BytesIO) -> bytes:
    out = io.BytesIO()
    mongoarchive.copy(src, out)
    return out.getvalue()


def _read(data: bytes) -> tuple[Any, ...]:
    with mongoarchive.open(io.BytesIO(data)) as archive:
        events = strip_offsets(list(archive))
        return archive.header, archive.collections, events, list(archive.warnings)


# -- iteration ----------------------------------------------------------------------------------
def test_iterating_an_archive_yields_its_events() -> None:
    path = SPEC_VECTORS / "valid" / "interleaved.archive"
    with mongoarchive.open(path) as archive:
        by_iteration = list(archive)
    with mongoarchive.open(path) as archive:
        by_events = list(archive.events())
    assert by_iteration == by_events
    assert {type(e) for e in by_iteration} == {Segment, Document, NamespaceEnd}


# -- exact copies (§9) --------------------------------------------------------------------------
@pytest.mark.parametrize("vector", [v for v in VALID if v[0].stem not in NORMALISED], ids=lambda v: v[0].stem)
def test_copy_is_byte_identical(vector: tuple[Path, dict[str, Any]]) -> None:
    path, _ = vector
    assert _copy_bytes(path) == path.read_bytes()


def test_copy_of_a_real_mongodump_archive_is_byte_identical() -> None:
    path = SHARED_VECTORS / "test.bar.archive"
    if not path.is_file():
        pytest.skip(f"real archives not found at {SHARED_VECTORS}")
    assert _copy_bytes(path) == path.read_bytes()


@pytest.mark.parametrize("name", sorted(NORMALISED))
def test_copy_of_a_tolerated_archive_is_the_strict_form(name: str) -> None:
    """Same header values, entries, blocks, documents and CRCs; no warning left (§7)."""
    path = SPEC_VECTORS / "valid" / f"{name}.archive"
    copied = _copy_bytes(path)
    header, entries, events, warnings = _read(path.read_bytes())
    assert warnings or name == "tolerated-missing-keys"  # that one is silent, but not the strict form
    header2, entries2, events2, warnings2 = _read(copied)
    assert (header2, entries2, events2) == (header, entries, events)
    assert warnings2 == []
    assert _copy_bytes(io.BytesIO(copied)) == copied  # the strict form copies exactly


def test_copy_keeps_gzip_or_changes_it() -> None:
    path = SPEC_VECTORS / "valid" / "sample-gzip.archive"
    plain = io.BytesIO()
    mongoarchive.copy(path, plain, gzip=False)
    assert plain.getvalue() == (SPEC_VECTORS / "valid" / "sample.archive").read_bytes()


def test_copy_of_a_damaged_archive_leaves_no_file(tmp_path: Path) -> None:
    src = SPEC_VECTORS / "invalid" / "crc-mismatch.archive"
    with pytest.raises(mongoarchive.ChecksumError):
        mongoarchive.copy(src, tmp_path / "out.archive")
    assert list(tmp_path.iterdir()) == []


def test_timeseries_copy_with_the_public_api() -> None:
    """Body namespaces map back to prelude entries, and the writer finds them by either name (§5.4)."""
    path = SPEC_VECTORS / "valid" / "timeseries-pre83.archive"
    out = io.BytesIO()
    with mongoarchive.open(path) as archive:
        h = archive.header
        assert archive.entry_for("iot.system.buckets.weather").namespace == ("iot", "weather")
        assert archive.entry_for(Namespace("iot", "weather")).type == "timeseries"
        with pytest.raises(UsageError):
            archive.entry_for("iot.nothing")
        with mongoarchive.open(out, "w", server_version=h.server_version, tool_version=h.tool_version) as w:
            for c in archive.collections:
                w.add_collection(c.db, c.collection, c.metadata, type=c.type, size=c.size)
            for event in archive:
                target = w.writer_for(archive.entry_for(event.ns).namespace)
                if isinstance(event, Document):
                    target.write(event.raw)
                elif isinstance(event, NamespaceEnd):
                    target.close()
    assert out.getvalue() == path.read_bytes()


def test_copy_moves_timeseries_data_to_the_naming_of_the_server_version() -> None:
    """An 8.3-style archive relabelled 7.0.0: the copy puts the data under system.buckets.X."""
    data = (SPEC_VECTORS / "valid" / "timeseries-83.archive").read_bytes()
    assert data.count(b"8.3.0") == 1
    relabelled = data.replace(b"8.3.0", b"7.0.0")
    with mongoarchive.open(io.BytesIO(relabelled)) as archive:
        assert "iot.weather" in {str(ns) for ns in archive.validate()}  # the reader takes either form
    copied = _copy_bytes(io.BytesIO(relabelled))
    with mongoarchive.open(io.BytesIO(copied)) as archive:
        summaries = archive.validate()
    with mongoarchive.open(io.BytesIO(relabelled)) as archive:
        source = archive.validate()
    assert "iot.system.buckets.weather" in {str(ns) for ns in summaries}
    assert "iot.weather" not in {str(ns) for ns in summaries}
    moved = summaries[Namespace("iot", "system.buckets.weather")]
    assert (moved.documents, moved.crc_value) == (
        source[Namespace("iot", "weather")].documents,
        source[Namespace("iot", "weather")].crc_value,
    )


@pytest.mark.skipif(not ORACLE.is_dir(), reason=f"official tools not found at {ORACLE}")
@pytest.mark.parametrize("name", sorted(NORMALISED))
def test_mongorestore_100_18_reads_the_copy_of_a_tolerated_archive(name: str, tmp_path: Path) -> None:
    src = SPEC_VECTORS / "valid" / f"{name}.archive"
    out = tmp_path / "copy.archive"
    mongoarchive.copy(src, out)
    reader = ORACLE / "100.18.0" / "archref"
    before = subprocess.run([str(reader), "read", "--quiet", str(src)], capture_output=True, text=True)
    after = subprocess.run([str(reader), "read", str(out)], capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
    if name != "tolerated-missing-keys":
        assert before.returncode == 1  # 100.18 refuses the source, reads the copy
    assert all(ns["crc_match"] for ns in json.loads(after.stdout)["namespaces"])


# -- typed document forms -------------------------------------------------------------------------
def test_documents_has_one_overload_per_form() -> None:
    overloads = typing.get_overloads(ArchiveReader.documents)
    returns = {}
    for fn in overloads:
        form = inspect.signature(fn).parameters["form"].annotation
        returns[re.search(r"""['"](\w+)['"]""", str(form)).group(1)] = str(fn.__annotations__["return"])  # type: ignore[union-attr]
    assert returns == {
        "bytes": "Iterator[tuple[Namespace, bytes]]",
        "raw": "Iterator[tuple[Namespace, RawBSONDocument]]",
        "dict": "Iterator[tuple[Namespace, dict[str, Any]]]",
    }
    path = SPEC_VECTORS / "valid" / "sample.archive"
    for form, kind in (("bytes", bytes), ("raw", RawBSONDocument), ("dict", dict)):
        with mongoarchive.open(path) as archive:
            docs = [doc for _, doc in archive.documents(form)]  # type: ignore[call-overload]
        assert docs and all(isinstance(d, kind) for d in docs)


# -- exports ------------------------------------------------------------------------------------
def test_check_salvage_and_dump_are_exported_lazily() -> None:
    code = """
import sys
import mongoarchive
heavy = [m for m in ("pymongo.mongo_client", "mongoarchive.checker", "mongoarchive.salvage",
                     "mongoarchive.dump", "rich") if m in sys.modules]
assert heavy == [], heavy
from mongoarchive import check_archive, dump, salvage
from mongoarchive.checker import check_archive as c
from mongoarchive.dump import dump as d
from mongoarchive.salvage import salvage as s
import mongoarchive.dump, mongoarchive.salvage
assert (check_archive, dump, salvage) == (c, d, s)
assert (mongoarchive.check_archive, mongoarchive.dump, mongoarchive.salvage) == (c, d, s)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_every_exported_name_resolves_and_is_typed() -> None:
    for name in ("check_archive", "salvage", "dump", "copy"):
        assert name in mongoarchive.__all__
    assert set(mongoarchive.__all__) <= set(dir(mongoarchive))
    untyped = []
    for name in mongoarchive.__all__:
        value = getattr(mongoarchive, name)
        functions: list[tuple[str, Any]] = []
        if inspect.isfunction(value):
            functions.append((name, value))
        elif inspect.isclass(value) and value.__module__.startswith("mongoarchive"):
            for attr, member in vars(value).items():
                own = inspect.isfunction(member) and member.__qualname__.startswith(value.__qualname__)
                if own and (not attr.startswith("_") or attr == "__init__"):
                    functions.append((f"{name}.{attr}", member))
        for label, fn in functions:
            params = [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]
            if any(p.annotation is inspect.Parameter.empty for p in params) or "return" not in getattr(
                fn, "__annotations__", {}
            ):
                untyped.append(label)
    assert untyped == []


def test_module_docstring_shows_reading_writing_checking_and_copying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each example block of the package docstring runs as written."""
    doc = mongoarchive.__doc__ or ""
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert len(blocks) == 3
    code = "\n".join(
        "\n".join(line[4:] for line in block.splitlines()).replace("...", "pass") for block in blocks
    )
    for word in ("mongoarchive.open(", "add_collection", "check_archive(", "mongoarchive.copy("):
        assert word in code
    shutil.copyfile(SPEC_VECTORS / "valid" / "sample.archive", tmp_path / "dump.archive")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {"mongoarchive": mongoarchive}
    exec(compile(code, "mongoarchive.__doc__", "exec"), scope)
    assert scope["result"].ok()
    assert (tmp_path / "copy.archive").read_bytes() == (tmp_path / "dump.archive").read_bytes()
    with mongoarchive.open(tmp_path / "out.archive") as written:
        assert [bson.decode(raw)["name"] for _, raw in written.documents()] == ["ada"]
