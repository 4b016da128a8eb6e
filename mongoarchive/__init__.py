"""mongoarchive: read, check and write mongodump archives without a server.

Read (the prelude at once, the body as it streams)::

    with mongoarchive.open("dump.archive") as archive:
        for ns, doc in archive.documents("dict"):
            ...

Write (every namespace declared before the first document)::

    with mongoarchive.open("out.archive", "w", server_version="7.0.14") as out:
        users = out.add_collection("app", "users", {"indexes": []})
        users.write({"_id": 1, "name": "ada"})

Check and copy::

    result = mongoarchive.check_archive("dump.archive")  # every problem, never raises on bad bytes
    mongoarchive.copy("dump.archive", "copy.archive")    # same header, prelude and blocks

Everything but the exceptions is imported on first use, so ``import
mongoarchive`` stays light: no bson until a reader, no MongoDB client until ``dump``,
no pyarrow until ``export`` or ``to_arrow``.
"""

from __future__ import annotations

import os
import sys
import types
from typing import IO, TYPE_CHECKING, Any, Literal, overload

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

if TYPE_CHECKING:
    from ._crc import crc64
    from .checker import CheckResult, check_archive
    from .dump import DumpOptions, DumpResult, dump
    from .export import export
    from .merge import merge, split
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
    from .pack import pack
    from .reader import ArchiveReader, NamespaceConsumer
    from .restore import RestoreOptions, RestoreResult, restore
    from .rewrite import rewrite
    from .salvage import SalvageReport, salvage
    from .stats import stats
    from .tables import record_batches, to_arrow
    from .unpack import unpack
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
    "CheckResult",
    "ChecksumError",
    "CollectionEntry",
    "CollectionMetadata",
    "Document",
    "DocumentError",
    "DumpOptions",
    "DumpResult",
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
    "RestoreOptions",
    "RestoreResult",
    "SalvageReport",
    "Segment",
    "TrailingDataError",
    "TruncatedError",
    "UsageError",
    "__version__",
    "check_archive",
    "copy",
    "crc64",
    "dump",
    "export",
    "has_c",
    "is_archive",
    "merge",
    "open",
    "pack",
    "record_batches",
    "restore",
    "rewrite",
    "salvage",
    "split",
    "stats",
    "to_arrow",
    "unpack",
]

#: Names imported on first use, and the module holding each (PEP 562).
_LAZY = {
    "crc64": "_crc",
    "MAX_BSON_SIZE": "model",
    "ArchiveHeader": "model",
    "ArchiveWarning": "model",
    "CollectionEntry": "model",
    "CollectionMetadata": "model",
    "Document": "model",
    "Event": "model",
    "Namespace": "model",
    "NamespaceEnd": "model",
    "NamespaceSummary": "model",
    "Segment": "model",
    "ArchiveReader": "reader",
    "NamespaceConsumer": "reader",
    "ArchiveWriter": "writer",  # the writer builds headers with construct (schema.py): not for readers
    "NamespaceWriter": "writer",
    "CheckResult": "checker",
    "check_archive": "checker",
    "DumpOptions": "dump",
    "DumpResult": "dump",
    "dump": "dump",
    "SalvageReport": "salvage",
    "salvage": "salvage",
    "merge": "merge",
    "split": "merge",
    "pack": "pack",
    "rewrite": "rewrite",
    "unpack": "unpack",
    "export": "export",
    "stats": "stats",
    "to_arrow": "tables",
    "record_batches": "tables",
    "RestoreOptions": "restore",
    "RestoreResult": "restore",
    "restore": "restore",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


#: Functions named like the module that holds them.
_SHADOWED = frozenset({"dump", "salvage", "merge", "pack", "rewrite", "unpack", "export", "stats", "restore"})


class _Package(types.ModuleType):
    """The package object: ``mongoarchive.dump``, ``.salvage`` and the others stay the functions.

    Importing a submodule such as ``mongoarchive.dump`` would otherwise bind the
    module over the function of the same name.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable through sys.modules and from-imports
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
    gzip_level: int | None = ...,
    validate: bool = ...,
) -> ArchiveWriter: ...
def open(
    src: Source,
    mode: str = "r",
    *,
    server_version: str | None = None,
    tool_version: str | None = None,
    concurrent_collections: int = 4,
    gzip: bool = False,
    gzip_level: int | None = None,
    validate: bool = False,
) -> Any:
    """Open an archive: "r" (gzip sniffed), "r:" (plain), "r:gz"; "w" or "w:gz" to write.

    ``src`` is a path, a binary file object, or "-" for stdin/stdout.  Reading
    never seeks, so pipes work; writing to a path is atomic.  ``server_version``
    must be X.Y.Z (a "-" or "+" suffix allowed); ``validate=True`` decodes every
    document given as bytes (see ArchiveWriter).  ``gzip_level``: 0 (fastest)
    to 3 (smallest) for "w:gz"; None is the default, 1.
    """
    from ._io import open_source
    from .reader import ArchiveReader

    if mode in ("r", "r:", "r:gz"):
        sniff = {"r": None, "r:": False, "r:gz": True}[mode]
        return ArchiveReader(open_source(src, gzip=sniff))
    if mode in ("w", "w:gz"):
        if server_version is None:
            raise UsageError("writing needs server_version= (the dumped server's version)")
        from ._sink import gzip_level as resolve_level
        from ._sink import open_sink
        from .writer import ArchiveWriter

        sink = open_sink(src, gzip=gzip or mode == "w:gz", level=resolve_level(gzip_level))
        return ArchiveWriter(
            sink,
            server_version=server_version,
            tool_version=tool_version if tool_version is not None else f"mongoarchive {__version__}",
            concurrent_collections=concurrent_collections,
            validate=validate,
        )
    raise UsageError(f"unknown mode {mode!r}: use 'r', 'r:', 'r:gz', 'w' or 'w:gz'")


def has_c() -> bool:
    """True if the compiled per-document loops and Extended JSON converter run; False: the pure ones.

    False when the C extensions were not built (no compiler at install time) or
    when ``MONGOARCHIVE_PURE=1`` was set before the import.
    """
    from ._hotpath import IMPLEMENTATION, json_lines

    return IMPLEMENTATION == "c" and json_lines() is not None


def is_archive(src: Source) -> bool:
    """True if ``src`` starts like an archive (magic number, plain or gzip); reads <= 4 bytes."""
    from ._io import open_source

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


def copy(
    src: Source,
    dst: Source,
    *,
    gzip: bool | None = None,
    gzip_level: int | None = None,
    validate: bool = False,
) -> dict[Namespace, NamespaceSummary]:
    """Copy archive ``src`` to ``dst`` block for block; returns the source's namespace summaries.

    Same header, prelude, block boundaries and EOF blocks: byte-identical for any
    archive mongodump or this writer could have written (namespace headers are
    always written in their strict form, §3.3).  ``gzip``: None keeps the
    source's; ``gzip_level`` 0 to 3 (None: 1).  Errors in the source propagate
    and leave no ``dst`` path behind.
    """
    from ._copy import copy_body
    from ._sink import gzip_level as resolve_level
    from ._sink import open_sink
    from .writer import ArchiveWriter

    level = resolve_level(gzip_level)  # a bad level fails before anything is read
    with open(src) as reader:
        h = reader.header
        sink = open_sink(dst, gzip=reader.gzip if gzip is None else gzip, level=level)
        with ArchiveWriter(
            sink,
            server_version=h.server_version,
            tool_version=h.tool_version,
            concurrent_collections=h.concurrent_collections,
            version=h.version,
            validate=validate,
        ) as writer:
            return copy_body(reader, writer)
