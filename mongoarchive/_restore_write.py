"""Raw batches to the server: one lane per namespace, a shared pool of insertion workers.

Documents leave the archive as the bytes they are (``RawBSONDocument``: pymongo
sends ``.raw`` as it is, no decode/encode round trip) in batches of at most
1000 documents (mongorestore's default ``--batchSize``, hidden in its help) or
16 MiB.  ``-j`` lanes insert at a time, each with up to
``--numInsertionWorkersPerCollection`` batches in flight; the reader waits when
they are all busy, so memory stays bounded.  Duplicate keys are counted as
failed documents, as mongorestore counts them; any other write error fails
the namespace; ``stop_on_error`` makes any failure fatal.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from ._restore_server import DUPLICATE_KEY, convert_error
from .errors import MongoArchiveError, RestoreError

__all__ = ["BATCH_BYTES", "BATCH_DOCUMENTS", "Lane", "Pool"]

BATCH_DOCUMENTS = 1000
BATCH_BYTES = 16 * 1024 * 1024


class Pool:
    """The insertion workers shared by every lane; at most ``size`` batches in flight."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="restore-insert")
        self.slots = threading.BoundedSemaphore(size)

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        self.slots.acquire()
        try:
            future = self.executor.submit(fn, *args)
        except BaseException:
            self.slots.release()
            raise
        future.add_done_callback(lambda _: self.slots.release())
        return future

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class Lane:
    """The batches of one target collection; counts what was inserted and what failed."""

    def __init__(
        self,
        pool: Pool,
        collection: Collection[RawBSONDocument],
        namespace: str,
        *,
        ordered: bool,
        workers: int,
        bypass_validation: bool,
        stop_on_error: bool,
        batch_documents: int = BATCH_DOCUMENTS,
    ) -> None:
        self.pool = pool
        self.collection = collection
        self.namespace = namespace
        self.ordered = ordered
        self.workers = workers
        self.bypass = bypass_validation
        self.stop_on_error = stop_on_error
        self.batch_documents = batch_documents
        self.batch: list[RawBSONDocument] = []
        self.batch_bytes = 0
        self.inflight: deque[Future[None]] = deque()
        self.lock = threading.Lock()
        self.inserted = 0
        self.duplicates = 0
        self.failed = 0
        #: The first write error that is not a duplicate key (fails the namespace).
        self.error: MongoArchiveError | None = None

    def add(self, raw: bytes) -> None:
        self.batch.append(RawBSONDocument(raw))
        self.batch_bytes += len(raw)
        if len(self.batch) >= self.batch_documents or self.batch_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hand the current batch to a worker (waits while this lane's workers are busy)."""
        if not self.batch:
            return
        while len(self.inflight) >= self.workers:
            self.inflight.popleft().result()
        self._check()
        docs, self.batch, self.batch_bytes = self.batch, [], 0
        self.inflight.append(self.pool.submit(self._insert, docs))

    def wait(self) -> None:
        """Flush and wait for every batch; raises a fatal error (connection lost, --stopOnError)."""
        self.flush()
        while self.inflight:
            self.inflight.popleft().result()
        self._check()

    def _check(self) -> None:
        if self.stop_on_error and (self.failed or self.error):
            raise self.error or RestoreError(
                f"{self.failed} document(s) failed to insert (duplicate keys) and --stopOnError is set",
                namespace=self.namespace,
                code="stop-on-error",
            )

    def _insert(self, docs: list[RawBSONDocument]) -> None:
        try:
            self.collection.insert_many(docs, ordered=self.ordered, bypass_document_validation=self.bypass)
            n, dup, other = len(docs), 0, 0
            first: str | None = None
        except BulkWriteError as exc:
            details = exc.details
            errors = details.get("writeErrors", [])
            n = int(details.get("nInserted", 0))
            dup = sum(1 for e in errors if e.get("code") == DUPLICATE_KEY)
            other = len(docs) - n - dup  # with ordered inserts, those never tried count too
            first = next((str(e.get("errmsg")) for e in errors if e.get("code") != DUPLICATE_KEY), None)
            if first is None and other:
                first = "an ordered insert stopped at a duplicate key"
        except Exception as exc:
            # Connection lost, not primary, ...: fatal for the whole restore.
            raise convert_error(exc, "inserting documents", self.namespace) from exc
        with self.lock:
            self.inserted += n
            self.duplicates += dup
            self.failed += dup + other
            if first is not None and self.error is None:
                self.error = RestoreError(
                    f"a write failed: {first}", namespace=self.namespace, code="write-failed"
                )
