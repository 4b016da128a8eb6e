"""mongorestore's namespace renaming, ``--nsFrom``/``--nsTo`` (its ``mongorestore/ns`` rules).

A pair maps names with ``*`` wildcards (the n-th ``*`` of the target takes
what the n-th of the source matched) or with ``$name$`` variables; ``\\*``
is a literal star; when several pairs match, the last one given wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import NamespaceError, UsageError
from .model import CollectionEntry, Namespace

__all__ = ["Renamer", "claim_name", "escape_pattern", "renamed_namespace"]

_WILDCARD = re.compile(r"^(|.*[^\\])\*(.*)$", re.DOTALL)
_VARIABLE = re.compile(r"^\$([^$]*)\$(.*)$", re.DOTALL)
_REGEX_SPECIAL = set("*[](){}\\?$^+!.|")


def escape_pattern(name: str) -> str:
    """``name`` as a literal in a namespace pattern: ``\\`` and ``*`` get a backslash."""
    return name.replace("\\", "\\\\").replace("*", "\\*")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\\\", i) or text.startswith("\\*", i):
            out.append(text[i + 1])
            i += 2
        elif text[i] == "\\":
            i += 1  # a lone backslash is dropped, as mongorestore does
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _wildcards_to_variables(text: str) -> str:
    # Like mongorestore: unescaped stars become $1$, $2$... counted from the last one.
    count = 1
    while (match := _WILDCARD.match(text)) is not None:
        text = f"{match.group(1)}${count}${match.group(2)}"
        count += 1
    return _unescape(text)


def _compile_rename(source: str, target: str) -> tuple[re.Pattern[str], list[str | int]]:
    """A pattern for ``source`` and the pieces of ``target`` (text, or a group number)."""
    what = f"--nsFrom {source!r} --nsTo {target!r}"
    if "$" in source:
        if source.count("$") % 2 or target.count("$") % 2:
            raise UsageError(f"{what}: an odd number of '$'", hint="variables are written $name$")
    elif source.count("*") - source.count("\\*") != target.count("*") - target.count("\\*"):
        raise UsageError(
            f"{what}: a different number of '*'", hint="each '*' of --nsFrom needs one in --nsTo"
        )
    if "$" not in source:
        source, target = _wildcards_to_variables(source), _wildcards_to_variables(target)
    groups: dict[str, int] = {}
    regex = []
    while source:
        if (match := _VARIABLE.match(source)) is not None:
            name, source = match.group(1), match.group(2)
            if name in groups:
                raise UsageError(f"{what}: the variable ${name}$ is used twice")
            groups[name] = len(groups) + 1
            regex.append("(.*?)")
            continue
        ch, source = source[0], source[1:]
        if ch == "$":
            raise UsageError(f"{what}: a '$' outside a $variable$")
        regex.append("\\" + ch if ch in _REGEX_SPECIAL else ch)
    pieces: list[str | int] = []
    while target:
        if (match := _VARIABLE.match(target)) is not None:
            name, target = match.group(1), match.group(2)
            if name not in groups:
                raise UsageError(f"{what}: --nsTo uses ${name}$, which --nsFrom does not define")
            pieces.append(groups[name])
            continue
        ch, target = target[0], target[1:]
        if ch == "$":
            raise UsageError(f"{what}: a '$' outside a $variable$")
        pieces.append(ch)
    # \Z, not $: "$" also matches before a final newline, and names may end in one.
    return re.compile("^" + "".join(regex) + r"\Z", re.DOTALL), pieces


class Renamer:
    """mongorestore's ``--nsFrom``/``--nsTo``: ``*`` wildcards or ``$var$`` variables; the last pair wins."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.rules = [_compile_rename(a, b) for a, b in reversed(list(pairs))]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __call__(self, name: str) -> str:
        for pattern, pieces in self.rules:
            match = pattern.match(name)
            if match is not None:
                return "".join(p if isinstance(p, str) else match.group(p) for p in pieces)
        return name


def renamed_namespace(rename: Renamer, entry: CollectionEntry) -> Namespace:
    """Where ``rename`` sends the prelude ``entry`` (itself if no rule matches).

    NamespaceError (code "bad-rename", at the entry's offset) when the new name
    has no database or no collection part.
    """
    ns = entry.namespace
    if not rename:
        return ns
    db, _, coll = rename(str(ns)).partition(".")
    out = Namespace(db, coll)
    if out != ns and (not out.db or not out.collection):
        raise NamespaceError(
            f"the rename gives {str(out)!r}, which is not db.collection",
            offset=entry.offset,
            namespace=str(ns),
            code="bad-rename",
            hint="--nsTo must name a database and a collection",
        )
    return out


def claim_name(
    claimed: dict[Namespace, str], out: Namespace, entry: CollectionEntry, source: str, becomes: str
) -> None:
    """Record that ``source`` (``entry``'s name) becomes ``out``; NamespaceError if another already did.

    ``claimed`` maps each output name to the source that took it; ``becomes``
    is the verb of the message ("become", "be restored as").
    """
    if out in claimed:
        raise NamespaceError(
            f"{claimed[out]!r} and {source!r} would both {becomes} {str(out)!r}",
            offset=entry.offset,
            namespace=str(entry.namespace),
            code="rename-collision",
            hint="map every namespace to a name of its own (check --nsFrom/--nsTo)",
        )
    claimed[out] = source
