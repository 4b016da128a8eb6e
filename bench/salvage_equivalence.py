"""Salvage and check before and after a change: the same outputs on a fixed set of inputs, run by hand.

``record FILE`` runs every case and writes what came out, one JSON line a
case; ``compare FILE`` runs them again and prints each difference (exit 1 if
any).  Record on the code before a change, compare after it.  For each input:

* ``salvage`` (the library) with the default options, ``keep_unverified``
  and ``keep_missing=False``: the output bytes (SHA-256), the JSON report and
  the text report;
* ``mongoarchive salvage`` (the CLI, in this process): text report, and JSON
  with ``--keep-unverified --report``: exit code, stdout, stderr, the output
  file and the report file;
* ``check_archive``, plain and ``deep``: problems, offsets, unchecked ranges.

The inputs: every vector under spec/vectors and ../shared/vectors/mongo-tools,
and damaged copies of the valid ones and of a 3 MiB archive written here
(truncations at many offsets, bit flips, garbage and log lines inserted,
stored CRCs and namespace headers damaged, gzip'd variants), seeded, so the
set is the same every run.  The small ones run a second time through a
300-byte read window, so that documents and damage straddle window ends.

    python bench/salvage_equivalence.py record bench/out/salvage-before.jsonl
    python bench/salvage_equivalence.py compare bench/out/salvage-before.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import random
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mongoarchive
from mongoarchive import _framing
from mongoarchive.checker import check_archive
from mongoarchive.cli import main as cli_main
from mongoarchive.salvage import salvage

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "vectors" / "mongo-tools"
LOG_LINE = b"2024-05-01T10:00:00.123+0000 I NETWORK [listener] connection accepted from 10.0.0.7:51234\n"
#: A fixed place for the CLI's files: reports name their paths.
WORK = Path("/tmp/mongoarchive-salvage-equivalence")
SMALL_WINDOW = 300


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def medium_archive() -> bytes:
    """About 3 MiB in four namespaces, interleaved, documents of varied size."""
    rnd = random.Random(7)
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14", tool_version="equiv") as w:
        names = [w.add_collection("eq", f"c{i}") for i in range(4)]
        w.add_collection("eq", "empty")
        size = 0
        i = 0
        while size < 3 << 20:
            raw = bson.encode({"_id": i, "pad": "x" * rnd.randrange(10, 3000), "n": i * 7})
            names[rnd.randrange(4)].write(raw)
            size += len(raw)
            i += 1
    return out.getvalue()


def damaged_variants(name: str, data: bytes, rnd: random.Random, many: bool) -> Iterator[tuple[str, bytes]]:
    """Damaged copies of the well-formed plain archive ``data``."""
    n = len(data)
    cuts = sorted({rnd.randrange(n) for _ in range(40 if many else 14)} | {n - 1, n - 4, n // 2})
    for cut in cuts:
        yield f"{name}/cut@{cut}", data[:cut]
    for _ in range(12 if many else 8):
        at, bit = rnd.randrange(n), rnd.randrange(8)
        flipped = bytearray(data)
        flipped[at] ^= 1 << bit
        yield f"{name}/flip@{at}.{bit}", bytes(flipped)
    for _ in range(4):
        at, size = rnd.randrange(n), rnd.randrange(1, 400)
        junk = bytes(rnd.randrange(256) for _ in range(size))
        yield f"{name}/garbage@{at}+{size}", data[:at] + junk + data[at:]
    for _ in range(3):
        at = rnd.randrange(n)
        yield f"{name}/log@{at}", data[:at] + LOG_LINE + data[at:]
    start = 0
    while (idx := data.find(b"\x12CRC\x00", start)) >= 0:
        start = idx + 1
        crc = bytearray(data)
        crc[idx + 5 + rnd.randrange(8)] ^= 0x55
        yield f"{name}/crc@{idx}", bytes(crc)
    start = 0
    headers = []
    while (idx := data.find(b"\x02db\x00", start)) >= 0:
        start = idx + 1
        headers.append(idx - 4)
    for at in headers[:: max(1, len(headers) // 6)]:
        for what, pos, xor in (("length", at, 0x21), ("name", at + 13, 0x01), ("eof", at + 4, 0x07)):
            if pos < n:
                broken = bytearray(data)
                broken[pos] ^= xor
                yield f"{name}/header-{what}@{at}", bytes(broken)
    if many:
        spots = bytearray(data)
        for at in range(4096, n, 50_000):
            spots[at] ^= 0xFF
        yield f"{name}/spots", bytes(spots)
        logs = b"".join(data[i : i + (256 << 10)] + LOG_LINE for i in range(0, n, 256 << 10))
        yield f"{name}/log-every-256k", logs
        yield f"{name}/zeros", data[: n // 3] + b"\x00" * (100 << 10) + data[n // 3 + (100 << 10) :]
        yield f"{name}/junk-2m", data[: n // 2] + rnd.randbytes(2 << 20) + data[n // 2 :]
        yield f"{name}/doubled", data + data


def cases() -> Iterator[tuple[str, bytes, bool]]:
    """(name, input bytes, small: also run through a small window)."""
    rnd = random.Random(1)
    files = sorted((ROOT / "spec" / "vectors").rglob("*.archive"))
    if SHARED.is_dir():
        files += sorted(p for p in SHARED.rglob("*") if p.is_file())
    valid = []
    for path in files:
        data = path.read_bytes()
        rel = str(path.relative_to(ROOT.parent))
        yield rel, data, True
        is_valid = "/valid/" in rel or path.name == "test.bar.archive"
        if is_valid:
            valid.append((rel, _plain(data)))
    for rel, data in valid:
        for name, damaged in damaged_variants(rel, data, rnd, many=False):
            yield name, damaged, True
    for rel, data in valid[:4]:
        for name, damaged in list(damaged_variants(rel, data, rnd, many=False))[::5]:
            yield name + "/gz", gzip.compress(damaged, mtime=0), True
        packed = gzip.compress(data, mtime=0)
        for cut in (len(packed) // 3, len(packed) - 5):
            yield f"{rel}/gz-cut@{cut}", packed[:cut], True
    medium = medium_archive()
    yield "medium", medium, False
    for name, damaged in damaged_variants("medium", medium, rnd, many=True):
        yield name, damaged, False
    yield "medium/gz", gzip.compress(medium, mtime=0, compresslevel=1), False
    yield "medium/gz-cut", gzip.compress(medium, mtime=0, compresslevel=1)[:400_000], False


def _salvage(data: bytes, **options: Any) -> dict[str, Any]:
    out = io.BytesIO()
    report = salvage(io.BytesIO(data), out, gzip=False, **options)
    return {"output": _sha(out.getvalue()), "report": report.to_dict(), "text": report.render_text()}


def _check(data: bytes, deep: bool) -> dict[str, Any]:
    result = check_archive(io.BytesIO(data), deep=deep)
    return {
        "dict": result.to_dict(),
        "unchecked": [list(r) for r in result.unchecked],
        "unchecked_bytes": result.unchecked_bytes,
        "unchecked_omitted": result.unchecked_omitted,
    }


def _cli(data: bytes, *flags: str) -> dict[str, Any]:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    src, dst, rep = WORK / "in.archive", WORK / "out.archive", WORK / "report.json"
    src.write_bytes(data)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli_main(["salvage", str(src), str(dst), "--report", str(rep), *flags])
    return {
        "exit": code,
        "stdout": stdout.getvalue(),
        "stderr": stderr.getvalue(),
        "output": _sha(dst.read_bytes()) if dst.exists() else None,
        "report": rep.read_text() if rep.exists() else None,
    }


def run_case(data: bytes, cli: bool) -> dict[str, Any]:
    got: dict[str, Any] = {
        "salvage": _salvage(data),
        "salvage-keep": _salvage(data, keep_unverified=True),
        "salvage-drop-missing": _salvage(data, keep_missing=False),
        "check": _check(data, False),
        "check-deep": _check(data, True),
    }
    if cli:
        got["cli-text"] = _cli(data)
        got["cli-json"] = _cli(data, "--format", "json", "--keep-unverified")
    return got


@contextlib.contextmanager
def window(chunk: int) -> Iterator[None]:
    """Every Framer made inside reads through a ``chunk``-byte window."""
    saved = _framing.Framer.__init__.__defaults__
    _framing.Framer.__init__.__defaults__ = (chunk,)
    try:
        yield
    finally:
        _framing.Framer.__init__.__defaults__ = saved


def results() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, data, small in cases():
        yield name, run_case(data, cli=True)
        if small:
            with window(SMALL_WINDOW):
                yield name + "/window", run_case(data, cli=False)


def _diff(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _diff(a.get(key), b.get(key), f"{path}.{key}")
    elif a != b:
        yield f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument("file")
    args = parser.parse_args(argv)
    if args.mode == "record":
        count = 0
        with open(args.file, "w", encoding="utf-8") as out:
            for name, got in results():
                out.write(json.dumps({"case": name, **got}, sort_keys=True) + "\n")
                count += 1
        print(f"{count} cases recorded in {args.file}")
        return 0
    with open(args.file, encoding="utf-8") as f:
        before = {(rec := json.loads(line)).pop("case"): rec for line in f}
    differ = 0
    seen = 0
    for name, got in results():
        seen += 1
        if name not in before:
            print(f"{name}: not recorded")
            differ += 1
            continue
        lines = list(_diff(before[name], json.loads(json.dumps(got))))
        if lines:
            differ += 1
            print(f"{name}:")
            for line in lines[:20]:
                print(f"  {line}")
    print(f"{seen} cases, {differ} differ")
    return 1 if differ or seen != len(before) else 0


if __name__ == "__main__":
    sys.exit(main())
