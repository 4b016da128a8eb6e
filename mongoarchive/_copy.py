"""Copying an archive through the reader and the writer, block for block (spec/archive.md §9).

The copy has the source's header, prelude entries, block boundaries and EOF
blocks: every Segment of the source hands the previous namespace's buffer
over, so the writer starts its blocks where the source did.  What the writer
always writes its own way: namespace headers (four fields, CRC as int64,
§3.3), no unknown fields, and the timeseries data namespace the header's
``server_version`` calls for (§5.4).  So the copy of an archive that mongodump
or this writer could have written is byte-identical; any other valid archive
comes out in the form every supported mongorestore reads.

Documents move as the reader's checked runs (one piece per buffered run, no
object per document), and a namespace's CRC is the one the reader computed
over the same bytes (§4); with ``validate`` every document is decoded.
"""

from __future__ import annotations

from .model import Namespace, NamespaceEnd, NamespaceSummary, Segment
from .reader import ArchiveReader
from .writer import ArchiveWriter, NamespaceWriter

__all__ = ["copy_body"]


def copy_body(reader: ArchiveReader, writer: ArchiveWriter) -> dict[Namespace, NamespaceSummary]:
    """Declare ``reader``'s prelude entries in ``writer`` and replay its body; the reader's summaries.

    ``writer`` must have no namespaces yet; it is not closed here.  Errors of the
    source (a CRC mismatch, a cut) propagate as the reader raises them.
    """
    for entry in reader.collections:
        writer.add_collection(entry.db, entry.collection, entry.metadata, type=entry.type, size=entry.size)
    summaries = reader.namespaces
    active: NamespaceWriter | None = None
    blocks: set[Namespace] = set()  # data namespaces that had a data block in the source
    for item in reader._body(True, runs=True):
        if type(item) is tuple:  # (namespace, run, count): not a Segment or NamespaceEnd
            ns, run, count = item
            assert active is not None  # a run always follows its Segment
            # The reader's CRC of the namespace so far covers exactly the bytes copied so far.
            active._write_checked_run(run, count, summaries[ns].crc_value)
            continue
        target = writer.writer_for(reader.entry_for(item.ns).namespace)
        if active is not None and active is not target:
            active.flush()  # the source's block of ``active`` ends here
        if isinstance(item, Segment):
            blocks.add(target.ns)
            active = target
        else:
            assert isinstance(item, NamespaceEnd)
            target.close(empty_block=target.ns in blocks)
            active = None
    return summaries
