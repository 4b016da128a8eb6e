"""Picks the per-document loops: the compiled ``_hot_c`` when it is built, else ``_hot``.

``MONGOARCHIVE_PURE=1`` (any value but empty or ``0``) forces the pure-Python
ones, read once at import.  Both give the same results (tests/test_hot_twin.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

from . import _hot

__all__ = ["IMPLEMENTATION", "pure_loops", "scan_last", "scan_run", "split_run"]

Buffer = _hot.Buffer

scan_run: Callable[[Buffer, int, int], tuple[int, int]] = _hot.scan_run
scan_last: Callable[[Buffer, int, int], tuple[int, int, int]] = _hot.scan_last
split_run: Callable[[Buffer, int, int], list[tuple[int, int]]] = _hot.split_run
_LOOPS = ("scan_run", "scan_last", "split_run")
#: "c" or "pure": which implementation runs.
IMPLEMENTATION = "pure"

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


@contextlib.contextmanager
def pure_loops() -> Iterator[int]:
    """Within the block, every mongoarchive module that bound a compiled loop uses the pure one.

    For differential tests and fuzzing in one process; yields how many names
    were rebound (0 when the compiled loops are not running).  Not thread-safe.
    """
    if IMPLEMENTATION != "c":
        yield 0
        return
    pure = {id(getattr(_hot_c, name)): getattr(_hot, name) for name in _LOOPS}
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
