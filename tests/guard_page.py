"""Run a check in a child process whose buffers end at an inaccessible page.

The compiled twins (``_hot_c``, ``_extjson_c``, ``_arrow_c``) must never read
past the buffer they are given: ``at_guard(data)`` in the child returns a view
of ``data`` whose last byte is the last one before a PROT_NONE page, so a
single byte read beyond it kills the child (SIGSEGV) and fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

__all__ = ["run_beside_guard_page"]

_PRELUDE = """
import ctypes, mmap, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
page = mmap.PAGESIZE
base = libc.mmap(None, 2 * page, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
assert base not in (None, ctypes.c_void_p(-1).value)
assert libc.mprotect(base + page, page, 0) == 0  # PROT_NONE: the guard page

def at_guard(data):
    n = len(data)
    arr = (ctypes.c_char * max(n, 1)).from_address(base + page - max(n, 1))
    ctypes.memmove(arr, data, n)
    return memoryview(arr).cast("B")[max(n, 1) - n:]
"""


def run_beside_guard_page(body: str) -> None:
    """Run ``body`` (dedented) after the guard-page set-up in a child; it must print "ok" and exit 0."""
    if sys.platform != "linux":
        pytest.skip("needs mmap and mprotect through ctypes (Linux)")
    script = _PRELUDE + textwrap.dedent(body) + '\nprint("ok")\n'
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
