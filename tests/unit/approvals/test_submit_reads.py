"""A submit reads each fact once (issue 33): the requester's names, the idempotency key and the
entry's access records, and never reads back the request it has just written. Each read made
twice was a round trip of every share's job, and a chance for the two reads to disagree."""

from __future__ import annotations

import pytest

from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.mysafe.models import Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.approvers import Approving
from tests.support.redis_wire import Command, Wire

pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services, approvers=Approving("URANDOM"))


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    return emulator.add_password("alices", name="GCP console", username="ops", password="pw-1")


def share_with_carol(entry: int) -> Change:
    return Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),))


def touching(trips: list[list[Command]], key: str) -> list[tuple[int, Command]]:
    """Each command naming `key` (or a key starting with it, for one ending in ":"), with the
    round trip it went in."""

    def names(part: str) -> bool:
        return part.startswith(key) if key.endswith(":") else part == key

    return [(n, c) for n, trip in enumerate(trips) for c in trip if any(map(names, c[1:]))]


@pytest.fixture
def submitted(engine: Engine, entry: int) -> tuple[list[list[Command]], ChangeRequest]:
    """A share submitted as a Slack command's job does it, with what went to Redis."""
    with Wire() as wire:
        request = engine.submit(
            share_with_carol(entry), requester="UALICE", idempotency_key="slack:trigger-1"
        )
    return wire.trips, request


def test_the_idempotency_key_is_looked_at_once_and_claimed_once(
    engine: Engine, submitted: tuple[list[list[Command]], ChangeRequest]
) -> None:
    trips, request = submitted
    claims = touching(trips, engine.store.idempotency_key("slack:trigger-1"))
    assert [c[0] for _, c in claims] == ["GET", "SET"]  # the early look (`find`), the claim
    claimed_in = claims[1][0]
    indexed = touching(trips, engine.store.index("open"))
    assert [n for n, _ in indexed] == [claimed_in]  # sent with the indexes: no trip of its own


def test_the_requesters_names_are_read_once(
    key_prefix: str, submitted: tuple[list[list[Command]], ChangeRequest]
) -> None:
    trips, _ = submitted
    names = touching(trips, f"{key_prefix}:{{vault}}:mentions")
    assert len(names) == 1, names


def test_the_entrys_access_records_and_pending_writes_are_one_read(
    key_prefix: str, entry: int, submitted: tuple[list[list[Command]], ChangeRequest]
) -> None:
    trips, _ = submitted
    access = touching(trips, f"{key_prefix}:access:{{entry:password:{entry}}}:")
    assert access and len({n for n, _ in access}) == 1, access


def test_the_request_just_written_is_not_read_back(
    engine: Engine, submitted: tuple[list[list[Command]], ChangeRequest]
) -> None:
    trips, request = submitted
    request_hash = engine.store.request_keys(request.id)[0]
    reads = [c for _, c in touching(trips, request_hash) if c[0] in ("HGETALL", "HMGET", "HGET")]
    assert reads == []


def test_a_retried_delivery_still_answers_with_the_first_request(engine: Engine, entry: int) -> None:
    first = engine.submit(share_with_carol(entry), requester="UALICE", idempotency_key="slack:t-2")
    again, created = engine.submit_once(
        share_with_carol(entry), requester="UALICE", idempotency_key="slack:t-2"
    )
    assert (again.id, created) == (first.id, False)
    assert len(engine.store.open_requests(requester="UALICE")) == 1


def test_the_request_a_submit_answers_with_is_the_one_stored(
    engine: Engine, entry: int, emulator: Emulator
) -> None:
    """Not read back: built from what was written, so it must read as `get` reads it (the
    settings' three approvers are a list kept apart, and a rotate carries its secret)."""
    share = engine.submit(
        share_with_carol(entry),
        requester="UALICE",
        reason="on call",
        ticket={"key": "OPS-1", "url": "https://tickets.example/OPS-1"},
        people={"carol": "UCAROL"},
        notify=("UCAROL",),
    )
    rotate = engine.submit(
        Change(Verb.ROTATE, Kind.PASSWORD, entry),
        requester="UALICE",
        secrets={"password": "N3w-Pa55word-never-shown"},
    )
    for request in (share, rotate):
        assert request == engine.get(request.id)
    assert len(share.approvers) == 3 and rotate.encrypted_secrets


def test_an_approvers_click_reads_their_names_once(engine: Engine, entry: int, key_prefix: str) -> None:
    request = engine.submit(share_with_carol(entry), requester="UALICE")
    with Wire() as wire:
        engine.approve(request.id, "UAPPROVER1")
    names = touching(wire.trips, f"{key_prefix}:{{vault}}:mentions")
    assert len(names) == 1, names
