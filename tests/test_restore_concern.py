"""``--writeConcern``: mongorestore's syntaxes, and the concern seen on the wire by every write.

The parser cases follow mongo-tools ``common/db/write_concern.go``.  The wire
cases restore the seeded archive (tests/restore_helpers.py) in a child
interpreter that registers a pymongo command listener before the restore's
client exists (pymongo's listeners are process-wide, so the test's own process
stays clean) and prints every command's name and ``writeConcern``; each
insert, create, index build, rename and drop must carry the concern given.
Skipped without SecantusDB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from cli_helpers import run
from restore_helpers import Servers, plain

from mongoarchive._restore_model import write_concern
from mongoarchive.errors import UsageError
from mongoarchive.restore import RestoreOptions

pytest_plugins = ["restore_helpers"]

#: The write commands a restore sends (the rest, ping, buildInfo, listCollections, read).
WRITES = {"insert", "create", "createIndexes", "renameCollection", "drop"}


@pytest.mark.parametrize(
    ("text", "document"),
    [
        (None, {"w": "majority"}),
        ("", {"w": "majority"}),
        ("majority", {"w": "majority"}),
        ("2", {"w": 2}),
        ("0", {"w": 0}),
        ("dcTag", {"w": "dcTag"}),
        ('{"w": 1, "j": true, "wtimeout": 500}', {"w": 1, "j": True, "wtimeout": 500}),
        ("{w: 1, j: true, wtimeout: 500}", {"w": 1, "j": True, "wtimeout": 500}),
        ("{j: true}", {"w": "majority", "j": True}),
        ("{w: 'majority', j: false}", {"w": "majority"}),
        ('{w: "3", wtimeout: "100"}', {"w": 3, "wtimeout": 100}),
    ],
)
def test_mongorestores_syntaxes(text: str | None, document: dict[str, Any]) -> None:
    concern = write_concern(text)
    assert concern is not None and concern.document == document


def test_the_uris_concern_is_kept_when_none_is_given() -> None:
    assert write_concern(None, "mongodb://h/?w=2&journal=true") is None
    assert write_concern(None, "mongodb://h/?appname=x") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "invalid 'w' argument: -1"),
        ("{w: -2}", "invalid 'w' argument: -2"),
        ("{w: true}", "invalid 'w' argument type"),
        ("{w: 1.5}", "invalid 'w' argument: 1.5"),
        ("{wtimeout: 'soon'}", "invalid 'wtimeout' argument"),
        ("{w: 0, j: true}", "w to 0 and j to True"),
    ],
)
def test_bad_concerns_are_one_line_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        write_concern(text)
    assert "\n" not in str(info.value)


def test_a_bad_concern_exits_2_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) has no server: the concern is refused before any connection is tried.
    status, _, err = run(capsys, "restore", "--port", "9", "--writeConcern", "{w: -1}", "x.archive")
    assert status == 2 and "invalid 'w' argument: -1" in err and "Traceback" not in err


_CHILD = """
import json, sys
from pymongo import monitoring
seen = []
class Listener(monitoring.CommandListener):
    def started(self, event):
        seen.append([event.command_name, event.command.get("writeConcern")])
    def succeeded(self, event):
        pass
    def failed(self, event):
        pass
monitoring.register(Listener())
from mongoarchive.cli import main
status = main(json.loads(sys.argv[1]))
print(json.dumps({"status": status, "seen": seen}))
"""


def commands_seen(servers: Servers, *flags: str, uri: str | None = None) -> list[tuple[str, Any]]:
    argv = ["-q", "restore", "--uri", uri or servers.target.uri, "--drop", *flags, str(servers.archive)]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(argv)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 0, done.stderr[-3000:]
    return [(name, concern) for name, concern in report["seen"]]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), {"w": "majority"}),
        (("--writeConcern", "{w: 1, j: true, wtimeout: 5000}"), {"w": 1, "j": True, "wtimeout": 5000}),
        (("--writeConcern", "1", "--no-atomic"), {"w": 1}),
    ],
)
def test_every_write_carries_the_concern(servers: Servers, flags: tuple[str, ...], expected: Any) -> None:
    servers.wipe()
    seen = commands_seen(servers, *flags)
    writes = [(name, concern) for name, concern in seen if name in WRITES]
    kinds = {name for name, _ in writes}
    assert {"insert", "create", "createIndexes", "drop"} <= kinds
    if "--no-atomic" not in flags:
        assert "renameCollection" in kinds  # options-free collections are renamed into place
    wrong = [(name, concern) for name, concern in writes if concern != expected]
    assert not wrong
    assert plain(servers.catalogue()) == plain(servers.full)


def test_the_uris_concern_reaches_the_server(servers: Servers) -> None:
    servers.wipe()
    seen = commands_seen(servers, uri=servers.target.uri + "&w=1")
    writes = [concern for name, concern in seen if name in WRITES]
    assert writes and all(concern == {"w": 1} for concern in writes)


def test_restore_options_take_the_same_text() -> None:
    assert RestoreOptions(write_concern="{w: 2}").write_concern == "{w: 2}"
