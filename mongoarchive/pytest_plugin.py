"""The pytest plugin of mongoarchive: the ``archive_factory`` fixture (docs/testing.md).

pytest loads it through the ``pytest11`` entry point; nothing else imports it.
It lives outside ``mongoarchive.testing`` and needs neither hypothesis nor that
package, so that pytest still starts where mongoarchive is installed without
the ``testing`` extra.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import mongoarchive

__all__ = ["ArchiveFactory", "archive_factory"]


class ArchiveFactory:
    """Builds small archives in a test's tmp_path: ``archive_factory({"db.coll": [docs]})``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._names = itertools.count()

    def __call__(
        self,
        collections: Mapping[str, Sequence[Mapping[str, Any] | bytes]] | None = None,
        *,
        server_version: str = "7.0.14",
        gzip: bool = False,
        name: str | None = None,
        views: Iterable[str] = (),
    ) -> Path:
        """Write ``collections`` ("db.collection" -> documents) and ``views`` to a new archive; its path.

        The oplog is "" + ".oplog" (written as the oplog entry, type "").
        """
        path = self.root / (name or f"archive-{next(self._names)}.archive{'.gz' if gzip else ''}")
        with mongoarchive.open(path, "w:gz" if gzip else "w", server_version=server_version) as out:
            writers = []
            for dotted, docs in (collections or {}).items():
                db, _, coll = dotted.partition(".")
                kind = "" if db == "" else "collection"
                writers.append((out.add_collection(db, coll, type=kind), docs))
            for dotted in views:
                db, _, coll = dotted.partition(".")
                out.add_collection(db, coll, {"options": {"viewOn": "x", "pipeline": []}}, type="view")
            for ns_writer, docs in writers:
                for doc in docs:
                    ns_writer.write(doc)
        return path


@pytest.fixture
def archive_factory(tmp_path: Path) -> ArchiveFactory:
    """A callable that writes small archives into ``tmp_path`` and returns their paths."""
    return ArchiveFactory(tmp_path)
