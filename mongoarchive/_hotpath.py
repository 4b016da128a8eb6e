"""Picks the per-document loops: the compiled ``_hot_c`` when it is built, else ``_hot``.

``MONGOARCHIVE_PURE=1`` (any value but empty or ``0``) forces the pure-Python
ones, read once at import.  Both give the same results (tests/test_hot_twin.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from . import _hot

__all__ = ["IMPLEMENTATION", "scan_last", "scan_run", "split_run"]

Buffer = _hot.Buffer

scan_run: Callable[[Buffer, int, int], tuple[int, int]] = _hot.scan_run
scan_last: Callable[[Buffer, int, int], tuple[int, int, int]] = _hot.scan_last
split_run: Callable[[Buffer, int, int], list[tuple[int, int]]] = _hot.split_run
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
