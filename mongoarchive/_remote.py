"""Archives in object storage: ``s3://``, ``gs://``, ``az://`` and ``https://`` URLs.

Reading is one streaming GET, consumed a chunk at a time (never the whole
object first); writing is a multipart upload that is completed only by
``RemoteWriter.close`` and aborted by ``RemoteWriter.abort``, so an
interrupted writer leaves no object under the name (docs/object-storage.md).
Both go through obstore, an optional dependency (``mongoarchive[cloud]``),
imported only when a URL is opened.  Credentials come from obstore's usual
sources (environment, config files, instance metadata); a URL is shown only
through ``redact``.
"""

from __future__ import annotations

import base64
import os
import re
from types import ModuleType
from typing import Any, TypeGuard

from .errors import ArchiveIOError, UsageError

__all__ = [
    "EXTRA_HINT",
    "RemoteReader",
    "RemoteWriter",
    "is_url",
    "join",
    "redact",
    "redact_text",
    "refuse_url_directory",
    "shown",
    "validate_url",
]

#: How to get the optional dependency; every "missing extra" error says it.
EXTRA_HINT = "pip install 'mongoarchive[cloud]'"

#: Schemes opened through obstore; http:// is for a server without TLS (a local one, say).
_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "https", "http")
_URL = re.compile(r"(?i)^(?:" + "|".join(_SCHEMES) + r")://")
_URL_IN_TEXT = re.compile(r"(?i)\b(?:" + "|".join(_SCHEMES) + r")://[^\s'\"<>]+")

#: How S3, GCS and Azure say that a bucket (container) does not exist.
_NO_BUCKET = re.compile(r"NoSuchBucket|ContainerNotFound|bucket does not exist|404 Not Found")

#: One GET is read in chunks of at least this much; at most about one chunk is held.
READ_CHUNK = 1 << 20
#: Multipart part size, and how many parts may be in flight: the writer's memory bound.
PART_SIZE = 8 << 20
PART_CONCURRENCY = 4


def is_url(target: object) -> TypeGuard[str]:
    """True for a ``str`` that names an object-storage or web URL."""
    return isinstance(target, str) and _URL.match(target) is not None


def redact(url: str) -> str:
    """``url`` without secrets: no password in the user part, no query values.

    A presigned URL carries its signature and credential in the query string
    (``X-Amz-Signature``, an Azure SAS ``sig``): every value is replaced, the
    keys are kept so the message still says what kind of URL it was.
    """
    # urllib.parse (and the ipaddress module it loads) only where a URL is handled:
    # the verbs that read a path start without them.
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "REDACTED") for k, _ in pairs], safe="") if pairs else "REDACTED"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown(target: str) -> str:
    """How to name ``target`` in a message or report: a URL redacted, a path as given."""
    return redact(target) if is_url(target) else target


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (for messages that quote a URL)."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)


def join(folder: str, name: str) -> str:
    """``name`` inside ``folder``: a URL prefix joins with "/", a path with os.path.join."""
    if is_url(folder):
        from urllib.parse import urlsplit

        if urlsplit(folder).query:
            raise UsageError(
                f"cannot put files under {redact(folder)}: it has a query string",
                hint="name a bucket prefix such as s3://bucket/dir",
            )
        return folder.rstrip("/") + "/" + name
    return os.path.join(folder, name)


def refuse_url_directory(path: str, verb: str) -> None:
    """UsageError if a directory argument is a URL: these verbs write (or read) local directories."""
    if is_url(path):
        raise UsageError(
            f"{verb} needs a local directory, not {redact(path)}",
            hint="object-storage URLs name archives; write the directory here, then copy it",
        )


def _obstore(shown: str) -> ModuleType:
    try:
        import obstore
    except ImportError as exc:
        raise ArchiveIOError(
            f"cannot open {shown}: object storage needs the optional obstore package", hint=EXTRA_HINT
        ) from exc
    return obstore


def _split(url: str) -> tuple[str, dict[str, Any], str]:
    """(store URL, client options, object path) for ``url``; UsageError if it names no object."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        options: dict[str, Any] = {"allow_http": scheme == "http"}
        netloc = parts.netloc
        if "@" in netloc:
            # The HTTP client ignores a user part in the URL: send it as Basic auth (RFC 7617).
            user, _, password = netloc.rpartition("@")[0].partition(":")
            token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
            options["default_headers"] = {"Authorization": f"Basic {token}"}
            netloc = netloc.rpartition("@")[2]
        # The whole URL (with its query: a presigned URL's signature) is the store, the path empty.
        return urlunsplit((scheme, netloc, parts.path, parts.query, "")), options, ""
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        # A bucket URL has no query: a "?" or "#" would silently cut the key short.
        raise UsageError(
            f"{redact(url)}: a '?' or '#' in a bucket URL", hint="write them in a key as %3F and %23"
        )
    path = unquote(parts.path.lstrip("/"))
    if not parts.netloc or not path or path.endswith("/"):
        raise UsageError(
            f"{redact(url)} names no object",
            hint=f"give the object's key: {scheme}://bucket/dir/name.archive",
        )
    return f"{scheme}://{parts.netloc}", {}, path


def _store(url: str, shown: str) -> tuple[Any, str]:
    obstore = _obstore(shown)
    base, options, path = _split(url)
    from obstore.store import from_url

    make: Any = from_url  # its overloads want a TypedDict per scheme; ours is built at run time
    try:
        store = make(base, client_options=options) if options else make(base)
    except Exception as exc:  # obstore's configuration errors (unknown scheme, missing account)
        raise ArchiveIOError(f"cannot open {shown}: {_describe(exc)}", hint=_hint(exc)) from exc
    del obstore
    return store, path


def _kind(exc: BaseException) -> str:
    """ "missing", "denied", "unauthenticated" or "other" for an obstore error.

    The class says it when obstore raises from a call; errors from a buffered
    writer arrive as plain I/O errors, so the message is looked at as well.
    """
    from obstore import exceptions as e

    text = str(exc)
    if isinstance(exc, e.PermissionDeniedError | PermissionError) or _DENIED.search(text):
        return "denied"
    if isinstance(exc, e.UnauthenticatedError) or _UNAUTHENTICATED.search(text):
        return "unauthenticated"
    if isinstance(exc, e.NotFoundError | FileNotFoundError) or _MISSING.search(text):
        return "missing"
    return "other"


_DENIED = re.compile(r"lacked the necessary privileges|403 Forbidden|AccessDenied")
_UNAUTHENTICATED = re.compile(r"401 Unauthorized|InvalidAccessKeyId|SignatureDoesNotMatch")
_MISSING = re.compile(r"404 Not Found|NoSuchKey|NoSuchBucket")

_REASONS = {
    "missing": "not found (no such bucket or object)",
    "denied": "permission denied",
    "unauthenticated": "not authenticated (the credentials were refused)",
}
_HINTS = {
    "missing": "check the bucket and the key (docs/object-storage.md)",
    "denied": "check the credentials in the environment and the bucket's policy (docs/object-storage.md)",
    "unauthenticated": "check the credentials in the environment (docs/object-storage.md)",
    "other": "check the URL, the endpoint and the credentials (docs/object-storage.md)",
}


def _describe(exc: BaseException) -> str:
    """A one-line reason for an obstore error, URLs in it redacted."""
    kind = _kind(exc)
    if kind in _REASONS:
        return _REASONS[kind]
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # obstore's messages quote the request URL and the server's reply; keep the start.
    return redact_text(first)[:300]


def _hint(exc: BaseException) -> str:
    return _HINTS[_kind(exc)]


class RemoteReader:
    """A forward-only binary reader over one streaming GET; about one chunk is held at a time."""

    def __init__(self, url: str, *, chunk: int = READ_CHUNK) -> None:
        self.name = redact(url)
        store, path = _store(url, self.name)
        import obstore

        try:
            result = obstore.get(store, path)
        except Exception as exc:
            raise ArchiveIOError(f"cannot open {self.name}: {_describe(exc)}", hint=_hint(exc)) from exc
        #: The object's size in bytes, from the response.
        self.size: int = int(result.meta["size"])
        self._chunks = iter(result.stream(min_chunk_size=chunk))
        self._buf = memoryview(b"")
        self._done = False

    def _fill(self) -> bool:
        if self._done:
            return False
        try:
            chunk = next(self._chunks, None)
        except Exception as exc:  # a connection lost mid-way: an OSError, as a file's would be
            raise OSError(_describe(exc)) from exc
        if chunk is None:
            self._done = True
            return False
        self._buf = memoryview(bytes(chunk)) if not isinstance(chunk, bytes) else memoryview(chunk)
        return True

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf).cast("B")
        if not self._buf and not self._fill():
            return 0
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def read(self, n: int = -1, /) -> bytes:
        if n is None or n < 0:
            out = bytearray()
            while self._buf or self._fill():
                out += self._buf
                self._buf = memoryview(b"")
            return bytes(out)
        if not self._buf and not self._fill():
            return b""
        data = bytes(self._buf[:n])
        self._buf = self._buf[n:]
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._done = True
        self._buf = memoryview(b"")


class _Aborted(Exception):
    """Passed to the upload's exit so that it aborts instead of completing."""


class RemoteWriter:
    """One object written by multipart upload: it appears only when ``close`` completes it.

    Parts of ``PART_SIZE`` are uploaded as they fill, at most
    ``PART_CONCURRENCY`` at once; a small archive goes up in one PUT at close.
    ``abort`` drops the upload (its parts are deleted), leaving no object.
    """

    def __init__(self, url: str) -> None:
        # Not ``name``: gzip would write a file object's name into its header (RFC 1952 FNAME).
        self.label = redact(url)
        _refuse_web(url, self.label)
        store, path = _store(url, self.label)
        import obstore

        _probe_bucket(obstore, store, self.label)
        try:
            self._file: Any = obstore.open_writer(
                store, path, buffer_size=PART_SIZE, max_concurrency=PART_CONCURRENCY
            )
        except Exception as exc:
            raise ArchiveIOError(f"cannot create {self.label}: {_describe(exc)}", hint=_hint(exc)) from exc
        self._open = True

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        # A copy: obstore holds on to the buffer it was given while an error is raised, and the
        # caller's memoryview must stay releasable (the reader slices its buffer in place).
        chunk = data if isinstance(data, bytes) else bytes(data)
        try:
            return int(self._file.write(chunk))
        except Exception as exc:
            raise _os_error(exc) from exc

    def flush(self) -> None:
        """Nothing: a part is sent when full (S3 refuses parts under 5 MiB but the last)."""

    def close(self) -> None:
        """Complete the upload: the object appears, whole."""
        if not self._open:
            return
        self._open = False
        try:
            self._file.close()
        except Exception as exc:
            raise _os_error(exc) from exc

    def abort(self) -> None:
        """Abort the upload; nothing appears under the name.  Errors are let be."""
        if not self._open:
            return
        self._open = False
        try:
            # The writer's context exit with an exception aborts the multipart upload.
            self._file.__exit__(_Aborted, _Aborted("aborted"), None)
        except Exception:  # the upload is gone either way; the first error is the one to report
            return

    def writable(self) -> bool:
        return True


def _probe_bucket(obstore: ModuleType, store: Any, shown: str) -> None:
    """Fail now, before any work, when the bucket does not exist (one LIST of at most one key).

    Only "not found" is final: credentials allowed to write but not to list go on,
    and the upload itself says whether it may write.
    """
    from obstore import exceptions as e

    try:
        next(iter(obstore.list(store, chunk_size=1)), None)
    except Exception as exc:
        # A missing bucket is a plain 404 to a LIST, reported as a generic error by obstore.
        missing = isinstance(exc, e.NotFoundError | FileNotFoundError) or _NO_BUCKET.search(str(exc))
        if not missing:
            return  # permission to list is not needed to write; the upload says whether it may
        raise ArchiveIOError(
            f"cannot create {shown}: no such bucket", hint="create the bucket first, or check its name"
        ) from exc


def _os_error(exc: BaseException) -> OSError:
    kind = _kind(exc)
    if kind in ("denied", "unauthenticated"):
        return PermissionError(13, _describe(exc))
    if kind == "missing":
        return FileNotFoundError(2, _describe(exc))
    return OSError(_describe(exc))


def _refuse_web(url: str, shown: str) -> None:
    from urllib.parse import urlsplit

    if urlsplit(url).scheme.lower() in ("http", "https"):
        raise UsageError(
            f"cannot write to {shown}: a web server has no multipart upload",
            hint="write to s3://, gs:// or az:// (docs/object-storage.md)",
        )


def validate_url(url: str) -> None:
    """Raise now if ``url`` cannot name an object to write: bad form, a web URL, obstore
    missing, or no such bucket (for a verb that writes late, such as dump)."""
    shown = redact(url)
    _refuse_web(url, shown)
    obstore = _obstore(shown)
    store, _ = _store(url, shown)
    _probe_bucket(obstore, store, shown)
