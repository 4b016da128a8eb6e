"""A signal stops a reader waiting on a silent standard input, whichever thread the kernel gave it to.

A thread of the child sends SIGINT to itself with ``pthread_kill``, as when a
library's thread pool (pyarrow's, the object store's) takes Ctrl-C: the main
thread, asleep in a read of a pipe that sends nothing more, must still stop.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import pytest

import mongoarchive

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pthread_kill and pipes as on POSIX")

_CHILD = textwrap.dedent(
    """
    import signal, sys, threading, time
    import mongoarchive

    def other():
        time.sleep(1.0)  # the main thread is in its read by then
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    threading.Thread(target=other, daemon=True).start()
    count = 0
    try:
        with mongoarchive.open("-") as archive:
            for _ in archive.documents():
                count += 1
    except KeyboardInterrupt:
        print("interrupted after", count, flush=True)
        sys.exit(130)
    print("finished", count, flush=True)
    """
)


def _archive() -> bytes:
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14") as writer:
        ns = writer.add_collection("db", "c", {"indexes": []})
        for i in range(100):
            ns.write({"_id": i, "pad": "x" * 100})
    return out.getvalue()


def test_signal_in_another_thread_stops_a_read_of_a_silent_pipe() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None
    data = _archive()
    try:
        proc.stdin.write(data[: len(data) // 2])  # then silence, pipe still open
        proc.stdin.flush()
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the reader did not stop on a SIGINT taken by another thread")
    finally:
        proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    assert status == 130 and out.startswith("interrupted after"), (status, out, err)
