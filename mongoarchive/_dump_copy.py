"""The copy engine of the dump: raw cursor batches into namespace writers, by parallel workers.

Documents travel as raw BSON (``find_raw_batches``) and are never decoded, so
each document's bytes in the archive are the server's. Server counts are
estimates and only order the work and feed progress; a collection is complete
when its cursor is exhausted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from ._dump_intents import Intent
from ._dump_server import Server, convert_error
from .errors import MongoArchiveError
from .writer import NamespaceWriter

__all__ = ["Copier", "NamespaceStats", "ProgressCallback"]

_RAW_DOCS: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)

#: progress(namespace, documents, bytes, estimate, done)
ProgressCallback = Callable[[str, int, int, int, bool], None]


@dataclasses.dataclass(frozen=True)
class NamespaceStats:
    """What was dumped for one namespace."""

    namespace: str
    documents: int
    bytes: int
    seconds: float


class _Stopped(Exception):
    """Another worker failed; this one stops quietly."""


class Copier:
    """Copies intents into their namespace writers and keeps per-namespace figures."""

    def __init__(self, server: Server, progress: ProgressCallback | None, *, raw_data: bool = False) -> None:
        self.server = server
        self.progress = progress
        #: Ask for rawData (servers 8.3+), so a viewless timeseries gives its buckets (§5.4).
        self.raw_data = raw_data
        self.stop = threading.Event()
        self.stats: list[NamespaceStats] = []
        self.stats_lock = threading.Lock()

    def fill_estimate(self, intent: Intent) -> None:
        """Ask the server for the intent's estimated count once (ordering and progress only)."""
        if intent.countable and intent.source is not None:
            intent.countable = False
            intent.estimate = self.server.estimate(*intent.source)

    def copy(
        self, intent: Intent, out: NamespaceWriter, validator: Callable[[bytes], None] | None = None
    ) -> None:
        """Copy one namespace's documents, raw, then close its namespace (§9)."""
        started = time.monotonic()
        docs = 0
        nbytes = 0
        ns = str(out.ns)
        if self.progress:
            self.fill_estimate(intent)
            self.progress(ns, 0, 0, intent.estimate, False)
        if intent.source is not None:
            db, coll = intent.source
            try:
                with contextlib.closing(self.batches(intent, db, coll)) as batches:
                    for raw in batches:
                        if self.stop.is_set():
                            raise _Stopped
                        if validator is None:
                            # The whole batch in one call: same bytes as one write per document.
                            docs += out.write_batch(raw)
                        else:
                            pos = 0
                            while pos < len(raw):
                                size = int.from_bytes(raw[pos : pos + 4], "little")
                                doc = raw[pos : pos + size]
                                validator(doc)
                                out.write(doc)
                                pos += size
                                docs += 1
                        nbytes += len(raw)
                        if self.progress:
                            self.progress(ns, docs, nbytes, intent.estimate, False)
            except (_Stopped, MongoArchiveError):
                raise
            except Exception as exc:
                raise convert_error(exc, f"error reading {db}.{coll}", namespace=intent.name) from exc
        out.close()
        seconds = time.monotonic() - started
        with self.stats_lock:
            self.stats.append(NamespaceStats(ns, docs, nbytes, seconds))
        if self.progress:
            self.progress(ns, docs, nbytes, intent.estimate, True)

    def batches(self, intent: Intent, db: str, coll: str) -> Generator[bytes, None, None]:
        """The documents of ``db.coll`` matching the intent's filter, as runs of raw BSON."""
        sort = [("$natural", 1)] if intent.special == "oplog" else None
        if self.raw_data and db != "admin":
            # mongo-tools (db.DeferredQuery.Iter) asks for rawData on every find outside
            # admin from 8.3 on; pymongo's find has no such option, so run the command.
            cmd: dict[str, Any] = {"find": coll, "filter": dict(intent.filter or {}), "rawData": True}
            if sort:
                cmd["sort"] = dict(sort)
            docs = self.server.client[db].cursor_command(cmd, codec_options=_RAW_DOCS)
            try:
                for doc in docs:
                    yield bytes(doc.raw)
            finally:
                docs.close()
            return
        cursor = self.server.client[db][coll].find_raw_batches(intent.filter or {}, sort=sort)
        try:
            for batch in cursor:
                yield bytes(batch)  # type: ignore[arg-type]  # raw batches are bytes
        finally:
            cursor.close()

    def run_workers(self, jobs: list[tuple[Intent, NamespaceWriter]], parallel: int) -> None:
        """``parallel`` threads pop intents, views first, then largest first (LongestTaskFirst)."""
        if not jobs:
            return
        workers = min(parallel, len(jobs))
        if workers > 1:
            # Some servers count by scanning: ask only when the order depends on it.
            for intent, _ in jobs:
                self.fill_estimate(intent)
            jobs = sorted(jobs, key=lambda j: (j[0].type != "view", -j[0].estimate))
        work: queue.SimpleQueue[tuple[Intent, NamespaceWriter]] = queue.SimpleQueue()
        for job in jobs:
            work.put(job)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                while not self.stop.is_set():
                    try:
                        intent, out = work.get_nowait()
                    except queue.Empty:
                        return
                    self.copy(intent, out)
            except _Stopped:
                return
            except BaseException as exc:
                errors.append(exc)
                self.stop.set()

        threads = [threading.Thread(target=worker, name=f"dump-{i}", daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)  # short joins keep Ctrl-C responsive in the main thread
        except BaseException:
            self.stop.set()
            for t in threads:
                t.join()
            raise
        if errors:
            raise errors[0]
