"""Fuzz ``stats``: only MongoArchiveError may leave it, and its figures add up.

The input is archive bytes (the seed corpus mutated); stats runs over all
documents and over a sample of two.  For each namespace: the size figures are
ordered (min <= median <= p99 <= max), the documents counted are at least the
ones analysed, and the report renders as JSON.

    python fuzz/fuzz_stats.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import contextlib
import json

import _harness

with _harness.instrumented():
    from mongoarchive.errors import MongoArchiveError
    from mongoarchive.stats import stats


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any non-library exception) on a finding."""
    for sample in (None, 2):
        with contextlib.suppress(MongoArchiveError):
            result = stats(_harness.stream(data), sample=sample)
            report = result.to_dict()
            json.dumps(report)
            for item in report["namespaces"]:
                assert isinstance(item, dict)
                assert item["documents"] >= item["analysed"], item
                if item["documents"]:
                    size = item["size"]
                    assert size["min"] <= size["median"] <= size["p99"] <= size["max"], size


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)
