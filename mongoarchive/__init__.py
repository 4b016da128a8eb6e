"""mongoarchive: read, check and write mongodump archives without a server.

>>> with mongoarchive.open("dump.archive") as archive:
...     for ns, raw in archive.documents():
...         ...
"""

from __future__ import annotations

import os
from typing import IO, Any, Literal, overload

from ._crc import crc64
from ._io import open_sink, open_source
from .errors import (
    ArchiveError,
    ArchiveIOError,
    ChecksumError,
    DocumentError,
    FramingError,
    HeaderError,
    MetadataError,
    MongoArchiveError,
    NamespaceError,
    NotAnArchiveError,
    TrailingDataError,
    TruncatedError,
    UsageError,
)
from .model import (
    MAX_BSON_SIZE,
    ArchiveHeader,
    ArchiveWarning,
    CollectionEntry,
    CollectionMetadata,
    Document,
    Event,
    Namespace,
    NamespaceEnd,
    NamespaceSummary,
    Segment,
)
from .reader import ArchiveReader, NamespaceConsumer
from .writer import ArchiveWriter, NamespaceWriter

__version__ = "0.1.0"

__all__ = [
    "MAX_BSON_SIZE",
    "ArchiveError",
    "ArchiveHeader",
    "ArchiveIOError",
    "ArchiveReader",
    "ArchiveWarning",
    "ArchiveWriter",
    "ChecksumError",
    "CollectionEntry",
    "CollectionMetadata",
    "Document",
    "DocumentError",
    "Event",
    "FramingError",
    "HeaderError",
    "MetadataError",
    "MongoArchiveError",
    "Namespace",
    "NamespaceConsumer",
    "NamespaceEnd",
    "NamespaceError",
    "NamespaceSummary",
    "NamespaceWriter",
    "NotAnArchiveError",
    "Segment",
    "TrailingDataError",
    "TruncatedError",
    "UsageError",
    "__version__",
    "crc64",
    "is_archive",
    "open",
]

Source = str | os.PathLike[str] | IO[bytes]


@overload
def open(src: Source, mode: Literal["r", "r:", "r:gz"] = "r") -> ArchiveReader: ...
@overload
def open(
    src: Source,
    mode: Literal["w", "w:gz"],
    *,
    server_version: str,
    tool_version: str = ...,
    concurrent_collections: int = ...,
    gzip: bool = ...,
) -> ArchiveWriter: ...
def open(
    src: Source,
    mode: str = "r",
    *,
    server_version: str | None = None,
    tool_version: str | None = None,
    concurrent_collections: int = 4,
    gzip: bool = False,
) -> Any:
    """Open an archive: "r" (gzip sniffed), "r:" (plain), "r:gz"; "w" or "w:gz" to write.

    ``src`` is a path, a binary file object, or "-" for stdin/stdout.  Reading
    never seeks, so pipes work; writing to a path is atomic.
    """
    if mode in ("r", "r:", "r:gz"):
        sniff = {"r": None, "r:": False, "r:gz": True}[mode]
        return ArchiveReader(open_source(src, gzip=sniff))
    if mode in ("w", "w:gz"):
        if server_version is None:
            raise UsageError("writing needs server_version= (the dumped server's version)")
        sink = open_sink(src, gzip=gzip or mode == "w:gz")
        return ArchiveWriter(
            sink,
            server_version=server_version,
            tool_version=tool_version if tool_version is not None else f"mongoarchive {__version__}",
            concurrent_collections=concurrent_collections,
        )
    raise UsageError(f"unknown mode {mode!r}: use 'r', 'r:', 'r:gz', 'w' or 'w:gz'")


def is_archive(src: Source) -> bool:
    """True if ``src`` starts like an archive (magic number, plain or gzip); reads <= 4 bytes."""
    try:
        source = open_source(src)
    except MongoArchiveError:
        return False
    try:
        from ._framing import MAGIC, Framer

        return Framer(source, chunk=4).peek(4) == MAGIC
    except MongoArchiveError:
        return False
    finally:
        if isinstance(src, (str, os.PathLike)):
            source.close()


# Whole-archive operations; last, because they use open() above.
from .merge import merge, split  # noqa: E402
from .pack import pack  # noqa: E402
from .rewrite import rewrite  # noqa: E402
from .unpack import unpack  # noqa: E402

__all__ += ["merge", "pack", "rewrite", "split", "unpack"]
