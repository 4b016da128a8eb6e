# The compiled builder of a batch's Arrow buffers (mongoarchive/_arrow_build_c.c).
from typing import Any

from mongoarchive._hot import Buffer

def build(buf: Buffer, program: Buffer, /) -> tuple[int, list[Any]] | None: ...
