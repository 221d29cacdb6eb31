"""What every sink is: a name (its URL without secrets) and `send(batch)`, which returns only
once the receiver has the whole batch, and raises `SinkError` otherwise."""

from __future__ import annotations

from typing import Protocol

from app.audit.log import Entry


class SinkError(Exception):
    """The receiver did not take the batch (down, refused, timed out): deliver it again later.
    The message names facts (status, errno, host), never a token or a record."""


class Sink(Protocol):
    #: The URL without credentials or query: position keys, metrics labels and logs use it.
    name: str
    #: Records sent at most per `send`.
    batch: int

    def send(self, entries: list[Entry]) -> None: ...

    def close(self) -> None: ...
