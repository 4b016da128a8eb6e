"""A TCP proxy that records the commands a client sends a server (for bench_restore.py --trace).

Each OP_MSG (opcode 2013) the client sends is decoded: the command name, its
namespace, the documents of an ``insert`` (in the command body or in a kind 1
document sequence), ``ordered`` and ``writeConcern``; the reply's arrival
closes the request, so the trace also tells how many commands were in flight
at once.  Other opcodes are counted by number only.  Run by hand, not by the tests.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import bson

__all__ = ["Call", "WireTrace"]

OP_MSG = 2013


@dataclass
class Call:
    """One command on the wire."""

    name: str
    collection: str
    documents: int
    ordered: Any
    write_concern: Any
    connection: int
    fields: tuple[str, ...]
    sent: float
    replied: float | None = None


@dataclass
class WireTrace:
    """Listens on 127.0.0.1 (``port``) and forwards every connection to ``target_port``."""

    target_port: int
    calls: list[Call] = field(default_factory=list)
    other_opcodes: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open: dict[tuple[int, int], Call] = {}
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting connections (open ones end with their client)."""
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            conn = self.connections
            threading.Thread(target=self._pump, args=(client, server, conn, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, conn, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, conn: int, request: bool) -> None:
        try:
            while True:
                head = _read(src, 16)
                if head is None:
                    break
                length, request_id, response_to, opcode = struct.unpack("<iiii", head)
                body = _read(src, length - 16) or b""
                if request:
                    self._request(conn, request_id, opcode, body)
                else:
                    self._reply(conn, response_to)
                dst.sendall(head + body)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _request(self, conn: int, request_id: int, opcode: int, body: bytes) -> None:
        if opcode != OP_MSG:
            with self.lock:
                self.other_opcodes[opcode] += 1
            return
        pos, command, sequence = 4, None, 0
        while pos < len(body):
            kind = body[pos]
            pos += 1
            size = struct.unpack_from("<i", body, pos)[0]
            if kind == 0:
                command = bson.decode(body[pos : pos + size])
                pos += size
            elif kind == 1:
                end = pos + size
                pos = body.index(b"\0", pos + 4) + 1
                while pos < end:
                    sequence += 1
                    pos += struct.unpack_from("<i", body, pos)[0]
            else:  # the optional checksum
                break
        if command is None:
            return
        name = next(iter(command))
        docs = sequence or len(command.get("documents", ()))
        call = Call(
            name,
            str(command.get(name)),
            docs,
            command.get("ordered"),
            command.get("writeConcern"),
            conn,
            tuple(command),
            time.perf_counter(),
        )
        with self.lock:
            self.calls.append(call)
            self.open[(conn, request_id)] = call

    def _reply(self, conn: int, response_to: int) -> None:
        with self.lock:
            call = self.open.pop((conn, response_to), None)
        if call is not None:
            call.replied = time.perf_counter()

    def summary(self) -> list[str]:
        """Lines: per command its count; for inserts the batch sizes, ordered, concern, overlap."""
        with self.lock:
            calls = list(self.calls)
        lines = []
        names = Counter(c.name for c in calls)
        lines.append("commands: " + ", ".join(f"{n} {k}" for k, n in names.most_common()))
        inserts = [c for c in calls if c.name == "insert"]
        if inserts:
            sizes = Counter(c.documents for c in inserts)
            lines.append(
                f"inserts: {len(inserts)}, {sum(c.documents for c in inserts)} documents, per insert "
                + ", ".join(f"{n}x{k}" for k, n in sizes.most_common(4))
                + f"; ordered {Counter(repr(c.ordered) for c in inserts).most_common()}"
                + f"; writeConcern {Counter(repr(c.write_concern) for c in inserts).most_common(2)}"
                + f"; connections {len({c.connection for c in inserts})}"
            )
            lines.append(f"insert fields: {Counter(c.fields for c in inserts).most_common(2)}")
            lines.append("in flight: " + _overlap(inserts))
        for c in calls:
            if c.name not in ("insert", "hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo"):
                took = f"{c.replied - c.sent:.2f} s" if c.replied is not None else "no reply"
                lines.append(f"  {c.sent - calls[0].sent:7.2f} s {c.name} {c.collection} ({took})")
        return lines


def _overlap(calls: list[Call]) -> str:
    """The time-weighted mean and the maximum number of ``calls`` awaiting their reply."""
    events = []
    for c in calls:
        if c.replied is not None:
            events += [(c.sent, 1), (c.replied, -1)]
    events.sort()
    if not events:
        return "-"
    level = peak = 0
    weighted = 0.0
    last = events[0][0]
    for t, step in events:
        weighted += level * (t - last)
        last = t
        level += step
        peak = max(peak, level)
    span = events[-1][0] - events[0][0]
    took = sorted(c.replied - c.sent for c in calls if c.replied is not None)
    return (
        f"mean {weighted / span:.2f}, max {peak} over {span:.2f} s of inserting; "
        f"reply after {took[len(took) // 2] * 1000:.0f} ms (median), {sum(took):.2f} s in all"
    )


def _read(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
