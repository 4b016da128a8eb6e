"""Picks the per-document loops: the compiled ``_hot_c`` when it is built, else ``_hot``;
and the compiled Extended JSON converter ``_extjson_c`` when it is built, else none.

``MONGOARCHIVE_PURE=1`` (any value but empty or ``0``) forces the pure-Python
ones, read once at import.  Both give the same results (tests/test_hot_twin.py,
tests/test_extjson_twin.py).  Without ``json_lines`` (None), ``_extjson``
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
    "JSON_IMPLEMENTATION",
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
#: The compiled converter of runs of documents to Extended JSON lines, or None (mongoarchive/_extjson_c.c).
json_lines: Callable[[Buffer, int, bool], tuple[bytes, int, int]] | None = None
#: "c" or "pure": whether ``json_lines`` is the compiled converter.
JSON_IMPLEMENTATION = "pure"

if os.environ.get("MONGOARCHIVE_PURE", "") in ("", "0"):
    try:
        from . import _hot_c
    except ImportError:  # built without a compiler: the pure loops stay
        pass
    else:
        scan_run = _hot_c.scan_run
        scan_last = _hot_c.scan_last
        split_run = _hot_c.split_run
        IMPLEMENTATION = "c"
    try:
        from . import _extjson_c
    except ImportError:  # built without a compiler: no compiled converter
        pass
    else:
        json_lines = _extjson_c.lines
        JSON_IMPLEMENTATION = "c"


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
    if JSON_IMPLEMENTATION == "c":
        pure[id(_extjson_c.lines)] = None
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
