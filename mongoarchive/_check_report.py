"""What ``check`` reports: one ``Problem`` per finding and the ``CheckResult`` of an archive.

Plain values, kept apart from the walk that fills them (``checker``) so that the
check's policy and its prelude reader can build them without an import cycle.
Both are public as ``mongoarchive.checker.Problem`` and ``CheckResult``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ._releases import RELEASES
from .errors import MongoArchiveError
from .model import ArchiveHeader, ArchiveWarning, CollectionEntry, Namespace, NamespaceSummary

__all__ = ["CheckResult", "Problem", "Severity"]

Severity = Literal["error", "warning"]


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One finding: where it is, what is wrong, and how to proceed."""

    severity: Severity
    code: str
    message: str
    offset: int | None = None
    namespace: str | None = None
    hint: str | None = None
    #: The mongorestore releases that refuse an archive with this problem (spec §7).
    refused_by: tuple[str, ...] = ()

    @classmethod
    def from_error(cls, exc: MongoArchiveError, severity: Severity = "error") -> Problem:
        return cls(severity, exc.code, exc.message, exc.offset, exc.namespace, exc.hint)

    @classmethod
    def from_warning(cls, warning: ArchiveWarning) -> Problem:
        return cls("warning", warning.code, warning.message, warning.offset, warning.namespace, None)

    def to_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["refused_by"] = list(self.refused_by)
        return out


@dataclasses.dataclass(slots=True)
class CheckResult:
    """Everything ``check_archive`` found in one archive."""

    file: str
    gzip: bool | None = None
    #: The releases whose verdict decides errors (``--target``), oldest first.
    target: tuple[str, ...] = RELEASES
    header: ArchiveHeader | None = None
    collections: list[CollectionEntry] = dataclasses.field(default_factory=list)
    namespaces: dict[Namespace, NamespaceSummary] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    #: Byte ranges [start, end) that could not be checked; end None: unknown (damaged
    #: gzip, or the check stopped at ``max_damage``).  Adjacent ranges are merged; only
    #: the first ``max_problems`` are listed, ``unchecked_omitted`` counts the others.
    unchecked: list[tuple[int, int | None]] = dataclasses.field(default_factory=list)
    #: Bytes in all unchecked ranges (listed or not) whose end is known.
    unchecked_bytes: int = 0
    #: Unchecked ranges found after the list was full.
    unchecked_omitted: int = 0
    #: Blocks of undeclared namespaces beyond the first ``MAX_UNDECLARED``: framing checked,
    #: no summary kept (so no CRC check).
    untracked_blocks: int = 0
    #: Bytes of the (uncompressed) stream that were read.
    size: int = 0
    #: True if more problems were found than ``max_problems`` allowed to keep.
    truncated_report: bool = False
    #: True if every document was decoded as BSON (``deep``), not only framed and checksummed.
    deep: bool = False
    #: Problems found, listed or not (the list stops at ``max_problems``).
    error_count: int = 0
    warning_count: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def ok(self, strict: bool = False) -> bool:
        """True if no error was found (and, when ``strict``, no warning)."""
        return self.error_count == 0 and not (strict and self.warning_count)

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        """The JSON shape of ``mongoarchive check --format json`` (one file)."""
        return {
            "file": self.file,
            "valid": self.ok(strict),
            "target": "all" if self.target == RELEASES else self.target[0],
            "deep": self.deep,
            "gzip": self.gzip,
            "bytes": self.size,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "problems": [p.to_dict() for p in self.problems],
            "unchecked": [{"start": a, "end": b} for a, b in self.unchecked],
            "unchecked_bytes": self.unchecked_bytes,
            "unchecked_omitted": self.unchecked_omitted,
            "untracked_blocks": self.untracked_blocks,
            "namespaces": [s.to_dict() for s in self.namespaces.values()],
            "report_truncated": self.truncated_report,
            "listed": len(self.problems),
        }
