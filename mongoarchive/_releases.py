"""Which mongorestore releases refuse what (spec/archive.md §7): the release table as data.

Each problem code of the checker maps to the range of releases that refuse an
archive showing it.  Releases are the ones whose reading rules differ; every
other release reads like the newest listed one before it.
"""

from __future__ import annotations

import re

__all__ = [
    "RELEASES",
    "REFUSED",
    "parse_server_version",
    "parse_target",
    "refusal_note",
    "refused_by",
    "timeseries_naming_code",
]

#: The releases whose reading rules differ, oldest first (§7), with the full release each stands for.
RELEASES: tuple[str, ...] = ("100.6", "100.14", "100.16", "100.18")
FULL_NAMES: dict[str, str] = {
    "100.6": "100.6.1",
    "100.14": "100.14.0",
    "100.16": "100.16.0",
    "100.18": "100.18.0",
}

_ALL = ("100.6", None)

#: Problem code -> (first release that refuses it, last release that refuses it or None: every later
#: one).  None instead of a range: every release accepts the archive (a pure warning).  A code not
#: listed is refused by every release.
REFUSED: dict[str, tuple[str, str | None] | None] = {
    # Framing and the demultiplexer (§2, §6): every release.
    "bad-magic": _ALL,
    "data-before-magic": _ALL,
    "bad-length": _ALL,
    "missing-nul": _ALL,
    "truncated": _ALL,
    "consecutive-terminators": _ALL,
    "bad-gzip": _ALL,
    "bad-header": _ALL,
    "bad-namespace": _ALL,
    "undeclared-namespace": _ALL,
    "reopened-namespace": _ALL,
    "data-after-eof": _ALL,
    "crc-mismatch": _ALL,
    "trailing-data": _ALL,
    "unfinished-namespace": _ALL,
    "unseen-namespace": _ALL,
    # check gave up after --max-damage bytes it could not read as an archive: damaged framing.
    "damage-limit": _ALL,
    # Restore time: mongorestore parses a collection's metadata when it restores it (§3.2).
    "bad-metadata": _ALL,
    "bad-bson": _ALL,
    # Strict namespace headers since 100.14.0 (§3.3).
    "unknown-field": ("100.14", None),
    "crc-not-int64": ("100.14", None),
    "eof-not-bool": ("100.14", None),
    "name-not-string": ("100.14", None),
    # server_version must be X.Y.Z since 100.16.0 (§3.1).
    "bad-server-version": ("100.16", None),
    # Timeseries naming (§5.4).
    "viewless-timeseries-before-8.3": _ALL,
    "viewless-timeseries": ("100.6", "100.14"),
    "bucketed-timeseries-from-8.3": ("100.16", None),
    # Accepted by every release.
    "ignored-field": None,
    "missing-field": None,
    "unknown-version": None,
    "duplicate-entry": None,
    "crc-unverifiable": None,
}


def refused_by(code: str) -> tuple[str, ...]:
    """The releases (of RELEASES) that refuse an archive with a problem ``code``."""
    span = REFUSED.get(code, _ALL)
    if span is None:
        return ()
    first, last = span
    lo = RELEASES.index(first)
    hi = len(RELEASES) - 1 if last is None else RELEASES.index(last)
    return RELEASES[lo : hi + 1]


def parse_target(text: str) -> tuple[str, ...]:
    """``all`` or a release (``100.14`` or ``100.14.0``) -> the releases checked; ValueError otherwise."""
    if text == "all":
        return RELEASES
    short = ".".join(text.split(".")[:2])
    if short in RELEASES and FULL_NAMES[short].startswith(text):
        return (short,)
    raise ValueError(f"unknown release {text!r}: choose one of {', '.join(RELEASES)} or all")


_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_INT64_MAX = (1 << 63) - 1


def parse_server_version(text: str) -> tuple[int, int, int] | None:
    """``server_version`` as mongorestore 100.16+ reads it, or None when it refuses it (§3.1).

    The text before the first ``-`` or ``+`` must be three dot-separated decimal
    numbers (each fitting an int64): "8.0.4-rc1" and "7.0.0+abc" pass; "unknown",
    "", "3.4" and "v8.0.4" do not.
    """
    core = re.split(r"[-+]", text, maxsplit=1)[0]
    match = _VERSION.fullmatch(core)
    if match is None or not core.isascii():
        return None
    parts = tuple(int(p) for p in match.groups())
    if any(p > _INT64_MAX for p in parts):
        return None
    return parts[0], parts[1], parts[2]


#: The first server version whose timeseries data is stored under the collection's own name (§5.4).
VIEWLESS_SERVER = (8, 3, 0)


def timeseries_naming_code(server_version: str, under_buckets: bool) -> str | None:
    """The problem code of timeseries data stored under ``system.buckets.X`` (or X), given the
    archive's server_version; None when every release accepts that naming (§5.4)."""
    version = parse_server_version(server_version)
    viewless_server = version is not None and version >= VIEWLESS_SERVER
    if under_buckets:
        return "bucketed-timeseries-from-8.3" if viewless_server else None
    return "viewless-timeseries" if viewless_server else "viewless-timeseries-before-8.3"


def refusal_note(code: str) -> str:
    """Which releases refuse an archive with ``code``, for the end of a message."""
    releases = refused_by(code)
    if not releases:
        return "every mongorestore release accepts it"
    if releases == RELEASES:
        return "every mongorestore release refuses it"
    names = ", ".join(releases[:-1]) + (" and " if len(releases) > 1 else "") + releases[-1]
    return f"mongorestore {names} refuse{'s' if len(releases) == 1 else ''} it"
