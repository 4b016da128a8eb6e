"""``mongoarchive check``: exit codes, text and JSON reports, --strict, -q, pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from conftest import spec_vectors
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS

VALID = spec_vectors("valid")
INVALID = spec_vectors("invalid")


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    return item[0].stem


@pytest.mark.parametrize("item", VALID, ids=_id)
def test_valid_vector_exits_0(capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]]) -> None:
    path, sidecar = item
    status, out, err = run(capsys, "check", str(path))
    assert status == 0 and err == ""
    lines = out.splitlines()
    n = sidecar["summary"]["namespaces"]
    docs = sum(x["documents"] for x in n)
    warnings = len(sidecar["warnings"])
    extra = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    size = len(path.read_bytes()) if not sidecar["summary"]["gzip"] else None
    tail = lines[-1]
    assert tail.startswith(f"{path}: ok ({len(n)} namespaces, {docs} documents, ")
    assert tail.endswith(f" bytes{extra})")
    if size is not None:
        assert f"{docs} documents, {size} bytes" in tail
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
    assert out.splitlines()[-1].startswith(f"{path}: FAILED (")


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
    assert set(first) == {"severity", "code", "message", "offset", "namespace", "hint"}
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
    }


def test_strict_fails_on_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "tolerated-int32-crc.archive"
    assert run(capsys, "check", str(path))[0] == 0
    status, out, _ = run(capsys, "check", "--strict", str(path))
    assert status == 1
    assert out.count("warning: ") == 2 and "[crc-not-int64]" in out
    assert out.splitlines()[-1] == f"{path}: FAILED (0 errors, 2 warnings)"


def test_quiet_prints_only_failures(capsys: pytest.CaptureFixture[str]) -> None:
    good = SPEC_VECTORS / "valid" / "tolerated-extra-fields.archive"
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
