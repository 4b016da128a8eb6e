"""mongoarchive.testing: no import cost, a clear message without hypothesis, its fixture and helpers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from paths import REPO_ROOT

import mongoarchive
from mongoarchive.testing import (
    ArchiveModel,
    ArchiveWriterMachine,
    archives,
    assert_equivalent,
    assert_exact_copy,
    expected_events,
    model_of,
    read_all,
    strip_offsets,
    write_model,
)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)


def test_import_mongoarchive_loads_neither_testing_nor_hypothesis() -> None:
    result = run(
        "import sys, mongoarchive; "
        "print(sorted(m for m in sys.modules if m.startswith(('hypothesis', 'mongoarchive.testing'))))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_hypothesis_the_import_error_names_the_extra() -> None:
    result = run("import sys; sys.modules['hypothesis'] = None; import mongoarchive.testing")
    assert "ImportError" in result.stderr and "mongoarchive[testing]" in result.stderr
    assert "MongoArchiveError" not in result.stderr


def test_the_pytest_plugin_loads_without_hypothesis() -> None:
    # pytest loads the plugin wherever mongoarchive is installed, with or without the extra.
    result = run("import sys; sys.modules['hypothesis'] = None; import mongoarchive.pytest_plugin")
    assert result.returncode == 0, result.stderr


def test_archive_factory_fixture(archive_factory: object, tmp_path: Path) -> None:
    path = archive_factory({"app.users": [{"_id": 1}, {"_id": 2}], ".oplog": []}, views=["app.v"])  # type: ignore[operator]
    assert path.parent == tmp_path
    model = model_of(path)
    assert [(db, c, k) for db, c, _, k in model.collections] == [
        ("app", "users", "collection"),
        ("", "oplog", ""),
        ("app", "v", "view"),
    ]
    assert [len(d) for d in model.documents().values()] == [2, 0, 0]


def test_model_of_rewrites_to_the_same_bytes(archive_factory: object) -> None:
    path = archive_factory({"a.b": [{"x": 1}], "a.c": [{"y": 2}]})  # type: ignore[operator]
    again = write_model(model_of(path))
    assert_exact_copy(path, again)
    assert_equivalent(path, again)


def test_assert_equivalent_shows_a_diff(archive_factory: object) -> None:
    one = archive_factory({"a.b": [{"x": 1}]})  # type: ignore[operator]
    two = archive_factory({"a.b": [{"x": 2}]})  # type: ignore[operator]
    with pytest.raises(AssertionError, match=r"(?s)the archives differ:.*-  a\.b \[0\].*\+  a\.b \[0\]"):
        assert_equivalent(one, two)
    with pytest.raises(AssertionError, match=r"differ first at byte \d+"):
        assert_exact_copy(one, two)
    assert_equivalent(one, one, ignore={"tool_version"})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(archives(gzip=None))
def test_archives_read_back_as_their_model(example: tuple[ArchiveModel, bytes]) -> None:
    # Every shape the public strategies draw: timeseries on both sides of 8.3, EOF-only
    # namespaces, entries without type, extra prelude fields, gzip or not.
    model, data = example
    _, collections, events, summaries, _ = read_all(data, "r")
    assert [(c.db, c.collection, c.metadata, c.type) for c in collections] == list(model.collections)
    assert strip_offsets(events) == expected_events(model)
    assert all(s.crc == "ok" for s in summaries.values())
    again = model_of(data)
    assert expected_events(again) == expected_events(model)
    assert_equivalent(write_model(again), data)


class GzipPathWriterMachine(ArchiveWriterMachine):
    """The machine driving another writer set-up: gzip to a file path."""

    def open_writer(self, server_version: str) -> object:
        import tempfile

        self.path = Path(tempfile.mkdtemp()) / "out.archive.gz"
        return mongoarchive.open(self.path, "w:gz", server_version=server_version)

    def read_back(self) -> bytes:
        return self.path.read_bytes()


GzipPathWriterMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
)
test_machine_drives_another_writer = GzipPathWriterMachine.TestCase


DOC = REPO_ROOT / "docs" / "testing.md"


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(doc_blocks())))
def test_documented_examples_run(index: int) -> None:
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    exec(compile(doc_blocks()[index], f"{DOC}:block{index}", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert tests, "each example defines a test"
    for test in tests:
        test()


_ = mongoarchive
