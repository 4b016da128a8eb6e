"""Strategies for namespaces the writer accepts (spec/archive.md §3.3, §5; mongoarchive/_writer_checks.py)."""

from __future__ import annotations

from hypothesis import strategies as st

from .._writer_checks import MAX_DB_BYTES, MAX_NAMESPACE_BYTES, USERS_AND_ROLES
from ._bson import TEXT_CHARS

__all__ = ["collection_names", "db_names", "names", "namespaces"]

#: The prefix a timeseries collection's data takes before server 8.3 (§5.4).
BUCKETS = "system.buckets."

#: Any db or collection text: non-ASCII allowed, NUL never (§3.3).  Not all are writable.
names = st.text(TEXT_CHARS, min_size=1, max_size=8)

_coll_chars = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00$")
_db_chars = st.characters(blacklist_categories=["Cs"], blacklist_characters='\x00/\\. "$')

#: Collection names the writer accepts anywhere: dots, spaces and non-ASCII, no "$" (§5.2).
collection_names = st.one_of(
    st.text(_coll_chars, min_size=1, max_size=8),
    st.sampled_from(["a.b", "system.views", "x y", "ünïcødé", "名前", "a" * 120]),
)
#: Database names the writer accepts: none of / \\ . space " $ NUL, at most 63 UTF-8 bytes.
db_names = st.one_of(
    st.text(_db_chars, min_size=1, max_size=8),
    st.sampled_from(["admin", "local", "config", "é", "d" * MAX_DB_BYTES]),
).filter(lambda d: len(d.encode()) <= MAX_DB_BYTES)


def _fits(db: str, collection: str, timeseries: bool) -> bool:
    data = BUCKETS + collection if timeseries else collection
    return len(f"{db}.{data}".encode()) <= MAX_NAMESPACE_BYTES


@st.composite
def namespaces(
    draw: st.DrawFn, *, special: bool = True, timeseries: bool = False, long: bool = True
) -> tuple[str, str]:
    """A (db, collection) pair the writer accepts.

    ``special`` adds the oplog's ("", "oplog") and the ``$admin.system.*``
    namespaces of ``--dumpDbUsersAndRoles``; ``timeseries`` keeps room for the
    ``system.buckets.`` prefix; ``long`` adds names near the 255-byte limit.
    """
    if special and draw(st.integers(0, 5)) == 0:
        choice = draw(st.sampled_from(["oplog", *sorted(USERS_AND_ROLES)]))
        if choice == "oplog":
            return "", "oplog"
        return draw(db_names.filter(lambda d: d != "admin")), choice
    db = draw(db_names)
    if long and draw(st.integers(0, 9)) == 0:
        room = MAX_NAMESPACE_BYTES - len(db.encode()) - 1 - (len(BUCKETS) if timeseries else 0)
        return db, "c" * max(1, room)
    coll = draw(collection_names.filter(lambda c: _fits(db, c, timeseries)))
    return db, coll
