"""Every fuzz harness runs over the seed corpus and the regression vectors, so none can rot.

The harnesses (fuzz/*.py) raise on a finding: a non-MongoArchiveError
exception, or an AssertionError for a broken cross-check.  Here each one gets
every seed input once, without atheris.  The regression vectors found by
fuzzing (spec/vectors/regressions/) must also give the outcome in their
sidecar.
"""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO_ROOT, spec_vectors

import mongoarchive
from mongoarchive.errors import MongoArchiveError

FUZZ = REPO_ROOT / "fuzz"
HARNESSES = [
    "fuzz_read",
    "fuzz_metadata",
    "fuzz_differential",
    "fuzz_check",
    "fuzz_salvage",
    "fuzz_roundtrip",
    "fuzz_unpack",
    "fuzz_hot_twin",
    "fuzz_extjson_twin",
    "fuzz_export",
    "fuzz_stats",
]
REGRESSIONS = spec_vectors("regressions")


def _import(name: str) -> ModuleType:
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    counts = _import("build_corpus").build(out)
    assert counts["archive"] >= 10 and counts["metadata"] >= 10
    return out


def test_every_harness_is_listed_in_run_all() -> None:
    script = (FUZZ / "run_all.sh").read_text()
    on_disk = sorted(p.stem for p in FUZZ.glob("fuzz_*.py"))
    assert on_disk == sorted(HARNESSES)
    for name in HARNESSES:
        assert f"run {name} " in script


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_over_the_seed_corpus(name: str, corpus: Path) -> None:
    harness = _import(name)
    kind = "metadata" if name == "fuzz_metadata" else "archive"
    inputs = sorted((corpus / kind).iterdir())
    for path in inputs:
        harness.test_one_input(path.read_bytes())
    for path, _ in REGRESSIONS:
        harness.test_one_input(path.read_bytes())
    harness.test_one_input(b"")


@pytest.mark.parametrize(
    "names",
    [
        b"..\tx",
        b"a/b\tc",
        b"../../x\ty",
        b"\ttop",
        b"oplog.bson\tc\n\toplog",
        b"d\t..\n",
        b"d\tsl/ash",
        b"/abs\tc",
        b"d\\0x\tc",
        b"d\t\xff\xfe",
        b"d\ta b\nd\ta+b",
        b".mongoarchive-pack.json\tc",
        b"d\tw\tts\nd\tsystem.buckets.w",
    ],
)
def test_unpack_harness_over_hostile_names(names: bytes) -> None:
    _import("fuzz_unpack").test_one_input(names)


@pytest.mark.parametrize("names", [b"..\tx", b"a/b\tc", b"/abs\tc", b"d\\0x\tc", b"\ttop", b"d\t"])
def test_hostile_names_reach_unpack_and_are_refused(names: bytes, tmp_path: Path) -> None:
    """The harness frames names itself: unpack, not the writer, is what refuses them."""
    import io

    from mongoarchive.errors import NamespaceError
    from mongoarchive.unpack import unpack

    archive = _import("fuzz_unpack").archive_of_names(names)
    with pytest.raises(NamespaceError) as info:
        unpack(io.BytesIO(archive), tmp_path / "out")
    assert info.value.code == "unsafe-name"
    assert not (tmp_path / "out").exists()


def test_unpack_harness_sees_a_write_outside(tmp_path: Path) -> None:
    """The sandbox check really looks: a file beside the target is a finding."""
    harness = _import("fuzz_unpack")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "canary").write_bytes(b"canary")
    (tmp_path / "escaped.bson").write_bytes(b"")
    with pytest.raises(AssertionError):
        harness.check_sandbox(str(tmp_path))


def test_a_finding_is_raised_not_swallowed() -> None:
    """The differential harness really compares: a doctored reference result must be caught."""
    harness = _import("fuzz_differential")
    data = (REPO_ROOT / "spec" / "vectors" / "valid" / "base-two-namespaces.archive").read_bytes()
    original = harness.reference
    try:
        harness.reference = lambda d: ("error", "FramingError", "bad-length", 0, None)
        with pytest.raises(AssertionError):
            harness.test_one_input(data)
    finally:
        harness.reference = original


@pytest.mark.parametrize(("path", "sidecar"), REGRESSIONS, ids=[p.stem for p, _ in REGRESSIONS])
def test_regression_vector_outcome(path: Path, sidecar: dict[str, object]) -> None:
    data = path.read_bytes()
    if sidecar["valid"]:
        with mongoarchive.open(io.BytesIO(data)) as archive:
            for _ in archive.events():
                pass
        return
    with pytest.raises(MongoArchiveError) as info, mongoarchive.open(io.BytesIO(data)) as archive:
        for _ in archive.events():
            pass
    expected = sidecar["error"]
    assert isinstance(expected, dict)
    exc = info.value
    assert type(exc).__name__ == expected["class"]
    assert (exc.code, exc.offset, exc.namespace) == (
        expected["code"],
        expected["offset"],
        expected["namespace"],
    )
