"""The exception hierarchy: every error the public API raises is a MongoArchiveError.

    MongoArchiveError
    ├── ArchiveError            the bytes are not a sound archive (spec/archive.md §7)
    │   ├── NotAnArchiveError   wrong magic number (§2)
    │   ├── FramingError        a length, terminator or NUL byte is wrong (§2)
    │   ├── TruncatedError      the stream ends before the archive does (§2, §6)
    │   ├── HeaderError         a header document has missing or mistyped fields (§3)
    │   ├── NamespaceError      a namespace breaks the demultiplexer's rules (§6)
    │   ├── ChecksumError       a namespace's CRC-64 does not match its data (§4)
    │   └── TrailingDataError   bytes follow the end of the archive (§6)
    ├── MetadataError           a metadata string is not valid Extended JSON (§3.2)
    ├── DocumentError           a document given to the writer is not valid BSON
    ├── ArchiveIOError          the operating system could not read or write
    ├── UsageError              the API was used in the wrong order or state
    └── DumpError               reading a live server failed; no archive is kept
        ├── ServerConnectionError   the server cannot be reached, or was lost
        ├── AuthenticationError     the server refused the credentials
        └── OplogOverflowError      the oplog rolled over during the dump (§5.1)
    └── RestoreError            writing to a live server failed; what was not committed is rolled back

Each error carries ``offset`` (byte offset in the uncompressed stream, or None),
``namespace`` ("db.collection", or None), ``code`` (a short stable identifier
used by ``mongoarchive check``) and ``hint`` (how to proceed, or None).
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "ArchiveIOError",
    "AuthenticationError",
    "ChecksumError",
    "DocumentError",
    "DumpError",
    "FramingError",
    "HeaderError",
    "MetadataError",
    "MongoArchiveError",
    "NamespaceError",
    "NotAnArchiveError",
    "OplogOverflowError",
    "RestoreError",
    "ServerConnectionError",
    "TrailingDataError",
    "TruncatedError",
    "UsageError",
]


class MongoArchiveError(Exception):
    """Base class of every error raised by mongoarchive."""

    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        namespace: str | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.namespace = namespace
        self.code = code or self.default_code
        self.hint = hint

    def __str__(self) -> str:
        where = []
        if self.offset is not None:
            where.append(f"at byte {self.offset}")
        if self.namespace is not None:
            where.append(f"in namespace {self.namespace!r}")
        text = self.message
        if where:
            text = f"{text} ({', '.join(where)})"
        if self.hint:
            text = f"{text}; hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: class, code, message, offset, namespace, hint."""
        return {
            "error": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "offset": self.offset,
            "namespace": self.namespace,
            "hint": self.hint,
        }


class ArchiveError(MongoArchiveError):
    """The input is not a sound mongodump archive."""

    default_code = "invalid-archive"


class NotAnArchiveError(ArchiveError):
    """The stream does not start with the archive magic number."""

    default_code = "bad-magic"


class FramingError(ArchiveError):
    """A document length, terminator or trailing NUL byte is wrong."""

    default_code = "bad-framing"


class TruncatedError(ArchiveError):
    """The stream ended before the archive was complete."""

    default_code = "truncated"


class HeaderError(ArchiveError):
    """An archive, collection or namespace header has missing or mistyped fields."""

    default_code = "bad-header"


class NamespaceError(ArchiveError):
    """A namespace appears where the demultiplexer's rules forbid it."""

    default_code = "bad-namespace"


class ChecksumError(ArchiveError):
    """A namespace's stored CRC-64 differs from the CRC-64 of its documents."""

    default_code = "crc-mismatch"


class TrailingDataError(ArchiveError):
    """Bytes follow the point where every namespace of the archive has ended."""

    default_code = "trailing-data"


class MetadataError(MongoArchiveError):
    """A collection's metadata string is not valid Extended JSON of the expected shape."""

    default_code = "bad-metadata"


class DocumentError(MongoArchiveError):
    """A document handed to the writer is not a valid BSON document."""

    default_code = "bad-document"


class ArchiveIOError(MongoArchiveError):
    """Reading or writing failed in the operating system (the cause is chained)."""

    default_code = "io-error"


class UsageError(MongoArchiveError):
    """The API was called in a state that does not allow it (e.g. write after close)."""

    default_code = "usage"


class DumpError(MongoArchiveError):
    """Reading the server failed: the dump is incomplete and no archive is kept."""

    default_code = "dump-failed"


class ServerConnectionError(DumpError):
    """The server cannot be reached, or the connection was lost during the dump."""

    default_code = "connection-failed"


class AuthenticationError(DumpError):
    """The server refused the credentials."""

    default_code = "auth-failed"


class OplogOverflowError(DumpError):
    """The oplog rolled over during the dump: entries needed for point in time are gone (§5.1)."""

    default_code = "oplog-overflow"


class RestoreError(MongoArchiveError):
    """Restoring into a live server failed (server refused, connection lost, insert errors)."""

    default_code = "restore-failed"
