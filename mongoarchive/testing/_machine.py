"""A hypothesis state machine that drives a writer-like object against a model (spec/archive.md §5.4, §6, §9).

Any sequence of add_collection, write, write_batch, flush, namespace close,
write_prelude, close and abort either raises UsageError exactly where the
model says it must, or leaves an archive that our reader accepts with exactly
the model's prelude, namespaces, document counts and CRCs.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import mongoarchive

from .._crc import crc64_pure
from ..errors import UsageError
from ..model import Namespace
from ..writer import uses_buckets
from ._bson import bson_documents

__all__ = ["POOL", "ArchiveWriterMachine"]

#: (db, collection, type, whether the writer accepts the name at all).
POOL: list[tuple[str, str, str | None, bool]] = [
    ("d", "a", "collection", True),
    ("d", "b", "view", True),
    ("d", "X", "timeseries", True),
    ("d", "system.buckets.X", "collection", True),  # clashes with the timeseries X
    ("d", "a", "timeseries", True),  # clashes with d.a
    ("", "oplog", "", True),
    ("shop", "$admin.system.users", "", True),
    ("e", "a", None, True),
    ("é", "ünï", "collection", True),
    ("", "c", "collection", False),  # db "" is the oplog's only
    ("d", "a$b", "collection", False),
    ("d\x00", "c", "collection", False),
    ("d", "", "collection", False),
    ("d", "c", "table", False),
]


_AUTO: CodecOptions[Any] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


@dataclasses.dataclass
class _Namespace:
    entry: Namespace
    data: Namespace
    kind: str | None
    docs: list[bytes] = dataclasses.field(default_factory=list)
    closed: bool = False


class ArchiveWriterMachine(RuleBasedStateMachine):
    """The model: what is declared, what each namespace holds, and the writer's state.

    Subclass it and override ``open_writer`` (and ``read_back`` if the archive
    does not land in ``self.out``) to test another writer with the same API as
    ``mongoarchive.ArchiveWriter``; ``POOL`` lists the namespaces tried.
    """

    def __init__(self) -> None:
        super().__init__()
        self.out = io.BytesIO()
        self.server = "7.0.1"
        self.writer: Any = None
        self.state = "open"  # "open", "closed" or "aborted"
        self.frozen = False  # the prelude is out or a document exists: no more add_collection
        self.model: list[_Namespace] = []
        self.ns_writers: list[Any] = []
        self.claimed: set[Namespace] = set()
        self.verified = False

    def open_writer(self, server_version: str) -> Any:
        """The writer under test, writing into ``self.out``."""
        return mongoarchive.open(self.out, "w", server_version=server_version, tool_version="model")

    def read_back(self) -> bytes:
        """The bytes the writer produced, once closed."""
        return self.out.getvalue()

    @initialize(server=st.sampled_from(["7.0.1", "8.3.0", "4.4.29", "8.2.1-rc0"]))
    def start(self, server: str) -> None:
        self.server = server
        self.writer = self.open_writer(server)

    # -- helpers ---------------------------------------------------------------------------------
    def expect(self, ok: bool, call: Any, *args: Any) -> Any:
        """Run ``call``: it must succeed when ``ok``, and raise UsageError otherwise."""
        if ok:
            return call(*args)
        try:
            call(*args)
        except UsageError:
            return None
        raise AssertionError(f"{getattr(call, '__name__', call)}{args} was accepted; the model refuses it")

    def verify(self) -> None:
        with mongoarchive.open(io.BytesIO(self.read_back())) as archive:
            assert [(c.db, c.collection, c.type) for c in archive.collections] == [
                (*m.entry, m.kind) for m in self.model
            ]
            summaries = archive.validate()
        assert {ns: (s.documents, s.crc_value, s.crc) for ns, s in summaries.items()} == {
            m.data: (len(m.docs), crc64_pure(b"".join(m.docs)), "ok") for m in self.model
        }
        self.verified = True

    # -- rules ----------------------------------------------------------------------------------
    @rule(choice=st.sampled_from(POOL))
    def add_collection(self, choice: tuple[str, str, str | None, bool]) -> None:
        db, coll, kind, valid = choice
        entry = Namespace(db, coll)
        bucket = Namespace(db, "system.buckets." + coll) if kind == "timeseries" else None
        data = bucket if bucket is not None and uses_buckets(self.server) else entry
        claims = {entry, data} | ({bucket} if bucket else set())
        ok = self.state == "open" and not self.frozen and valid and not (claims & self.claimed)
        ns_writer = self.expect(ok, self.writer.add_collection, db, coll, "", kind)
        if ok:
            assert ns_writer.ns == data
            self.model.append(_Namespace(entry, data, kind))
            self.ns_writers.append(ns_writer)
            self.claimed |= claims

    @precondition(lambda self: self.model)
    @rule(i=st.integers(0, 20), doc=bson_documents, as_mapping=st.booleans())
    def write(self, i: int, doc: bytes, as_mapping: bool) -> None:
        m, w = self.model[i % len(self.model)], self.ns_writers[i % len(self.model)]
        ok = self.state == "open" and not m.closed
        # DATETIME_AUTO: a date outside Python's range stays a DatetimeMS, so it encodes back the same.
        value: Any = bson.decode(doc, _AUTO) if as_mapping else doc
        self.expect(ok, w.write, value)
        if ok:
            m.docs.append(bson.encode(value) if as_mapping else doc)
            self.frozen = True

    @precondition(lambda self: self.model)
    @rule(i=st.integers(0, 20), docs=st.lists(bson_documents, max_size=4))
    def write_batch(self, i: int, docs: list[bytes]) -> None:
        m, w = self.model[i % len(self.model)], self.ns_writers[i % len(self.model)]
        ok = self.state == "open" and not m.closed
        count = self.expect(ok, w.write_batch, b"".join(docs))
        if ok:
            assert count == len(docs)
            m.docs.extend(docs)
            self.frozen = self.frozen or bool(docs)

    @precondition(lambda self: self.model)
    @rule(i=st.integers(0, 20))
    def flush(self, i: int) -> None:
        m, w = self.model[i % len(self.model)], self.ns_writers[i % len(self.model)]
        ok = self.state == "open" and not m.closed
        self.expect(ok, w.flush)
        if ok:
            self.frozen = True  # a hand-off puts the prelude out

    @precondition(lambda self: self.model)
    @rule(i=st.integers(0, 20), empty_block=st.booleans())
    def close_namespace(self, i: int, empty_block: bool) -> None:
        m, w = self.model[i % len(self.model)], self.ns_writers[i % len(self.model)]
        ok = self.state == "open" or m.closed  # closing twice does nothing
        self.expect(ok, lambda: w.close(empty_block=empty_block))
        if ok and not m.closed:
            m.closed = True
            self.frozen = True

    @rule()
    def write_prelude(self) -> None:
        ok = self.state == "open"
        self.expect(ok, self.writer.write_prelude)
        if ok:
            self.frozen = True

    @rule()
    def close(self) -> None:
        ok = self.state != "aborted"
        self.expect(ok, self.writer.close)
        if ok and self.state == "open":
            self.state = "closed"
            for m in self.model:
                m.closed = True  # close() ends every namespace still open
            self.verify()

    @rule()
    def abort(self) -> None:
        self.writer.abort()
        if self.state == "open":
            self.state = "aborted"

    @invariant()
    def closed_means_verified(self) -> None:
        assert (self.state == "closed") == self.verified

    def teardown(self) -> None:
        if self.writer is not None and self.state == "open":
            self.writer.close()
            self.state = "closed"
            self.verify()
