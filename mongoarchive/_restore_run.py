"""One restore against a connected server: create, stream the body into lanes, commit, roll back.

``restore.py`` reads the prelude and connects; ``Run`` does the rest
(module docs of ``restore``): with ``atomic`` each namespace's documents go to
a staging collection put in place at its EOF (``_restore_stage``), timeseries
and the oplog to a spool; views, users and roles and the oplog come after the
body.

A namespace's commit (its last batches, the index builds, the rename) runs on
the commit thread (one: commits never run side by side) while the reader
goes on with the next namespaces: mongodump writes one namespace's data in
blocks of up to 16 MiB (spec/archive.md §9), so a small collection is often
one block followed by its EOF, and a reader that waited for the rename would
leave the server with nothing to insert meanwhile.  Every commit has
finished before the views, users and roles, and the oplog, and before a
rollback touches anything.  With ``stop_on_error`` a commit runs in the
reader's turn, so nothing after the first failure is committed.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo import MongoClient

from . import _restore_meta as meta
from . import _restore_stage as stage
from ._framing import split_run
from ._restore_model import NamespaceOutcome, ProgressCallback, RestoreOptions, RestoreResult
from ._restore_plan import Plan, Target
from ._restore_write import Lane, Pool
from .errors import MongoArchiveError
from .model import Namespace, NamespaceEnd
from .reader import ArchiveReader

__all__ = ["Run", "outcomes_of", "result_of"]


def outcomes_of(plan: Plan) -> dict[int, NamespaceOutcome]:
    return {
        id(t): NamespaceOutcome(str(t.source), str(t.target), t.kind, indexes=len(t.indexes))
        for t in plan.targets
    }


def result_of(
    reader: ArchiveReader, plan: Plan, outcomes: dict[int, NamespaceOutcome], o: RestoreOptions
) -> RestoreResult:
    return RestoreResult(
        archive=str(reader.name),
        dry_run=o.dry_run,
        atomic=o.atomic,
        namespaces=[outcomes[id(t)] for t in plan.targets],
        skipped=[(str(ns), why) for ns, why in plan.skipped],
    )


class Run:
    """One restore against a connected server."""

    def __init__(
        self,
        client: MongoClient[RawBSONDocument],
        reader: ArchiveReader,
        plan: Plan,
        o: RestoreOptions,
        version: tuple[int, int, int],
        limit: Timestamp | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.reader = reader
        self.plan = plan
        self.o = o
        self.version = version
        self.limit = limit
        self.progress = progress
        self.run_id = stage.new_run()
        self.pool = Pool(o.parallel * o.insertion_workers)
        self.outcomes = outcomes_of(plan)
        self.result = result_of(reader, plan, self.outcomes, o)
        #: Per target: its lane, the collection it writes (staging, target or temp), its spool.
        self.lanes: dict[int, Lane] = {}
        self.writes: dict[int, Namespace] = {}
        self.spools: dict[int, IO[bytes]] = {}
        self.pending: set[int] = set()
        self.rename_keeps_options: bool | None = None
        #: Lanes copying a staging collection into its target (stage.commit).
        self.copies: dict[int, Lane] = {}
        #: Commits run here, one at a time (module docs); their futures.  One at a time: two
        #: concurrent renames or drops in one database left a renamed staging collection still
        #: listed on SecantusDB 0.7.0b3, and the reader thread used to run them one at a time too.
        self.committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="restore-commit")
        self.commits: list[Future[None]] = []
        self.lock = threading.Lock()

    # -- setup -------------------------------------------------------------------------
    def _lane(self, coll_ns: Namespace, target: Target) -> Lane:
        return Lane(
            self.pool,
            # The client carries the restore's write concern (_restore_server.connect).
            self.client[coll_ns.db][coll_ns.collection],
            str(target.target),
            ordered=self.o.maintain_insertion_order,
            workers=self.o.insertion_workers,
            bypass_validation=self.o.bypass_document_validation,
            stop_on_error=self.o.stop_on_error,
            batch_documents=self.o.batch_size,
        )

    def _prepare(self) -> None:
        o = self.o
        if o.oplog_replay or o.preserve_uuid:
            meta.probe_apply_ops(self.client)  # mongorestore's --preserveUUID also needs applyOps
        for number, t in enumerate(self.plan.targets):
            key = id(t)
            options = meta.clean_options(t.options, self.version)
            if t.kind == "view":
                self.pending.add(key)
                continue
            if t.kind in ("users", "roles"):
                temp = meta.TEMP_USERS if t.kind == "users" else meta.TEMP_ROLES
                stage.drop_collection(self.client, temp)
                self.writes[key] = temp
            elif t.kind == "oplog" or (t.kind == "timeseries" and o.atomic):
                self.spools[key] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _finish
                self.pending.add(key)
                continue
            elif o.atomic:
                staging = stage.staging_namespace(t.target, self.run_id, number)
                meta.create_collection(self.client, staging, options, must_create=True)
                self.writes[key] = staging
            else:
                if o.drop:
                    stage.drop_collection(self.client, t.target)
                    if t.insert_ns != t.target:
                        stage.drop_collection(self.client, t.insert_ns)
                meta.create_collection(self.client, t.target, options, must_create=False)
                self.writes[key] = t.insert_ns
            self.lanes[key] = self._lane(self.writes[key], t)
            self.pending.add(key)

    # -- the body ------------------------------------------------------------------------
    def run(self) -> RestoreResult:
        try:
            self._prepare()
            self._stream()
            self._settle()
            self._after_body()
        except MongoArchiveError as exc:
            self._settle(quiet=True)  # no rollback while a commit may still be renaming
            if exc not in self.result.errors:
                self.result.errors.append(exc)
            self._abort()
        finally:
            self.committer.shutdown(wait=True, cancel_futures=True)
            self.pool.close()
            for spool in self.spools.values():
                spool.close()
        return self.result

    def _stream(self) -> None:
        by_data = self.plan.by_data
        # The reader's events with runs of raw documents, not one object per document (reader.py).
        for item in self.reader._body(True, runs=True):
            if type(item) is tuple:
                ns, view, _count = item
                target = by_data.get(ns)
                if target is None:
                    continue
                key = id(target)
                spool = self.spools.get(key)
                if spool is not None:
                    spool.write(view)
                    continue
                lane = self.lanes[key]
                for a, b in split_run(view, 0, len(view)):
                    lane.add(view[a:b].tobytes())
                self._progress(str(target.target), lane.inserted + len(lane.batch), False)
            elif type(item) is NamespaceEnd:
                self._raise_failed_commit()
                target = by_data.get(item.ns)
                if target is None or target.kind in ("view", "users", "roles", "oplog"):
                    continue
                if self.o.stop_on_error:
                    # Nothing after the first failure may be committed: no commit runs ahead of it.
                    self._commit(target)
                else:
                    self.commits.append(self.committer.submit(self._commit, target))

    def _progress(self, namespace: str, documents: int, done: bool) -> None:
        if self.progress is not None:
            with self.lock:  # the reader and the commit threads both report
                self.progress(namespace, documents, done)

    def _raise_failed_commit(self) -> None:
        """Raise the error of a finished commit that ends the restore (fatal, or --stopOnError)."""
        for future in self.commits:
            exc = future.exception() if future.done() else None
            if exc is not None:
                raise exc
        self.commits = [future for future in self.commits if not future.done()]

    def _settle(self, *, quiet: bool = False) -> None:
        """Wait for every commit; raise the first one's error that ends the restore unless ``quiet``."""
        first: BaseException | None = None
        for future in self.commits:
            exc = future.exception() if not future.cancelled() else None
            if first is None and exc is not None:
                first = exc
        self.commits = []
        if first is not None and not quiet:
            raise first

    def _commit(self, t: Target) -> None:
        """The EOF of ``t``'s data checked: put it in place (see the module docs)."""
        key = id(t)
        out = self.outcomes[key]
        if t.kind == "oplog":
            return  # applied after everything else
        try:
            if key in self.spools:
                self._load_spool(t)
            else:
                lane = self.lanes[key]
                lane.wait()
                if lane.error is not None:
                    raise lane.error
                out.documents, out.failed = lane.inserted, lane.failed
                written = self.writes[key]
                if self.o.atomic:
                    options = meta.clean_options(t.options, self.version)
                    # Options-free collections lose nothing even where a rename drops options, and
                    # validation options can be set again with collMod after the rename.
                    keeps = not options or self._rename_ok(t.target.db)
                    reapply = not keeps and set(options) <= meta.COLLMOD_OPTIONS
                    how = stage.commit(
                        self.client,
                        written,
                        t.target,
                        drop=self.o.drop,
                        rename=keeps or reapply,
                        after_rename=(lambda ns: meta.modify_collection(self.client, ns, options))
                        if reapply
                        else None,
                        create=lambda ns: meta.create_collection(self.client, ns, options, must_create=False),
                        indexes=lambda ns: self._build_indexes(t, ns),
                        lane=lambda ns: self.copies.setdefault(key, self._lane(ns, t)),
                    )
                    if reapply and how == "renamed":
                        out.message = "renamed, then its validation options set again with collMod"
                    if how != "renamed":
                        copied = self.copies[key]
                        out.documents, out.failed = copied.inserted, out.failed + copied.failed
                        out.message = {
                            "copied": "copied from staging (the server's rename loses options)",
                            "appended": "appended to the existing collection",
                        }[how]
                else:
                    self._build_indexes(t, written)
        except MongoArchiveError as exc:
            self._fail(t, exc)
            if self.o.stop_on_error or _fatal(exc):
                raise
            return
        self.pending.discard(key)
        out.status = "restored"
        self._progress(str(t.target), out.documents, True)

    def _indexes(self, t: Target) -> list[dict[str, Any]]:
        return meta.clean_indexes(t.indexes, self.o.keep_index_version)

    def _build_indexes(self, t: Target, ns: Namespace) -> None:
        self.outcomes[id(t)].indexes = meta.create_indexes(self.client, ns, self._indexes(t))

    def _rename_ok(self, db: str) -> bool:
        """Whether renames keep options here, asked once per restore (``stage.rename_keeps_options``)."""
        with self.lock:
            if self.rename_keeps_options is None:
                self.rename_keeps_options = stage.rename_keeps_options(self.client, db, self.run_id)
            return self.rename_keeps_options

    def _load_spool(self, t: Target) -> None:
        """A spooled timeseries: create it now, then insert its documents straight into place."""
        key = id(t)
        out = self.outcomes[key]
        if self.o.drop:
            stage.drop_collection(self.client, t.target)
            if t.insert_ns != t.target:
                stage.drop_collection(self.client, t.insert_ns)
        created = meta.create_collection(
            self.client, t.target, meta.clean_options(t.options, self.version), must_create=False
        )
        lane = self._lane(t.insert_ns, t)
        self.lanes[key] = lane
        try:
            for raw in _spooled(self.spools[key]):
                lane.add(raw)
            lane.wait()
            if lane.error is not None:
                raise lane.error
            out.documents, out.failed = lane.inserted, lane.failed
            out.indexes = meta.create_indexes(self.client, t.target, self._indexes(t))
        except MongoArchiveError:
            if created:  # it did not exist before: leave nothing half done behind
                with contextlib.suppress(MongoArchiveError):
                    stage.drop_collection(self.client, t.target)
                    stage.drop_collection(self.client, t.insert_ns)
            raise

    def _fail(self, t: Target, exc: MongoArchiveError) -> None:
        key = id(t)
        out = self.outcomes[key]
        lane = self.lanes.get(key)
        if lane is not None:
            out.failed = max(out.failed, lane.inserted + lane.failed)
            out.documents = 0 if self.o.atomic or t.kind == "timeseries" else lane.inserted
        out.status = "rolled back" if self.o.atomic else "partial"
        if exc.code == "options-not-restored":
            out.status, out.documents = "restored without options", lane.inserted if lane else 0
        out.message = exc.message
        with self.lock:
            if exc not in self.result.errors:
                self.result.errors.append(exc)
        self._discard(t)
        self.pending.discard(key)

    def _discard(self, t: Target) -> None:
        """Drop what ``t`` staged (its staging or temporary collection); note it if that fails."""
        written = self.writes.get(id(t))
        if written is None or not (self.o.atomic or t.kind in ("users", "roles")):
            return
        if written == t.insert_ns and t.kind not in ("users", "roles"):
            return
        try:
            stage.drop_collection(self.client, written)
        except MongoArchiveError:
            self.result.staging_left.append(str(written))

    def _abort(self) -> None:
        """Something fatal happened: roll back every namespace not committed yet."""
        for t in self.plan.targets:
            key = id(t)
            if key not in self.pending:
                continue
            out = self.outcomes[key]
            lane = self.lanes.get(key)
            if lane is not None:
                with contextlib.suppress(Exception):
                    for future in list(lane.inflight):
                        future.exception()
                if self.o.atomic or t.kind in ("users", "roles"):
                    out.failed = lane.inserted + lane.failed + len(lane.batch)
                    out.documents = 0
                    out.status = "rolled back"
                else:
                    out.documents, out.failed = lane.inserted, lane.failed
                    out.status = "partial"
            elif t.kind == "view":
                out.status = "not created"
            self._discard(t)

    # -- after the body --------------------------------------------------------------------
    def _after_body(self) -> None:
        for t in self.plan.targets:
            if t.kind == "view":
                self._view(t)
        self._auth()
        for t in self.plan.targets:
            if t.kind == "oplog":
                out = self.outcomes[id(t)]
                out.documents = meta.apply_oplog(self.client, _spooled(self.spools[id(t)]), self.limit)
                out.status = "restored"
                self.pending.discard(id(t))

    def _view(self, t: Target) -> None:
        out = self.outcomes[id(t)]
        try:
            if self.o.drop:
                stage.drop_collection(self.client, t.target)
            meta.create_view(self.client, t.target, t.options)
        except MongoArchiveError as exc:
            out.status, out.message = "failed", exc.message
            self.result.errors.append(exc)
            if _fatal(exc):
                raise
        else:
            out.status = "restored"
        self.pending.discard(id(t))

    def _auth(self) -> None:
        by_db: dict[str, list[Target]] = {}
        for t in self.plan.targets:
            if t.kind in ("users", "roles"):
                by_db.setdefault(t.auth_db, []).append(t)
        for db, targets in by_db.items():
            kinds = {t.kind for t in targets}
            try:
                for t in targets:
                    lane = self.lanes[id(t)]
                    lane.wait()
                    out = self.outcomes[id(t)]
                    out.documents, out.failed = lane.inserted, lane.failed
                meta.merge_auth(
                    self.client, db, users="users" in kinds, roles="roles" in kinds, drop=self.o.drop
                )
            except MongoArchiveError as exc:
                for t in targets:
                    self._fail(t, exc)
                if _fatal(exc):
                    raise
                continue
            for t in targets:
                self.outcomes[id(t)].status = "restored"
                self.pending.discard(id(t))
                self._discard(t)


def _fatal(exc: MongoArchiveError) -> bool:
    return exc.code in ("connection-lost", "connection-failed", "stop-on-error")


def _spooled(spool: IO[bytes]) -> Iterator[bytes]:
    """The documents written to ``spool``, in order."""
    spool.seek(0)
    while True:
        head = spool.read(4)
        if len(head) < 4:
            return
        size = int.from_bytes(head, "little", signed=True)
        yield head + spool.read(size - 4)
