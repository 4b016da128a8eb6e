"""Full BSON validation of data documents, as ``bsondump --objcheck`` does (check --deep).

Framing (spec/archive.md §2) checks only a document's length and final NUL; this
decodes every element with pymongo's C decoder, which checks element types,
lengths, UTF-8 and nesting.  A run of documents is decoded in one call; only
when that fails are its documents decoded one by one to find the bad ones.
"""

from __future__ import annotations

import struct

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

__all__ = ["invalid_documents"]

#: Any int64 is a valid BSON datetime, even outside Python's datetime range.
_OPTIONS: CodecOptions[dict[str, object]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_MS)


def _error(doc: memoryview) -> str | None:
    try:
        bson.decode_all(doc, _OPTIONS)
    except Exception as exc:  # InvalidBSON, and the odd OverflowError or ValueError of a bad value
        return str(exc) or type(exc).__name__
    return None


def invalid_documents(run: memoryview) -> list[tuple[int, str]]:
    """(offset in ``run``, reason) of each document of a framed run that is not valid BSON."""
    if _error(run) is None:
        return []
    bad = []
    pos = 0
    while pos < len(run):
        (size,) = struct.unpack_from("<i", run, pos)
        reason = _error(run[pos : pos + size])
        if reason is not None:
            bad.append((pos, reason))
        pos += size
    return bad
