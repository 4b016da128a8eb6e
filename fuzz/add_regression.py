"""Store a fuzzing finding as a regression vector in spec/vectors/regressions/.

    python fuzz/add_regression.py NAME CRASH_FILE "what went wrong"

Writes NAME.archive (the input) and NAME.json: the outcome of the fixed
reader ({"valid": true} or {"valid": false, "error": {class, code, offset,
namespace}}).  Check the sidecar by hand before committing it: it records
the behaviour after the fix, which the test suite then holds the code to.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(FUZZ_DIR.parent))

import mongoarchive  # noqa: E402
from mongoarchive.errors import MongoArchiveError  # noqa: E402

REGRESSIONS = FUZZ_DIR.parent / "spec" / "vectors" / "regressions"


def outcome(data: bytes) -> dict[str, object]:
    """What the reader makes of ``data`` (all events read)."""
    try:
        with mongoarchive.open(io.BytesIO(data)) as archive:
            for _ in archive.events():
                pass
    except MongoArchiveError as exc:
        return {
            "valid": False,
            "error": {
                "class": type(exc).__name__,
                "code": exc.code,
                "offset": exc.offset,
                "namespace": exc.namespace,
            },
        }
    return {"valid": True}


def main(argv: list[str]) -> int:
    name, crash, description = argv[1], Path(argv[2]), argv[3]
    data = crash.read_bytes()
    REGRESSIONS.mkdir(parents=True, exist_ok=True)
    (REGRESSIONS / f"{name}.archive").write_bytes(data)
    sidecar = {"description": description, **outcome(data)}
    (REGRESSIONS / f"{name}.json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(sidecar, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
