"""Reading, check and salvage share one walk over the body (mongoarchive/_walk.py), under three policies."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import bson
import pytest
from hypothesis import HealthCheck, given, settings

import mongoarchive
from mongoarchive import _walk
from mongoarchive._framing import TERMINATOR, Framer
from mongoarchive._io import open_source
from mongoarchive.checker import check_archive
from mongoarchive.errors import MongoArchiveError
from mongoarchive.salvage import salvage
from mongoarchive.testing import Damage, archives, damaged_archives

PACKAGE = Path(mongoarchive.__file__).parent


def _validate(data: bytes) -> tuple[list[dict[str, Any]], list[tuple[str, int | None, str | None]]]:
    """The reader's summaries and warnings (code, offset, namespace)."""
    with mongoarchive.open(io.BytesIO(data)) as archive:
        summaries = [s.to_dict() for s in archive.validate().values()]
        return summaries, [(w.code, w.offset, w.namespace) for w in archive.warnings]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archives(gzip=None))
def test_check_of_an_intact_archive_is_validate(item: tuple[Any, bytes]) -> None:
    """Same walk, same findings: the reader's warnings are check's problems, and the summaries
    (counts, bytes, segments and CRCs of every namespace) are the same."""
    _, data = item
    summaries, warnings = _validate(data)
    result = check_archive(io.BytesIO(data))
    assert [(p.code, p.offset, p.namespace) for p in result.problems] == warnings
    assert result.unchecked == []
    assert [s.to_dict() for s in result.namespaces.values()] == summaries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_archives())
def test_check_reports_what_the_reader_raises(damage: Damage) -> None:
    """The reader's policy raises where check's records: the reader's error is one of check's problems."""
    try:
        with mongoarchive.open(io.BytesIO(damage.data)) as archive:
            archive.validate()
    except MongoArchiveError as exc:
        # Where the reader finds no magic, check looks further and may name "data-before-magic".
        codes = {exc.code, "data-before-magic"} if exc.code == "bad-magic" else {exc.code}
        raised = {(code, exc.offset, exc.namespace) for code in codes}
    else:
        pytest.fail("the reader accepted a damaged archive")
    found = {(p.code, p.offset, p.namespace) for p in check_archive(io.BytesIO(damage.data)).problems}
    assert raised & found, (raised, found)


@pytest.fixture
def walk_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The policy of every ``Walk.body`` call made while the test runs, in order."""
    calls: list[str] = []
    body = _walk.Walk.body

    def counted(self: _walk.Walk, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(self.policy).__name__)
        return body(self, *args, **kwargs)

    monkeypatch.setattr(_walk.Walk, "body", counted)
    return calls


def test_check_walks_the_body_with_the_readers_walk(walk_calls: list[str]) -> None:
    """One walk: check's body is ``Walk.body``, not a copy of it."""
    data = Path(__file__).parent.parent / "spec" / "vectors" / "valid" / "sample.archive"
    assert check_archive(data).ok()
    with mongoarchive.open(data) as archive:
        archive.validate()
    assert walk_calls == ["CheckPolicy", "ReadPolicy"]


def test_salvage_walks_the_body_with_the_same_walk(walk_calls: list[str]) -> None:
    """One walk: salvage's body is ``Walk.body`` too, under its policy, with no loop of its own."""
    from mongoarchive._salvage_policy import SalvagePolicy

    data = (Path(__file__).parent.parent / "spec" / "vectors" / "valid" / "sample.archive").read_bytes()
    out = io.BytesIO()
    assert salvage(io.BytesIO(data), out, gzip=False).clean
    assert out.getvalue() == data
    assert walk_calls == ["SalvagePolicy"]
    assert not {"body", "documents", "item"} & set(vars(SalvagePolicy))


def _framer(data: bytes) -> Framer:
    return Framer(open_source(io.BytesIO(data), gzip=False))


def test_held_runs_takes_a_last_document_whose_successor_is_framed() -> None:
    docs = [bson.encode({"_id": i}) for i in range(3)]
    runs = _walk.HeldRuns(_framer(b"".join(docs) + TERMINATOR))
    first = runs()
    assert first == (0, len(docs[0]) + len(docs[1]), 2)  # the last one is held back
    assert runs() == (first[1], first[1] + len(docs[2]), 1)
    assert runs() is None  # the terminator
    fr = runs.fr
    assert fr.at_end()


def test_held_runs_refuses_a_grown_length_that_does_not_decode() -> None:
    """A length grown over its successor frames (its last byte is a NUL) but hides what follows (§2)."""
    a, b = bson.encode({"_id": 1, "s": "x"}), bson.encode({"_id": 2})
    grown = (len(a) + len(b)).to_bytes(4, "little") + a[4:]
    fr = _framer(grown + b + b"\x07garbage")  # after the grown document: not framed
    with pytest.raises(_walk.SuspectLength) as caught:
        _walk.HeldRuns(fr)()
    assert caught.value.offset == 0
    assert fr.offset == 0  # the cursor stays at the document: the policy skips from there


def test_codes_of_the_walk_and_checks_modules_are_in_the_release_table() -> None:
    """Every code check can report from its own modules is placed in the release table (spec §7)."""
    from mongoarchive._releases import REFUSED

    modules = ("checker.py", "_check_prelude.py", "_check_report.py", "_walk.py", "_skip_damage.py")
    source = "\n".join((PACKAGE / m).read_text() for m in modules)
    found = set(re.findall(r'code="([a-z0-9.-]+)"', source))
    found |= set(re.findall(r'Problem\(\s*"(?:error|warning)",\s*"([a-z0-9.-]+)"', source))
    assert {"duplicate-entry", "data-before-magic", "damage-limit", "data-after-eof"} <= found
    assert found - set(REFUSED) == set()
