"""The MySafe calls of one verb: which call of the client it is handed reads the entry, and
which writes it (an update, or MySafe's inactive/active calls); the `read` and `write` of a
verb's `ChangeSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from app.approvals.change_intent import Change
from app.mysafe.models import Entry, Kind, WriteResult


class EntryCalls(Protocol):
    """The calls of `app.mysafe.client.UserClient` a spec chooses among (one person's key)."""

    def get(self, kind: Kind, identifier: int) -> Entry: ...

    def read(self, kind: Kind, identifier: int) -> Entry: ...

    def update(self, kind: Kind, identifier: int, fields: Mapping[str, Any]) -> WriteResult: ...

    def disable(self, kind: Kind, identifier: int) -> WriteResult: ...

    def enable(self, kind: Kind, identifier: int) -> WriteResult: ...


def get(client: EntryCalls, kind: Kind, identifier: int) -> Entry:
    """Most verbs change what a disabled entry keeps locked: its 1009 is their refusal."""
    return client.get(kind, identifier)


def read_state(client: EntryCalls, kind: Kind, identifier: int) -> Entry:
    """Disable and enable act on the state itself: a disabled entry is an answer."""
    return client.read(kind, identifier)


def update_write(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    assert change.identifier is not None
    return client.update(change.kind, change.identifier, body)


def disable_write(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    assert change.identifier is not None
    return client.disable(change.kind, change.identifier)


def enable_write(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    assert change.identifier is not None
    return client.enable(change.kind, change.identifier)
