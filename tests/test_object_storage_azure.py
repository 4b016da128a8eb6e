"""``az://`` archives against Azurite, Microsoft's Azure Storage emulator, on 127.0.0.1.

The same code serves s3://, gs:// and az:// (mongoarchive/_remote.py through
obstore); these tests run the verbs against a real Azure blob API: check,
inspect and cat from az://, filter and export to it, an interrupted upload
(no blob appears under the name), and a missing container.
"""

from __future__ import annotations

import io
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from azurite import Azurite
from cli_helpers import interrupt_when, run
from test_object_storage import make_archive

pytest.importorskip("obstore")

import mongoarchive


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()


_containers = iter(range(10**6))


@pytest.fixture
def az(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh container; the emulator's account is in this test's environment only."""
    name = f"backups{next(_containers)}"
    azurite.create_container(name)
    for key, value in azurite.env().items():
        monkeypatch.setenv(key, value)
    return name


def _put(url: str, data: bytes) -> None:
    import obstore
    from obstore.store import from_url

    container, _, key = url.removeprefix("az://").partition("/")
    obstore.put(from_url(f"az://{container}"), key, data)


def _get(url: str) -> bytes:
    import obstore
    from obstore.store import from_url

    container, _, key = url.removeprefix("az://").partition("/")
    return bytes(obstore.get(from_url(f"az://{container}"), key).bytes())


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_check_inspect_cat_from_azure(
    az: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool
) -> None:
    data = make_archive(gz=gz)
    url = f"az://{az}/dir/a.archive"
    _put(url, data)
    local = tmp_path / "a.archive"
    local.write_bytes(data)

    status, out, _ = run(capsys, "check", "--format", "json", url)
    assert status == 0 and json.loads(out)["valid"] is True
    status, remote_json, _ = run(capsys, "inspect", "--format", "json", url)
    assert status == 0
    local_json = run(capsys, "inspect", "--format", "json", str(local))[1]
    remote_summary, local_summary = json.loads(remote_json), json.loads(local_json)
    remote_summary.pop("name", None)
    local_summary.pop("name", None)
    assert remote_summary == local_summary
    status, remote_cat, _ = run(capsys, "cat", url)
    assert status == 0
    assert remote_cat.splitlines() == run(capsys, "cat", str(local))[1].splitlines()
    assert len(remote_cat.splitlines()) == 100


def test_filter_and_export_to_azure(
    az: str, azurite: Azurite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    url = f"az://{az}/out/users.archive"
    assert run(capsys, "filter", str(src), url, "--nsInclude", "app.users")[0] == 0
    local = tmp_path / "users.archive"
    assert run(capsys, "filter", str(src), str(local), "--nsInclude", "app.users")[0] == 0
    assert _get(url) == local.read_bytes()  # the same bytes as to a file

    status, _, err = run(capsys, "export", str(src), f"az://{az}/x/", "--format", "jsonl")
    assert status == 0, err
    names = azurite.blobs(az)
    assert "x/_manifest.json" in names and "out/users.archive" in names
    manifest = json.loads(_get(f"az://{az}/x/_manifest.json"))
    counts = {f"{n['db']}.{n['collection']}": n["documents"] for n in manifest["namespaces"]}
    assert counts == {"app.users": 50, "app.events": 50}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_filter_leaves_no_blob(azurite: Azurite, az: str, sig: int) -> None:
    data = make_archive(docs=40, payload=1 << 20)  # about 40 MiB: several blocks
    url = f"az://{az}/cut.archive"

    def uploading() -> bool:  # a block is on the server: the writer is mid-way
        return azurite.blobs(az, uncommitted=True) == ["cut.archive"]

    status, err = interrupt_when(["filter", "-", url], azurite.env(), data, uploading, sig)
    if sig == signal.SIGINT:
        assert status == 130 and "interrupted" in err, err
    else:
        assert status == -signal.SIGKILL
    # No blob under the name: its blocks were never committed.  Azure has no call to discard
    # them; the service drops uncommitted blocks after a week (docs/object-storage.md).
    assert azurite.blobs(az) == []
    assert azurite.blobs(az, uncommitted=True) == ["cut.archive"]


def test_library_writes_nothing_visible_before_close(az: str, azurite: Azurite) -> None:
    writer = mongoarchive.open(f"az://{az}/small.archive", "w", server_version="7.0.14")
    writer.add_collection("db", "c", {"indexes": []}).write({"_id": 1})
    assert azurite.blobs(az) == []
    writer.close()
    assert azurite.blobs(az) == ["small.archive"]
    assert mongoarchive.check_archive(io.BytesIO(_get(f"az://{az}/small.archive"))).ok(strict=True)


def test_missing_container_is_a_clear_error(
    az: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "az://no-such-container/a.archive"
    for verb in ("check", "inspect", "cat"):
        status, _, err = run(capsys, verb, url)
        line = [x for x in err.splitlines() if "error:" in x]
        assert status == 2 and len(line) == 1 and url in line[0] and "not found" in line[0], (verb, err)
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    status, _, err = run(capsys, "filter", str(src), "az://no-such-container/out.archive")
    assert status == 2 and "az://no-such-container/out.archive: no such bucket" in err, err
