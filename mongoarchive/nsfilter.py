"""Namespace patterns in the style of mongorestore's ``--nsInclude``/``--nsExclude``.

A pattern is ``db.collection`` where ``*`` stands for any run of characters
(dots included, so ``db.*`` covers ``db.system.buckets.x`` too) and ``\\*``
or ``\\\\`` stand for a literal star or backslash.  The oplog's namespace is
``.oplog`` (spec/archive.md §5.1): ``*.oplog`` or ``.oplog`` select it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import UsageError
from .model import Namespace

__all__ = ["NamespaceFilter", "compile_pattern"]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression a namespace pattern stands for; UsageError if malformed."""
    if not pattern:
        raise UsageError("an empty namespace pattern matches nothing", hint="use db.* or db.collection")
    if "." not in pattern and pattern != "*":
        raise UsageError(
            f"namespace pattern {pattern!r} has no '.'",
            hint=f"patterns name db.collection: use {pattern}.* for a whole database",
        )
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in "*\\":
                raise UsageError(f"namespace pattern {pattern!r}: a backslash may only escape '*' or '\\'")
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


class NamespaceFilter:
    """Selects namespaces: any include pattern (all if none), and no exclude pattern."""

    def __init__(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> None:
        self.include = [compile_pattern(p) for p in include]
        self.exclude = [compile_pattern(p) for p in exclude]
        self._cache: dict[str, bool] = {}

    @property
    def selects_all(self) -> bool:
        """True if no pattern was given (every namespace passes)."""
        return not self.include and not self.exclude

    def __call__(self, ns: Namespace | str) -> bool:
        """True if ``ns`` ("db.collection" or a Namespace) is selected."""
        name = str(ns)
        hit = self._cache.get(name)
        if hit is None:
            hit = (not self.include or any(p.fullmatch(name) for p in self.include)) and not any(
                p.fullmatch(name) for p in self.exclude
            )
            self._cache[name] = hit
        return hit

    def __repr__(self) -> str:
        inc = [p.pattern for p in self.include]
        exc = [p.pattern for p in self.exclude]
        return f"<NamespaceFilter include={inc} exclude={exc}>"
