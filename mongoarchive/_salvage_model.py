"""What salvage's scan records: damaged ranges, per-namespace state, candidates, the log.

Kept apart from the scanner so that the writing half (``_salvage_out``) reads
the same records without the state machine.
"""

from __future__ import annotations

import dataclasses
import struct
import tempfile
from collections.abc import Iterator
from typing import IO

from .model import Namespace

#: Log record kinds.
SEGMENT, EOF_BLOCK = 0, 1
#: Segment kinds.
DEFINITE, CANDIDATE = 0, 1


@dataclasses.dataclass(slots=True)
class Damage:
    """Bytes [start, end) of the input that could not be used (becomes a DamagedRange)."""

    start: int
    end: int
    reason: str
    code: str
    namespace: str | None = None
    documents_lost: int = 0
    hint: str | None = None


@dataclasses.dataclass(slots=True)
class NsState:
    """What the scan learnt about one namespace (keyed by its prelude name)."""

    ns: Namespace
    index: int
    declared: bool
    data_ns: Namespace  # the name its blocks carry (system.buckets.X for old timeseries, §5.4)
    crc_def: int = 0  # CRC of the definite documents, in stream order
    crc_all: int = 0  # CRC of the definite and the candidates labelled with this namespace
    docs_def: int = 0
    bytes_all: int = 0
    pieces: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)  # epoch, crc, length
    piece_epoch: int = -1
    piece_crc: int = 0
    piece_len: int = 0
    labelled: list[int] = dataclasses.field(default_factory=list)  # candidate ids
    stored_crc: int | None = None
    eof_epoch: int = -1
    eof_record: int = -1
    eof_raw: tuple[int, int] = (0, 0)  # where its EOF header is in the spool
    eofs: list[tuple[int, int, int, int, int]] = dataclasses.field(default_factory=list)
    last_definite: int = -1  # record of the last definite segment
    ended: bool = False
    seen: bool = False  # a header of this namespace was read
    damage_count: int = 0
    first_damage: tuple[int, int] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def use_eof(self, which: int) -> None:
        """Take the ``which``-th EOF block read for this namespace as its end."""
        self.stored_crc, self.eof_epoch, self.eof_record, at, size = self.eofs[which]
        self.eof_raw = (at, size)

    def close_piece(self) -> None:
        if self.piece_len:
            self.pieces.append((self.piece_epoch, self.piece_crc, self.piece_len))
        self.piece_crc = self.piece_len = 0

    def all_pieces(self) -> list[tuple[int, int, int]]:
        last = [(self.piece_epoch, self.piece_crc, self.piece_len)] if self.piece_len else []
        return self.pieces + last


@dataclasses.dataclass(slots=True)
class Candidate:
    """A segment whose namespace the stored CRCs have to decide."""

    index: int
    epoch: int
    label: NsState | None
    start: int  # input offset of its first document
    end: int = 0
    record: int = -1
    crc: int = 0
    length: int = 0
    documents: int = 0


class _Log:
    """Fixed-size records in a temporary file, appended in stream order and read back once."""

    _REC = struct.Struct("<8q")

    def __init__(self, temp_dir: str | None) -> None:
        # Closed by close(): the log lives as long as the salvage run.
        self._file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="mongoarchive-salvage-log-", dir=temp_dir
        )
        self._buf = bytearray()
        self.count = 0

    def append(self, *fields: int) -> int:
        self._buf += self._REC.pack(*fields)
        if len(self._buf) >= 1 << 20:
            self._file.write(self._buf)
            self._buf.clear()
        self.count += 1
        return self.count - 1

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        self._file.write(self._buf)
        self._buf.clear()
        self._file.seek(0)
        size = self._REC.size
        while chunk := self._file.read(size * 8192):
            yield from self._REC.iter_unpack(chunk[: len(chunk) - len(chunk) % size])

    def close(self) -> None:
        self._file.close()
