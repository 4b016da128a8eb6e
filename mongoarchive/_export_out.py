"""Where ``export`` writes: one output per namespace in a local directory or under a bucket prefix.

Local: each output is written under a partial name (``_sink.partial_name``)
and renamed into place by ``publish``, once its namespace's EOF block was read
and its CRC matched (spec/archive.md §4).  Object storage (``s3://``,
``gs://``, ``az://`` prefixes, through obstore, docs/object-storage.md): each
output is its own multipart upload to its final key, completed by
``publish`` and aborted by ``discard``, so an object appears only whole and
verified; the manifest is uploaded last, only when the export is complete.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path
from typing import IO, Any

from ._sink import partial_name
from .errors import UsageError

__all__ = ["LocalOutput", "RemoteOutput", "Upload"]


class Upload(io.RawIOBase):
    """A binary file over one multipart upload; ``close`` leaves it open for ``complete``."""

    def __init__(self, url: str) -> None:
        from ._remote import RemoteWriter

        super().__init__()
        self.remote = RemoteWriter(url)
        self.pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any, /) -> int:
        size = len(memoryview(data).cast("B"))
        self.remote.write(data)
        self.pos += size
        return size

    def tell(self) -> int:  # pyarrow's writers ask where they are
        return self.pos

    def complete(self) -> None:
        """The object appears, whole."""
        self.remote.close()

    def abort(self) -> None:
        self.remote.abort()


class LocalOutput:
    """One namespace's output under its partial name; ``publish`` renames it into place."""

    def __init__(self, root: Path, rel: str, folder: bool) -> None:
        self.final = root / rel
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.partial = Path(partial_name(str(self.final)))
        self.folder = folder
        if folder:
            self.partial.mkdir()

    def binary(self, part: str | None) -> Any:
        """Where pyarrow writes: a path (``part`` of the folder, or the file)."""
        return str(self.partial / part if part is not None else self.partial)

    def text(self) -> IO[str]:
        return open(self.partial, "w", encoding="utf-8", newline="")

    def publish(self, force: bool) -> None:
        if os.path.lexists(self.final):
            if not force:
                raise UsageError(f"{self.final} exists", hint="pass --force to replace it")
            if self.final.is_dir() and not self.final.is_symlink():
                shutil.rmtree(self.final)
        os.replace(self.partial, self.final)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            if self.folder:
                shutil.rmtree(self.partial)
            else:
                os.unlink(self.partial)


class RemoteOutput:
    """One namespace's output as one multipart upload to its final key."""

    folder = False

    def __init__(self, root: str, rel: str) -> None:
        from ._remote import join

        self.final = join(root, rel)
        self.upload: Upload | None = None

    def binary(self, part: str | None) -> Any:
        assert part is None  # --rows-per-file is refused for object storage
        self.upload = Upload(self.final)
        return self.upload

    def text(self) -> IO[str]:
        self.upload = Upload(self.final)
        return io.TextIOWrapper(io.BufferedWriter(self.upload, 1 << 20), encoding="utf-8", newline="")

    def publish(self, force: bool) -> None:
        if self.upload is not None:
            self.upload.complete()

    def discard(self) -> None:
        if self.upload is not None:
            self.upload.abort()


def remote_exists(url: str) -> bool:
    """True if object ``url`` exists (one HEAD); errors are left to the upload to report."""
    from . import _remote

    shown = _remote.redact(url)
    obstore = _remote._obstore(shown)
    store, path = _remote._store(url, shown)
    try:
        obstore.head(store, path)
    except Exception:  # missing, or not allowed to look: the writes will say the rest
        return False
    return True


def upload_text(url: str, text: str) -> None:
    """Object ``url`` holding ``text`` (UTF-8), appearing whole or not at all."""
    upload = Upload(url)
    try:
        upload.write(text.encode("utf-8"))
    except BaseException:
        upload.abort()
        raise
    upload.complete()
