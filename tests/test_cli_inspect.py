"""``mongoarchive inspect``: text, JSON and errors, on the vectors and through a pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from cli_helpers import read, run, walk
from conftest import spec_vectors
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS

VALID = spec_vectors("valid")
INVALID = [v for v in spec_vectors("invalid") if v[1]["stage"] == "read"]


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    return item[0].stem


@pytest.mark.parametrize("item", VALID, ids=_id)
def test_json_extends_the_sidecar_summary(
    capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]]
) -> None:
    path, sidecar = item
    status, out, err = run(capsys, "inspect", str(path), "--format", "json")
    assert status == 0
    # Format warnings are diagnostics: on stderr, one line each, never in the JSON.
    assert len(err.splitlines()) == len(sidecar["warnings"])
    assert all(line.startswith("mongoarchive inspect: warning: ") for line in err.splitlines())
    assert run(capsys, "inspect", "-q", str(path), "--format", "json")[2] == ""
    got = json.loads(out)
    want = sidecar["summary"]
    assert got["header"] == want["header"]
    assert got["gzip"] == want["gzip"]
    assert [{k: c[k] for k in want["collections"][0]} for c in got["collections"]] == want["collections"]
    assert [
        {k: n[k] for k in ("db", "collection", "documents", "bytes", "segments", "crc", "crc_value")}
        for n in got["namespaces"]
    ] == want["namespaces"]
    # Extensions: indexes and options come from the metadata string.
    for c in got["collections"]:
        meta = json_util.loads(c["metadata"]) if c["metadata"] else {}
        assert [ix["name"] for ix in c["indexes"]] == [ix["name"] for ix in meta.get("indexes", [])]
        assert set(c["options"]) == set(meta.get("options", {}))
    totals = got["totals"]
    assert totals["documents"] == sum(n["documents"] for n in want["namespaces"])
    assert totals["bytes"] == sum(n["bytes"] for n in want["namespaces"])


@pytest.mark.parametrize(
    ("vector", "kinds"),
    [
        (
            "view",
            {"shop.orders": "collection", "shop.paid_orders": "view", "shop.system.views": "collection"},
        ),
        ("timeseries-pre83", {"iot.system.buckets.weather": "timeseries"}),
        ("timeseries-83", {"iot.weather": "timeseries"}),
        ("oplog", {"app.users": "collection", ".oplog": "oplog"}),
        (
            "users-roles",
            {
                "shop.$admin.system.users": "users",
                "shop.$admin.system.roles": "roles",
                "shop.orders": "collection",
            },
        ),
    ],
)
def test_kinds(capsys: pytest.CaptureFixture[str], vector: str, kinds: dict[str, str]) -> None:
    status, out, _ = run(
        capsys, "inspect", str(SPEC_VECTORS / "valid" / f"{vector}.archive"), "--format", "json"
    )
    assert status == 0
    got = {f"{n['db']}.{n['collection']}": n["kind"] for n in json.loads(out)["namespaces"]}
    for ns, kind in kinds.items():
        assert got[ns] == kind


def test_text_on_sample(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "sample.archive"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    n = {x["collection"]: x for x in sidecar["summary"]["namespaces"]}
    docs = sum(x["documents"] for x in n.values())
    size = sum(x["bytes"] for x in n.values())
    status, out, err = run(capsys, "inspect", str(path))
    assert status == 0 and err == ""
    o, c = n["orders"], n["customers"]
    idx = "_id_(_id:1) customer_1_placed_-1(customer:1,placed:-1)"
    opts = "validator={reason:{$exists:true}} validationLevel=moderate"
    opts = opts if len(opts) <= 48 else opts[:45] + "..."
    rows = [
        ("namespace", "type", "documents", "bytes", "segments", "crc", "indexes", "options"),
        ("shop.orders", "collection", str(o["documents"]), str(o["bytes"]), "1", "ok", idx, "-"),
        (
            "shop.customers",
            "collection",
            str(c["documents"]),
            str(c["bytes"]),
            "1",
            "ok",
            "_id_(_id:1) email_1(email:1)",
            "-",
        ),
        ("shop.returns", "collection", "0", "0", "1", "ok", "_id_(_id:1)", opts),
        ("total (3)", "", str(docs), str(size), "3", "", "", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(8)]

    def line(row: tuple[str, ...]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i in (2, 3, 4) else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    expected = "\n".join(
        [
            "format 0.1  server 8.0.4  tool 100.10.0  concurrent_collections 4  gzip no",
            "3 collections in the prelude",
            "",
            line(rows[0]),
            rule,
            *(line(r) for r in rows[1:4]),
            rule,
            line(rows[4]),
        ]
    )
    assert out == expected + "\n"


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason="real archives not present")
def test_text_on_real_archive(capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED_VECTORS / "test.bar.archive"
    docs = walk(read(path))
    per_ns: dict[str, list[bytes]] = {}
    for ns, raw in docs:
        per_ns.setdefault(ns, []).append(raw)
    status, out, _ = run(capsys, "inspect", str(path))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "format 0.1  server 3.4.3  tool r3.4.3  concurrent_collections 4  gzip no"
    body = {ln.split()[0]: ln.split() for ln in lines[5:-2]}
    for ns, raws in per_ns.items():
        assert body[ns][1:6] == ["collection", str(len(raws)), str(sum(map(len, raws))), "1", "ok"]
    assert body["test.bar"][6] == "_id_(_id:1)"
    assert lines[-1].split() == ["total", "(2)", str(len(docs)), str(sum(len(r) for _, r in docs)), "2"]


@pytest.mark.parametrize("item", INVALID, ids=_id)
def test_broken_archive_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]]
) -> None:
    path, sidecar = item
    status, out, err = run(capsys, "inspect", str(path))
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    e = sidecar["error"]
    assert f"at byte {e['offset']}" in err
    if e["namespace"] is not None:
        assert repr(e["namespace"]) in err


def test_missing_file_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "inspect", str(tmp_path / "nope.archive"))
    assert status == 2 and out == "" and err.startswith("mongoarchive: error: cannot open")


def test_reads_stdin_through_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "sample-gzip.archive"
    with path.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "mongoarchive", "inspect", "-", "--format", "json"],
            stdin=stdin,
            capture_output=True,
            cwd=REPO_ROOT,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    _, out, _ = run(capsys, "inspect", str(path), "--format", "json")
    assert json.loads(proc.stdout) == json.loads(out)
    assert json.loads(out)["gzip"] is True


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from mongoarchive.cli import _common

    path = SPEC_VECTORS / "valid" / "sample.archive"
    args = argparse.Namespace(verbose=0, quiet=0)
    monkeypatch.setattr(_common, "PROGRESS_MIN_BYTES", 0)
    with _common.open_input(str(path), args) as handle:
        assert type(handle).__name__ == "BufferedReader"  # stderr is not a terminal under pytest
    monkeypatch.setattr(_common, "is_terminal", lambda stream: True)
    with _common.open_input(str(path), args) as handle:
        assert type(handle).__name__ != "BufferedReader"
        assert handle.read() == path.read_bytes()
    quiet = argparse.Namespace(verbose=0, quiet=1)
    with _common.open_input(str(path), quiet) as handle:
        assert type(handle).__name__ == "BufferedReader"
