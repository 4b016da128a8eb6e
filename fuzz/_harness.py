"""Shared plumbing for the fuzz harnesses: instrumentation and how atheris is started.

A harness module defines ``test_one_input(data: bytes) -> None`` and is
importable without atheris, so ``tests/test_fuzz_smoke.py`` can run it over
the seed corpus.  Only MongoArchiveError subclasses may leave the library
(spec/archive.md §7): the harnesses catch exactly that and let anything else
propagate, which atheris reports as a finding (a crash with a traceback).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent
if str(REPO_ROOT) not in sys.path:  # run as "python fuzz/fuzz_x.py" from a checkout
    sys.path.insert(0, str(REPO_ROOT))

#: Packages whose Python code atheris instruments for coverage feedback.
INSTRUMENTED = ["mongoarchive", "construct", "bson"]


def _fuzzing() -> bool:
    """True when a harness runs as the main program (not under pytest)."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    return main_file is not None and Path(main_file).resolve().parent == FUZZ_DIR


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Imports inside this block are instrumented when fuzzing, plain otherwise."""
    if not _fuzzing():
        yield
        return
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        yield


def stream(data: bytes) -> io.BytesIO:
    """A fresh binary file object over ``data`` (the reader never seeks, §8)."""
    return io.BytesIO(data)


def run_atheris(test_one_input: Callable[[bytes], None]) -> None:
    """Hand control to libFuzzer; it runs ``test_one_input`` until told to stop."""
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
