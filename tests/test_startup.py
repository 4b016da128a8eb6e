"""Start-up cost: each verb imports only what it uses (modules, not timings).

Every case runs the command line in a fresh interpreter with stdout and
stderr on files (not a terminal), then lists ``sys.modules``.  A heavy module
that a verb does not need (pymongo's client, asyncio, rich off a terminal,
construct on a reading path) fails the case by name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REPO_ROOT, SPEC_VECTORS

VALID = SPEC_VECTORS / "valid"
PLAIN = VALID / "base-two-namespaces.archive"
GZIP = VALID / "sample-gzip.archive"

#: Never needed by a verb that reads an archive (only dump talks to a server; rich is for terminals).
NOT_FOR_READERS = ("pymongo", "asyncio", "rich", "construct")

_CHILD = """
import json, sys
argv = json.loads(sys.argv[1])
if argv is None:
    import mongoarchive
    status = 0
else:
    from mongoarchive.cli import main
    status = main(argv)
with open(sys.argv[2], "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""


def modules_after(argv: list[str] | None, tmp_path: Path) -> set[str]:
    """Module names loaded by ``main(argv)`` (or by ``import mongoarchive`` alone when None)."""
    report = tmp_path / "modules.json"
    with (tmp_path / "stdout").open("wb") as out, (tmp_path / "stderr").open("wb") as err:
        subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(argv), str(report)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            check=True,
        )
    result = json.loads(report.read_text())
    assert result["status"] == 0, (tmp_path / "stderr").read_text()
    return set(result["modules"])


def heavy(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in roots)


def test_import_mongoarchive_is_light(tmp_path: Path) -> None:
    modules = modules_after(None, tmp_path)
    assert heavy(modules, (*NOT_FOR_READERS, "bson", "isal", "fastcrc")) == []
    assert "mongoarchive._extjson_c" not in modules


def test_version_loads_no_codec(tmp_path: Path) -> None:
    modules = modules_after(["--version"], tmp_path)
    assert heavy(modules, (*NOT_FOR_READERS, "bson", "isal", "fastcrc")) == []
    # Only the verb that runs has its modules loaded.
    assert not any(m.startswith(("mongoarchive.checker", "mongoarchive.dump")) for m in modules)
    # No verb runs: no verb module, and no URL parsing (urllib.parse loads ipaddress).
    assert verb_modules(modules) == []
    assert heavy(modules, ("urllib", "ipaddress")) == []


#: The modules of the verbs themselves (mongoarchive/cli/NAME.py).
def verb_modules(modules: set[str]) -> list[str]:
    from mongoarchive.cli import VERB_HELP

    return sorted(
        m for m in modules if m.rpartition(".")[2] in VERB_HELP and m.startswith("mongoarchive.cli.")
    )


@pytest.mark.parametrize(
    "argv",
    [["check", str(PLAIN)], ["check", str(GZIP)], ["inspect", str(PLAIN)], ["cat", str(PLAIN)]],
    ids=lambda argv: " ".join(Path(a).name for a in argv),
)
def test_a_verb_loads_its_own_module_and_no_writer(argv: list[str], tmp_path: Path) -> None:
    modules = modules_after(argv, tmp_path)
    assert verb_modules(modules) == [f"mongoarchive.cli.{argv[0]}"]
    # Reading a path opens no sink (mongoarchive._sink, its writing thread) and parses no URL.
    assert {"mongoarchive._sink", "mongoarchive._writeback"} & modules == set()
    assert heavy(modules, ("urllib", "ipaddress")) == []


def test_the_verb_table_keeps_each_verb_module_help() -> None:
    from mongoarchive.cli import VERB_HELP, verb_module

    for name, text in VERB_HELP.items():
        module = verb_module(name)
        assert (name, text) == (module.NAME, module.HELP)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", str(PLAIN)],
        ["check", str(GZIP)],
        ["check", "--format", "json", str(PLAIN)],
        ["cat", str(PLAIN)],
        ["cat", "--json", "canonical", str(GZIP)],
        ["inspect", str(PLAIN)],
        ["inspect", "--format", "json", str(PLAIN)],
    ],
    ids=lambda argv: " ".join(Path(a).name for a in argv),
)
def test_reading_verbs_load_no_heavy_module(argv: list[str], tmp_path: Path) -> None:
    modules = modules_after(argv, tmp_path)
    assert heavy(modules, NOT_FOR_READERS) == []
    assert {"mongoarchive.schema", "mongoarchive.writer", "mongoarchive._nswriter"} & modules == set()


def test_cat_bson_needs_no_extended_json(tmp_path: Path) -> None:
    modules = modules_after(["cat", "--bson", str(PLAIN)], tmp_path)
    assert heavy(modules, NOT_FOR_READERS) == []
    assert "bson.json_util" not in modules and "bsonjs" not in modules
    assert "mongoarchive._extjson_c" not in modules  # the compiled converter is for JSON output only


def test_cli_defaults_match_the_library() -> None:
    """The verbs keep copies of two defaults so that building the parser imports neither module."""
    from mongoarchive import checker, salvage
    from mongoarchive.cli import check as check_verb
    from mongoarchive.cli import salvage as salvage_verb

    assert check_verb.DEFAULT_MAX_DAMAGE == checker.DEFAULT_MAX_DAMAGE
    assert salvage_verb.DEFAULT_MAX_DAMAGE == sys.modules["mongoarchive.salvage"].DEFAULT_MAX_DAMAGE
    assert callable(salvage)


def test_export_verb_defaults_match_the_library() -> None:
    """cli/export.py keeps copies of the library's defaults so that building the parser loads no Arrow."""
    from mongoarchive import export as export_module
    from mongoarchive.cli import export as export_verb

    library = sys.modules["mongoarchive.export"]
    assert callable(export_module)
    assert tuple(export_verb.FORMATS) == tuple(library.FORMATS)
    for name in ("MANIFEST", "ROW_GROUP_BYTES", "BUFFER_BYTES"):
        assert getattr(export_verb, name) == getattr(library, name), name
