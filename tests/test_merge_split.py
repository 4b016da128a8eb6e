"""merge and split: namespaces, documents and CRCs survive; concatenated archives come apart."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import read, run
from hypothesis import HealthCheck, given, settings
from paths import REPO_ROOT, SPEC_VECTORS
from strategies import archive_models, write_model

import mongoarchive
from mongoarchive.errors import MongoArchiveError, NamespaceError, UsageError
from mongoarchive.merge import merge, split

VALID = SPEC_VECTORS / "valid"
ARCHREF = REPO_ROOT.parent / "shared" / "oracle" / "100.18.0" / "archref"


def content(data: bytes | Path) -> dict[str, tuple[list[bytes], int, str]]:
    """Per namespace: its documents, its stored CRC, its prelude type."""
    raw = data if isinstance(data, bytes) else data.read_bytes()
    docs: dict[str, list[bytes]] = {}
    with mongoarchive.open(io.BytesIO(raw)) as archive:
        types = {str(c.namespace): c.type or "" for c in archive.collections}
        for ns, doc in archive.documents():
            docs.setdefault(str(ns), []).append(doc)
        crcs = {str(ns): s.crc_stored or 0 for ns, s in archive.namespaces.items()}
        assert all(s.crc == "ok" for s in archive.namespaces.values())
    return {ns: (docs.get(ns, []), crcs.get(ns, 0), types.get(ns, "")) for ns in crcs}


def merged(*sources: Any, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    merge(list(sources), out, **kwargs)
    return out.getvalue()


# -- merge --------------------------------------------------------------------------
def test_merge_keeps_every_namespace_document_and_crc(tmp_path: Path) -> None:
    a, b = VALID / "sample.archive", VALID / "oplog.archive"
    out = merged(a, b)
    assert content(out) == {**content(a), **content(b)}
    with mongoarchive.open(io.BytesIO(out)) as archive, mongoarchive.open(a) as first:
        assert archive.header == first.header
    if ARCHREF.exists():
        (tmp_path / "m.archive").write_bytes(out)
        result = subprocess.run(
            [str(ARCHREF), "read", str(tmp_path / "m.archive")], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert all(ns["crc_match"] for ns in json.loads(result.stdout)["namespaces"])


def test_merge_of_one_archive_is_the_archive() -> None:
    path = VALID / "interleaved.archive"
    assert merged(path) == read(path)


def test_a_namespace_in_two_inputs_needs_a_rename(tmp_path: Path) -> None:
    a = VALID / "sample.archive"
    with pytest.raises(NamespaceError, match=r"input 1: shop\.customers") as info:
        merge([a, a], tmp_path / "m.archive")
    assert info.value.code == "rename-collision"
    assert list(tmp_path.iterdir()) == []
    out = merged(a, a, renames={1: [("shop.*", "copy.*")]})
    got = content(out)
    assert {k for k in got if k.startswith("copy.")} == {"copy." + k.split(".", 1)[1] for k in content(a)}
    assert got["copy.orders"][:2] == content(a)["shop.orders"][:2]


def test_inputs_of_different_servers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NamespaceError, match="server"):
        merge([VALID / "sample.archive", VALID / "timeseries-pre83.archive"], tmp_path / "m.archive")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_collections_is_the_largest() -> None:
    one = io.BytesIO()
    with mongoarchive.open(one, "w", server_version="8.0.4", concurrent_collections=1) as w:
        w.add_collection("x", "y").write({"_id": 1})
    out = merged(io.BytesIO(one.getvalue()), VALID / "sample.archive")
    with mongoarchive.open(io.BytesIO(out)) as archive:
        assert archive.header.concurrent_collections == 4


# -- split --------------------------------------------------------------------------
def test_split_by_database_and_namespace(tmp_path: Path) -> None:
    src = VALID / "users-roles.archive"
    result = split(src, tmp_path / "db")
    assert sorted(result.archives) == ["shop.archive"]
    assert content(tmp_path / "db" / "shop.archive") == content(src)
    result = split(src, tmp_path / "ns", by="namespace")
    assert "shop.%24admin.system.users.archive" in result.archives
    pieces: dict[str, Any] = {}
    for name in result.archives:
        pieces.update(content(tmp_path / "ns" / name))
    assert pieces == content(src)


def test_split_separates_concatenated_archives(tmp_path: Path) -> None:
    a, b = read(VALID / "sample.archive"), read(VALID / "oplog.archive")
    result = split(io.BytesIO(a + b), tmp_path / "d", by="archive")
    assert result.inputs == 2
    assert (tmp_path / "d" / "1.archive").read_bytes() == a
    assert (tmp_path / "d" / "2.archive").read_bytes() == b
    result = split(io.BytesIO(gzip.compress(a) + gzip.compress(b)), tmp_path / "z", by="archive")
    assert result.inputs == 2
    assert (
        read(tmp_path / "z" / "2.archive") == b
        and (tmp_path / "z" / "2.archive").read_bytes()[:2] == b"\x1f\x8b"
    )
    result = split(io.BytesIO(a + b), tmp_path / "e")
    assert sorted(result.archives) == ["2.app.archive", "2.oplog.archive", "shop.archive"]


def test_split_of_one_archive_by_archive_is_identity(tmp_path: Path) -> None:
    for path in sorted(VALID.glob("*.archive")):
        split(path, tmp_path / path.stem, by="archive")
        assert read(tmp_path / path.stem / "1.archive") == read(path)


def test_trailing_garbage_is_still_an_error(tmp_path: Path) -> None:
    data = read(VALID / "sample.archive") + b"\x10\x00\x00\x00garbage here!"
    with pytest.raises(MongoArchiveError):
        split(io.BytesIO(data), tmp_path / "d")
    assert list((tmp_path / "d").iterdir()) == []


def test_split_name_collision_keeps_nothing(tmp_path: Path) -> None:
    src = io.BytesIO()
    with mongoarchive.open(src, "w", server_version="8.0.4") as w:
        ns_writers = [w.add_collection("oplog", "c"), w.add_collection("", "oplog", type="")]
        for ns_writer in ns_writers:
            ns_writer.write({"_id": 1})
    with pytest.raises(NamespaceError, match=r"would go to 'oplog\.archive'"):
        split(io.BytesIO(src.getvalue()), tmp_path / "d")
    assert list((tmp_path / "d").iterdir()) == []


def test_long_names_get_short_files(tmp_path: Path) -> None:
    src = io.BytesIO()
    with mongoarchive.open(src, "w", server_version="8.0.4") as w:
        # The longest names the writer takes (63-byte database, 255-byte namespace).
        ns_writers = [w.add_collection("d" * 63, "c" * 191), w.add_collection("d" * 63, "c" * 190 + "x")]
        for ns_writer in ns_writers:
            ns_writer.write({"_id": str(ns_writer.ns)[-1]})
    result = split(io.BytesIO(src.getvalue()), tmp_path, by="namespace")
    assert len(result.archives) == 2 and all(len(name) < 220 for name in result.archives)
    pieces: dict[str, Any] = {}
    for name in result.archives:
        pieces.update(content(tmp_path / name))
    assert pieces == content(src.getvalue())


def test_existing_outputs_need_force(tmp_path: Path) -> None:
    src = VALID / "sample.archive"
    split(src, tmp_path)
    with pytest.raises(UsageError, match="exists"):
        split(src, tmp_path)
    split(src, tmp_path, force=True)
    assert content(tmp_path / "shop.archive") == content(src)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(archive_models())
def test_property_merge_of_split(tmp_path_factory: pytest.TempPathFactory, model: Any) -> None:
    data = write_model(model)
    root = tmp_path_factory.mktemp("split")
    try:
        result = split(io.BytesIO(data), root, by="namespace")
    except NamespaceError as exc:
        assert exc.code == "name-collision"  # names that escape alike cannot be split apart
        return
    out = merged(*[root / name for name in result.archives]) if result.archives else None
    if out is None:
        assert content(data) == {}
        return
    assert content(out) == content(data)


# -- the verbs ------------------------------------------------------------------------
def test_cli_merge_and_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = VALID / "sample.archive", VALID / "oplog.archive"
    out = tmp_path / "m.archive"
    status, stdout, err = run(capsys, "merge", str(a), str(b), str(out))
    assert status == 0 and "5 namespaces" in stdout and err == ""
    status, stdout, err = run(capsys, "merge", str(a), str(a), str(tmp_path / "n.archive"))
    assert status == 1 and "would both become" in err and "hint:" in err
    assert len(err.strip().splitlines()) == 1
    status, stdout, err = run(
        capsys,
        "merge",
        str(a),
        str(a),
        str(tmp_path / "n.archive"),
        "--rename",
        "2",
        "shop.*",
        "b.*",
        "--format",
        "json",
    )
    assert status == 0 and len(json.loads(stdout)["namespaces"]) == 6
    status, stdout, err = run(capsys, "merge", str(a), str(out), "--rename", "3", "a.*", "b.*", "--force")
    assert status == 2 and "input's number" in err
    status, stdout, err = run(capsys, "split", str(out), str(tmp_path / "s"), "--format", "json")
    assert status == 0 and sorted(json.loads(stdout)["archives"]) == [
        "app.archive",
        "oplog.archive",
        "shop.archive",
    ]
    status, stdout, err = run(capsys, "split", str(out), str(tmp_path / "s"))
    assert status == 2 and "--force" in err
    status, stdout, err = run(capsys, "split", str(out), str(tmp_path / "s"), "--force", "--by", "archive")
    assert status == 0 and "1.archive" in stdout
