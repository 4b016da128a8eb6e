"""``mongoarchive check``: exit codes, text and JSON reports, --strict, -q, pipes."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import bson
import pytest
from cli_helpers import run, walk
from conftest import spec_vectors
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS

from mongoarchive._crc import crc64
from mongoarchive.cli.check import NOT_DEEP

VALID = spec_vectors("valid")
INVALID = spec_vectors("invalid")


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    return item[0].stem


def fix_crc(data: bytes, ns: str) -> bytes:
    """``data`` with the EOF CRC of ``ns`` recomputed from its documents (after an edit)."""
    value = crc64(b"".join(raw for n, raw in walk(data) if n == ns))
    pos = 4
    while struct.unpack_from("<i", data, pos)[0] != -1:  # prelude
        pos += struct.unpack_from("<i", data, pos)[0]
    pos += 4
    while pos < len(data):  # blocks: a namespace header, documents, a terminator
        size = struct.unpack_from("<i", data, pos)[0]
        head = bson.decode(data[pos : pos + size])
        if head["EOF"] is True and f"{head['db']}.{head['collection']}" == ns:
            crc = struct.pack("<q", value - (1 << 64) if value >= 1 << 63 else value)
            return data[: pos + size - 9] + crc + data[pos + size - 1 :]
        pos += size
        while (size := struct.unpack_from("<i", data, pos)[0]) != -1:
            pos += size
        pos += 4
    raise AssertionError(f"no EOF block for {ns}")


def report_lines(out: str) -> list[str]:
    """The lines of a text report, without the closing note that documents were not decoded."""
    lines = out.splitlines()
    assert lines[-1] == NOT_DEEP
    return lines[:-1]


@pytest.mark.parametrize("item", VALID, ids=_id)
def test_valid_vector_exits_0(capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]]) -> None:
    path, sidecar = item
    # Judged by a release that reads it: every valid vector has one (spec/vectors sidecars).
    target = "100.18" if "100.18" not in sidecar["refused_by"] else "100.6"
    status, out, err = run(capsys, "check", "--target", target, str(path))
    assert status == 0 and err == ""
    assert run(capsys, "check", str(path))[0] == (1 if sidecar["refused_by"] else 0)
    lines = report_lines(out)
    n = sidecar["summary"]["namespaces"]
    docs = sum(x["documents"] for x in n)
    warnings = len(sidecar["warnings"])
    extra = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    size = len(path.read_bytes()) if not sidecar["summary"]["gzip"] else None
    tail = lines[-1]

    def counted(count: int, noun: str) -> str:
        return f"{count} {noun}{'' if count == 1 else 's'}"

    assert tail.startswith(f"{path}: ok ({counted(len(n), 'namespace')}, {counted(docs, 'document')}, ")
    assert tail.endswith(f" bytes{extra})")
    if size is not None:
        assert f"{counted(docs, 'document')}, {size} bytes" in tail
    assert len(lines) == 1 + warnings


@pytest.mark.parametrize("item", INVALID, ids=_id)
def test_invalid_vector_exits_1_naming_the_problem(
    capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]]
) -> None:
    path, sidecar = item
    e = sidecar["error"]
    status, out, err = run(capsys, "check", str(path))
    assert status == 1 and err == ""
    first = out.splitlines()[0]
    where = f"{path}: byte {e['offset']}: " if e["offset"] is not None else f"{path}: byte "
    assert first.startswith(where + "error: ")
    assert f"[{e['code']}]" in first
    if e["namespace"] is not None:
        assert first.endswith(f"(namespace {e['namespace']!r})")
    assert report_lines(out)[-1].startswith(f"{path}: FAILED (")


@pytest.mark.parametrize("item", INVALID, ids=_id)
def test_json_report(capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]]) -> None:
    path, sidecar = item
    status, out, _ = run(capsys, "check", "--format", "json", str(path))
    assert status == 1
    report = json.loads(out)
    assert report["valid"] is False and report["strict"] is False
    (file_report,) = report["files"]
    assert file_report["file"] == str(path)
    first = file_report["problems"][0]
    e = sidecar["error"]
    assert (first["severity"], first["code"], first["namespace"]) == ("error", e["code"], e["namespace"])
    if e["offset"] is not None:
        assert first["offset"] == e["offset"]
    assert set(first) == {"severity", "code", "message", "offset", "namespace", "hint", "refused_by"}
    assert first["refused_by"] == ["100.6", "100.14", "100.16", "100.18"]
    assert file_report["target"] == "all" and report["target"] == "all"
    assert file_report["errors"] == sum(p["severity"] == "error" for p in file_report["problems"])


def test_several_files_and_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    good = SPEC_VECTORS / "valid" / "sample.archive"
    bad = SPEC_VECTORS / "invalid" / "crc-mismatch.archive"
    status, out, _ = run(capsys, "check", "--format", "json", str(good), str(bad))
    assert status == 1
    report = json.loads(out)
    assert [f["valid"] for f in report["files"]] == [True, False]
    assert set(report["files"][0]) == {
        "file",
        "valid",
        "target",
        "deep",
        "gzip",
        "bytes",
        "errors",
        "warnings",
        "problems",
        "unchecked",
        "unchecked_bytes",
        "unchecked_omitted",
        "untracked_blocks",
        "namespaces",
        "report_truncated",
        "listed",
    }


def test_strict_fails_on_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "tolerated-int32-crc.archive"
    assert run(capsys, "check", "--target", "100.6", str(path))[0] == 0
    status, out, _ = run(capsys, "check", "--target", "100.6", "--strict", str(path))
    assert status == 1
    assert out.count("warning: ") == 2 and "[crc-not-int64]" in out
    assert "mongorestore 100.14, 100.16 and 100.18 refuse it" in out
    assert report_lines(out)[-1] == f"{path}: FAILED (0 errors, 2 warnings)"


def test_target_decides_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """An int32 CRC is refused by 100.14+: an error for them and for all, a warning for 100.6 (§7)."""
    path = SPEC_VECTORS / "valid" / "tolerated-int32-crc.archive"
    for target, status in (("all", 1), ("100.18", 1), ("100.18.0", 1), ("100.14", 1), ("100.6", 0)):
        assert run(capsys, "check", "--target", target, str(path))[0] == status, target
    status, out, _ = run(capsys, "check", "--format", "json", "--target", "100.6.1", str(path))
    report = json.loads(out)
    assert status == 0 and report["target"] == "100.6.1"
    (file_report,) = report["files"]
    assert file_report["target"] == "100.6"
    assert [(p["severity"], p["refused_by"]) for p in file_report["problems"]] == [
        ("warning", ["100.14", "100.16", "100.18"])
    ] * 2


def test_unknown_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "sample.archive"
    for bad in ("100.7", "100.6.2", "latest", "100"):
        status, out, err = run(capsys, "check", "--target", bad, str(path))
        assert status == 2 and out == "", bad
        assert err.startswith("mongoarchive check: error: --target: unknown release")


def test_quiet_prints_only_failures(capsys: pytest.CaptureFixture[str]) -> None:
    good = SPEC_VECTORS / "valid" / "tolerated-version.archive"
    bad = SPEC_VECTORS / "invalid" / "unseen-namespace.archive"
    assert run(capsys, "check", "-q", str(good)) == (0, "", "")
    assert run(capsys, "-q", "check", str(good)) == (0, "", "")
    status, out, _ = run(capsys, "check", "-q", str(good), str(bad))
    assert status == 1
    assert str(good) not in out
    assert out.splitlines()[-1] == f"{bad}: FAILED (1 error, 0 warnings)"


def test_unchecked_ranges_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "invalid" / "log-text-spliced.archive"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    start = sidecar["error"]["offset"]
    assert any(ln.startswith(f"{path}: unchecked bytes {start} to ") for ln in out.splitlines())


def test_io_error_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = SPEC_VECTORS / "invalid" / "crc-mismatch.archive"
    status, out, err = run(capsys, "check", str(tmp_path / "missing"), str(bad))
    assert status == 2
    assert err.startswith("mongoarchive check: error: cannot open")
    assert f"{bad}: FAILED" in out


def test_usage_errors_are_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check")[0] == 2
    assert run(capsys, "check", "--max-problems", "0", "x")[0] == 2
    assert run(capsys, "check", "-", "-")[0] == 2


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason="real archives not present")
def test_real_archives(capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = SHARED_VECTORS / "test.bar.archive", SHARED_VECTORS / "bad-format.archive"
    assert run(capsys, "check", str(good))[0] == 0
    status, out, _ = run(capsys, "check", str(bad))
    assert status == 1
    assert "[bad-metadata] (namespace 'test.ixtest')" in out


def test_stdin_pipe() -> None:
    data = (SPEC_VECTORS / "invalid" / "crc-mismatch-stored.archive").read_bytes()
    sidecar = json.loads((SPEC_VECTORS / "invalid" / "crc-mismatch-stored.json").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "mongoarchive", "check", "-"],
        input=data,
        capture_output=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 1
    first = proc.stdout.decode().splitlines()[0]
    assert first.startswith(f"<stdin>: byte {sidecar['error']['offset']}: error: ")
    assert "Traceback" not in proc.stderr.decode()


def test_max_problems_cut_still_counts_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Three errors listed one at a time: the summary counts three, not one."""
    path = tmp_path / "three.archive"
    data = (SPEC_VECTORS / "invalid" / "unseen-namespace.archive").read_bytes()
    path.write_bytes(data + b"\x00")  # unseen namespace, then a byte that is no block
    full = json.loads(run(capsys, "check", "--format", "json", str(path))[1])["files"][0]
    assert full["errors"] >= 2 and not full["report_truncated"]
    status, out, _ = run(capsys, "check", "--max-problems", "1", str(path))
    assert status == 1
    lines = report_lines(out)
    assert sum(" error: " in ln for ln in lines) == 1
    total = full["errors"] + full["warnings"]
    assert f"{path}: only the first 1 of {total} problems are listed (--max-problems)" in lines
    assert lines[-1] == f"{path}: FAILED ({full['errors']} errors, {full['warnings']} warnings)"
    cut = json.loads(run(capsys, "check", "--format", "json", "--max-problems", "1", str(path))[1])["files"][
        0
    ]
    assert (cut["errors"], cut["warnings"], cut["listed"], cut["report_truncated"]) == (
        full["errors"],
        full["warnings"],
        1,
        True,
    )


def test_directory_checks_every_archive_under_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = (SPEC_VECTORS / "valid" / "sample.archive").read_bytes()
    bad = (SPEC_VECTORS / "invalid" / "crc-mismatch.archive").read_bytes()
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.archive").write_bytes(good)
    (tmp_path / "b" / "deep" / "no-suffix").write_bytes(bad)  # found by its magic number
    (tmp_path / "b" / "c.archive.gz").write_bytes(gzip.compress(good))
    (tmp_path / "b" / "notes.txt").write_text("not an archive\n")
    (tmp_path / "b" / "coll.bson").write_bytes(bson.encode({"a": 1}))
    status, out, err = run(capsys, "check", str(tmp_path))
    assert status == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == "skipped 2 files that do not look like archives (-v lists them)"
    verdicts = [ln for ln in lines if ": ok (" in ln or ": FAILED (" in ln]
    assert [v.split(": ")[0] for v in verdicts] == [
        str(tmp_path / "a.archive"),
        str(tmp_path / "b" / "c.archive.gz"),
        str(tmp_path / "b" / "deep" / "no-suffix"),
    ]
    assert ": FAILED (" in verdicts[2]
    report = json.loads(run(capsys, "check", "--format", "json", str(tmp_path / "b"))[1])
    assert [f["valid"] for f in report["files"]] == [True, False]
    assert report["skipped"] == [str(tmp_path / "b" / "coll.bson"), str(tmp_path / "b" / "notes.txt")]
    status, out, _ = run(capsys, "check", "-v", str(tmp_path / "b"))
    assert out.splitlines()[0].endswith(f": {tmp_path / 'b' / 'coll.bson'}, {tmp_path / 'b' / 'notes.txt'}")
    assert run(capsys, "check", str(tmp_path / "a.archive"))[0] == 0


def test_directory_without_archives_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    status, out, err = run(capsys, "check", str(tmp_path))
    assert status == 2 and out == ""
    assert err == f"mongoarchive check: error: no archive found under {tmp_path}\n"


def test_deep_decodes_every_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A document with an unknown element type keeps its framing and CRC; only --deep sees it."""
    good = (SPEC_VECTORS / "valid" / "base-two-namespaces.archive").read_bytes()
    items = walk(good)
    ns, raw = items[1]
    offset = good.index(raw)
    broken = bytearray(raw)
    broken[4] = 0x77  # the first element's type byte: no such BSON type
    data = good[:offset] + bytes(broken) + good[offset + len(raw) :]
    path = tmp_path / "bad-bson.archive"
    path.write_bytes(fix_crc(data, ns))
    status, out, _ = run(capsys, "check", str(path))
    assert status == 0 and out.splitlines()[-1] == NOT_DEEP
    status, out, _ = run(capsys, "check", "--deep", str(path))
    assert status == 1 and NOT_DEEP not in out
    first = out.splitlines()[0]
    assert first.startswith(f"{path}: byte {offset}: error: the document is not valid BSON: ")
    assert first.endswith(f"[bad-bson] (namespace {ns!r})")
    report = json.loads(run(capsys, "check", "--deep", "--format", "json", str(path))[1])["files"][0]
    assert report["deep"] is True and [p["code"] for p in report["problems"]] == ["bad-bson"]
    shallow = json.loads(run(capsys, "check", "--format", "json", str(path))[1])["files"][0]
    assert shallow["deep"] is False and shallow["problems"] == []
    assert run(capsys, "check", "--deep", str(SPEC_VECTORS / "valid" / "sample.archive"))[0] == 0


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("bad UTF-8", lambda raw: raw.replace(b"alice", b"al\xffce")),
        (
            "inner length too long",
            lambda raw: raw.replace(b"\x06\x00\x00\x00alice", b"\x07\x00\x00\x00alice"),
        ),
    ],
)
def test_deep_finds_damage_inside_documents(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, what: str, edit: Any
) -> None:
    raw = bson.encode({"_id": 1, "name": "alice", "tags": {"a": [1, 2]}})
    bad = edit(raw)
    assert len(bad) == len(raw) and bad != raw, what
    good = (SPEC_VECTORS / "valid" / "base-two-namespaces.archive").read_bytes()
    ns, first = walk(good)[0]
    offset = good.index(first)
    data = good[:offset] + bad + good[offset + len(first) :]
    path = tmp_path / "bad.archive"
    path.write_bytes(fix_crc(data, ns))
    assert run(capsys, "check", str(path))[0] == 0
    status, out, _ = run(capsys, "check", "--deep", str(path))
    assert status == 1
    assert f"{path}: byte {offset}: error: the document is not valid BSON" in out
