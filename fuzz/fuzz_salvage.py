"""Fuzz ``salvage``: it must never fail on damaged bytes, and its output must be a valid archive.

python fuzz/fuzz_salvage.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import io

import _harness

with _harness.instrumented():
    import mongoarchive
    from mongoarchive.salvage import salvage


def test_one_input(data: bytes) -> None:
    """Salvage ``data``; the output must read back cleanly with the kept document count."""
    out = io.BytesIO()
    report = salvage(_harness.stream(data), out, gzip=False)
    report.to_dict()
    report.render_text()
    kept = sum(n.documents_kept for n in report.namespaces)
    with mongoarchive.open(io.BytesIO(out.getvalue())) as archive:
        count = sum(1 for _ in archive.documents())
        assert all(s.crc == "ok" for s in archive.namespaces.values())
    assert count == kept, (count, kept)


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)
