"""Picks the per-document loops: the compiled ``_hot_c`` when it is built, else ``_hot``;
and the compiled Extended JSON converter ``_extjson_c`` when it is built, else none
(``json_lines()``, imported on first use).

``MONGOARCHIVE_PURE=1`` (any value but empty or ``0``) forces the pure-Python
ones, read once at import.  Both give the same results (tests/test_hot_twin.py,
tests/test_extjson_twin.py).  Without ``json_lines()`` (None), ``_extjson``
converts with python-bsonjs or bson.json_util alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

from . import _hot

__all__ = [
    "IMPLEMENTATION",
    "JsonLinesFn",
    "json_lines",
    "pure_loops",
    "scan_last",
    "scan_run",
    "split_run",
]

Buffer = _hot.Buffer

scan_run: Callable[[Buffer, int, int], tuple[int, int]] = _hot.scan_run
scan_last: Callable[[Buffer, int, int], tuple[int, int, int]] = _hot.scan_last
split_run: Callable[[Buffer, int, int], list[tuple[int, int]]] = _hot.split_run
_LOOPS = ("scan_run", "scan_last", "split_run")
#: "c" or "pure": which implementation runs.
IMPLEMENTATION = "pure"
#: The compiled converter of runs of documents to Extended JSON lines (mongoarchive/_extjson_c.c).
JsonLinesFn = Callable[[Buffer, int, bool], tuple[bytes, int, int]]
_PURE = os.environ.get("MONGOARCHIVE_PURE", "") not in ("", "0")
_json_lines: list[JsonLinesFn | None] = []  # json_lines() once looked up

if not _PURE:
    try:
        from . import _hot_c
    except ImportError:  # built without a compiler: the pure loops stay
        pass
    else:
        scan_run = _hot_c.scan_run
        scan_last = _hot_c.scan_last
        split_run = _hot_c.split_run
        IMPLEMENTATION = "c"


def json_lines() -> JsonLinesFn | None:
    """The compiled Extended JSON converter, or None (not built, or MONGOARCHIVE_PURE at import).

    Imported on first call, not with the loops: only cat's JSON output needs it.
    """
    if not _json_lines:
        found: JsonLinesFn | None = None
        if not _PURE:
            try:
                from . import _extjson_c
            except ImportError:  # built without a compiler: no compiled converter
                pass
            else:
                found = _extjson_c.lines
        _json_lines.append(found)
    return _json_lines[0]


@contextlib.contextmanager
def pure_loops() -> Iterator[int]:
    """Within the block, every mongoarchive module that bound a compiled loop uses the pure one,
    and every one that bound the compiled JSON converter holds None instead (the pure converters).

    For differential tests and fuzzing in one process; yields how many names
    were rebound (0 when nothing compiled is running).  Not thread-safe.
    """
    pure: dict[int, object] = {}
    if IMPLEMENTATION == "c":
        pure.update({id(getattr(_hot_c, name)): getattr(_hot, name) for name in _LOOPS})
    compiled_json = _json_lines[0] if _json_lines else None
    if compiled_json is not None:
        pure[id(compiled_json)] = None
    if not pure:
        yield 0
        return
    saved: list[tuple[ModuleType, str, object]] = []
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.partition(".")[0] != "mongoarchive" or mod_name == __name__ or mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            if id(value) in pure:
                saved.append((mod, attr, value))
                setattr(mod, attr, pure[id(value)])
    try:
        yield len(saved)
    finally:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)
