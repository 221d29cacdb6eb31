"""What a process sends Redis, one round trip at a time: each write of redis-py's connections
(one command, or a whole pipeline), read back as the commands it holds.

    with Wire() as wire:
        engine.approve(...)
    wire.trips          # [[("EVALSHA", sha, ...), ...], ...]: one list per round trip

Counted at the socket (`AbstractConnection.send_packed_command` and `read_response`), below
every client, pipeline and script helper, so nothing redis-py adds (a `SCRIPT EXISTS` before a
pipeline of scripts, a retry) is missed. Writes made before any answer is read are one round
trip: a pipeline, or a Cluster pipeline's writes to each node it concerns, sent all at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from redis.connection import AbstractConnection

Command = tuple[str, ...]


class Wire:
    def __init__(self) -> None:
        self.trips: list[list[Command]] = []
        self._lock = threading.Lock()
        self._read = True  # the next write starts a round trip
        self._originals: tuple[Any, Any] = (None, None)

    def __enter__(self) -> Wire:
        send_original = AbstractConnection.send_packed_command
        read_original = AbstractConnection.read_response
        self._originals = (send_original, read_original)
        wire = self

        def send(connection: AbstractConnection, command: Any, check_health: bool = True) -> Any:
            with wire._lock:
                if wire._read or not wire.trips:
                    wire.trips.append([])
                wire.trips[-1] += parse(command)
                wire._read = False
            return send_original(connection, command, check_health)

        def read(connection: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
            wire._read = True
            return read_original(connection, *args, **kwargs)

        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
        AbstractConnection.read_response = read  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        send, read = self._originals
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
        AbstractConnection.read_response = read  # type: ignore[method-assign]

    def work(self) -> list[list[Command]]:
        """The round trips without a new connection's own (`HELLO`, `CLIENT SETINFO`): what
        was asked, whether or not a thread had to open its connection first (each web thread
        keeps one of its own for the acks, `app.foundations.storage.OwnConnections`)."""
        return [trip for trip in self.trips if not _setup(trip)]

    def commands(self) -> list[Command]:
        return [command for trip in self.trips for command in trip]


def _setup(trip: list[Command]) -> bool:
    """A connection's greeting (`HELLO`, or `AUTH`, with the `PING` after it) or its name."""
    return trip[0][0] in ("HELLO", "AUTH") or all(c[:2] == ("CLIENT", "SETINFO") for c in trip)


def parse(packed: Any) -> Iterator[Command]:
    """The commands in a packed write: RESP arrays of bulk strings, back to back. Only the
    command's name and its first arguments are decoded (keys, a script's sha); a long value
    is kept as `<N bytes>`."""
    data = packed.encode() if isinstance(packed, str) else b"".join(bytes(p) for p in packed)
    at = 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        count = int(data[at + 1 : end])
        at = end + 2
        parts: list[str] = []
        for _ in range(count):
            end = data.index(b"\r\n", at)
            size = int(data[at + 1 : end])
            value = data[end + 2 : end + 2 + size]
            at = end + 2 + size + 2
            parts.append(value.decode("utf-8", "replace") if size <= 200 else f"<{size} bytes>")
        parts[0] = parts[0].upper()
        yield tuple(parts)
