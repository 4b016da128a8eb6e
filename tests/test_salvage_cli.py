"""``mongoarchive salvage``: OUT as a directory, --keep-unverified, --max-damage on endless garbage."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from test_damage import VALID, walk

from mongoarchive._text import plural
from mongoarchive.checker import check_archive
from mongoarchive.cli import main
from mongoarchive.salvage import salvage

BASE = dict(VALID)["base-two-namespaces"]


def documents(data: bytes) -> list[object]:
    return [i for i in walk(data) if i.kind == "document"]


def test_an_existing_directory_as_out_takes_the_input_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in" / "shop.archive"
    src.parent.mkdir()
    src.write_bytes(BASE)
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assert main(["salvage", str(src), f"{outdir}{os.sep}", "--force"]) == 0
    assert (outdir / "shop.archive").read_bytes() == BASE
    capsys.readouterr()
    assert main(["salvage", str(src), str(outdir)]) == 2  # OUT/shop.archive exists now
    assert "exists" in capsys.readouterr().err
    assert main(["salvage", str(src), str(outdir), "--force"]) == 0


def test_standard_input_into_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BASE)))
    assert main(["salvage", "-", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mongoarchive: error: ") and "standard input has no name" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_keep_unverified_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.archive"
    cut.write_bytes(BASE[: len(BASE) - 70])  # the last namespace loses its EOF block
    assert main(["salvage", str(cut), str(tmp_path / "a"), "--format", "json"]) == 1
    default = json.loads(capsys.readouterr().out)
    assert default["totals"]["documents_dropped"] > 0 and default["totals"]["documents_unverified"] == 0
    assert main(["salvage", str(cut), str(tmp_path / "b"), "--keep-unverified"]) == 1
    text = capsys.readouterr().out
    assert f"{plural(default['totals']['documents_dropped'], 'document')} kept as unverified" in text
    assert check_archive(tmp_path / "b").ok()


def _feed(write_fd: int, prefix: bytes, limit: int, fed: list[int]) -> None:
    """Write ``prefix`` then zeros into a pipe until ``limit`` bytes or the reader goes away."""
    chunk = bytes(1 << 20)
    try:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(prefix)
            fed[0] = len(prefix)
            while fed[0] < limit:
                pipe.write(chunk)
                fed[0] += len(chunk)
    except (BrokenPipeError, OSError):
        pass


def test_an_endless_stream_of_zeros_ends_with_an_error(tmp_path: Path) -> None:
    """An intact archive, then zeros without end (bounded here at 1 GiB): stopped after --max-damage."""
    read_fd, write_fd = os.pipe()
    fed = [0]
    limit = 1 << 30
    feeder = threading.Thread(target=_feed, args=(write_fd, BASE[:-4], limit, fed), daemon=True)
    feeder.start()
    out = tmp_path / "out.archive"
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from mongoarchive.cli import main\n"
        f"sys.exit(main(['salvage', '-', {str(out)!r}, '--max-damage', '4M']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], stdin=read_fd, capture_output=True, text=True, timeout=120
    )
    os.close(read_fd)
    feeder.join(timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert fed[0] < limit  # it stopped reading long before the end
    assert "mongoarchive: error: more than 4194304 consecutive bytes" in proc.stderr
    assert "--max-damage" in proc.stderr and "Traceback" not in proc.stderr
    # What came before the zeros is written completely (only the last terminator is missing).
    result = check_archive(out)
    assert result.ok()
    assert sum(s.documents for s in result.namespaces.values()) == len(documents(BASE))


def test_max_damage_in_the_library() -> None:
    out = io.BytesIO()
    report = salvage(io.BytesIO(BASE + bytes(3 << 20) + BASE), out, max_damage=1 << 20)
    stop = [d for d in report.damaged if d.code == "too-much-damage"]
    assert len(stop) == 1 and not report.clean
    assert stop[0].start <= len(BASE) + (1 << 20) + 1
    assert check_archive(io.BytesIO(out.getvalue())).ok()


def test_the_report_never_tells_to_run_salvage(tmp_path: Path) -> None:
    """Hints written for check and inspect ("'mongoarchive salvage' can recover") mean nothing here."""
    data = dict(VALID)["base-two-namespaces"]
    inputs = [data[:cut] for cut in range(len(data) - 70, len(data) - 1, 7)]
    inputs += [b"\x00" * 5000, b"\x01\x02\x03\x04" * 300]  # not archives, nor text
    for source in inputs:
        report = salvage(io.BytesIO(source), io.BytesIO(), gzip=False)
        hints = [d.hint or "" for d in report.damaged]
        assert hints and not any("can recover the intact namespaces" in h for h in hints), hints
