"""Directory outputs under a bucket prefix, for ``unpack`` and ``split``: written locally, then uploaded.

Both verbs keep nothing unless the whole archive was read and checked, and
``unpack`` may reopen a file when namespaces interleave, which an upload
cannot do.  So the verb writes into a private temporary directory first
(local disk the size of the output, docs/object-storage.md); once it has
returned, each file goes up as its own multipart upload (``_export_out.Upload``),
completed when the file was sent whole, and the files that mark a finished
directory (``unpack``'s prelude.json and pack record) go last.  An error or an
interruption aborts the upload in progress; those completed before stay.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from ._export_out import Upload, remote_exists
from ._remote import join, redact, validate_url
from .errors import ArchiveIOError, UsageError

__all__ = ["via_staging"]

R = TypeVar("R")
_CHUNK = 8 << 20


def _upload_file(path: Path, url: str) -> None:
    upload = Upload(url)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                upload.write(chunk)
    except BaseException:
        upload.abort()
        raise
    upload.complete()


def via_staging(url: str, write: Callable[[str], R], *, last: Iterable[str] = (), force: bool = False) -> R:
    """Run ``write(local_dir)``, then upload what it wrote under prefix ``url``; its result, redacted.

    ``last``: relative names uploaded after every other file.  Without
    ``force``, an object already under one of the names is a UsageError
    before anything is uploaded.
    """
    validate_url(join(url, "probe"))  # the extra, the URL's form and the bucket, before reading
    with tempfile.TemporaryDirectory(prefix="mongoarchive-upload-") as tmp:
        local = os.path.join(tmp, "out")
        result = write(local)
        names = sorted(
            str(p.relative_to(local)).replace(os.sep, "/") for p in Path(local).rglob("*") if p.is_file()
        )
        tail = [n for n in last if n in names]
        names = [n for n in names if n not in tail] + tail
        if not force:
            for name in names:
                if remote_exists(join(url, name)):
                    raise UsageError(
                        f"{redact(join(url, name))} exists",
                        hint="pass --force to replace it, or write under another prefix",
                    )
        for name in names:
            try:
                _upload_file(Path(local) / name, join(url, name))
            except OSError as exc:
                raise ArchiveIOError(
                    f"cannot write {redact(join(url, name))}: {exc.strerror or exc}"
                ) from exc
    if dataclasses.is_dataclass(result) and hasattr(result, "directory"):
        shown: Any = redact(url)
        result = dataclasses.replace(result, directory=shown)  # type: ignore[type-var]
    return result
