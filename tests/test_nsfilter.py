"""Namespace patterns (mongorestore's --nsInclude/--nsExclude syntax)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mongoarchive import Namespace, UsageError
from mongoarchive.nsfilter import NamespaceFilter, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("db.*", "db.coll", True),
        ("db.*", "db.system.buckets.w", True),
        ("db.*", "dbx.coll", False),
        ("db.*", "other.coll", False),
        ("db.coll", "db.coll", True),
        ("db.coll", "db.coll2", False),
        ("db.coll", "db.coll.x", False),
        ("*.coll", "a.coll", True),
        ("*.coll", "b.coll", True),
        ("*.coll", "b.coll2", False),
        ("*.oplog", ".oplog", True),
        (".oplog", ".oplog", True),
        ("*", "anything.at.all", True),
        ("d?.c", "d?.c", True),  # only * is special
        ("d?.c", "dx.c", False),
        ("a.b\\*", "a.b*", True),
        ("a.b\\*", "a.bc", False),
        ("a.c[1]", "a.c[1]", True),
        ("db.$admin.system.*", "db.$admin.system.users", True),
    ],
)
def test_patterns(pattern: str, name: str, hit: bool) -> None:
    assert bool(compile_pattern(pattern).fullmatch(name)) is hit


@pytest.mark.parametrize("bad", ["", "nodot", "a.b\\", "a.\\x"])
def test_malformed_patterns(bad: str) -> None:
    with pytest.raises(UsageError):
        compile_pattern(bad)


def test_include_and_exclude() -> None:
    f = NamespaceFilter(["shop.*", "*.oplog"], ["shop.tmp*"])
    assert f(Namespace("shop", "orders"))
    assert f("shop.orders")
    assert f(Namespace("", "oplog"))
    assert not f(Namespace("shop", "tmp_1"))
    assert not f(Namespace("app", "users"))
    assert not f.selects_all


def test_no_patterns_select_everything() -> None:
    f = NamespaceFilter()
    assert f.selects_all
    assert f("x.y") and f(Namespace("", "oplog"))


def test_exclude_only() -> None:
    f = NamespaceFilter(exclude=["admin.*"])
    assert f("app.users") and not f("admin.system.version")


_name = st.text(st.characters(blacklist_characters="*\\\x00", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200)
@given(_name, _name)
def test_literal_pattern_matches_only_itself(db: str, coll: str) -> None:
    ns = f"{db}.{coll}"
    assert NamespaceFilter([ns])(ns)
    assert not NamespaceFilter([ns])(ns + "x")
    assert NamespaceFilter([f"{db}.*"])(ns)
    assert NamespaceFilter([f"*.{coll}"])(ns)
