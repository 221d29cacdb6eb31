"""A mass expiry: the sweep changes state in batches, a few Redis round trips per hundred
requests instead of about five per request, and each request still expires exactly once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis.connection import AbstractConnection

from app.approvals.decision import EveryChange
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.approvals.sweeping import SWEEP_BATCH, TELL_TRIES, TELL_WITHIN
from app.services import Services
from tests.unit.approvals.test_engine import Told, share

COUNT = 300


@pytest.fixture
def due(services: Services, emulator, link) -> list[str]:
    """COUNT pending requests of alice's, copies of one made through the engine."""
    link("UALICE", "alices")
    entry = emulator.add_password("alices", name="Prod DB", username="ops", password="pw-Old-1")
    emulator.add_user("carol")
    engine = Engine(services)
    first = engine.submit(share(entry, "carol"), requester="UALICE")
    fields = services.redis.hgetall(engine.store.request_keys(first.id)[0])
    fields.pop("id")
    ids = [first.id]
    for n in range(COUNT - 1):
        request_id, _ = engine.store.create(
            fields,
            requester="UALICE",
            created=first.created,
            expires=first.expires,
            idempotency_key=f"slack:{n}.copy",
        )
        ids.append(request_id)
    return ids


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts what is sent to Redis in one go (a command, or a whole pipeline)."""
    sent = [0]
    lock = threading.Lock()
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        with lock:
            sent[0] += 1
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_mass_expiry_takes_a_few_round_trips_per_hundred(
    services: Services, due: list[str], round_trips: list[int]
) -> None:
    told = Told()
    handed: list[str] = []
    # as a worker does: the telling is a job
    engine = Engine(services, listeners=[told], hand_off=handed.extend)
    later = max(engine.store.get(i).expires for i in due[:1]) + 1
    assert engine.sweep(now=later, limit=500) == COUNT
    assert round_trips[0] <= 10 * COUNT / 100, f"{round_trips[0]} round trips for {COUNT}"
    assert sorted(handed) == sorted(due) and told.events == []
    assert all(r.state is State.EXPIRED for r in engine.store.get_many(due))
    expired = [r for r in engine.audit.read() if r.event == "request.expired"]
    assert sorted(r.request for r in expired) == sorted(due)
    assert engine.queue() == [] and engine.open_for("UALICE") == []

    round_trips[0] = 0
    for start in range(0, COUNT, SWEEP_BATCH):  # the jobs, one per batch
        engine.tell_expired(handed[start : start + SWEEP_BATCH])
    # A few per batch (the tellers' threads' connections included), and one per request:
    # each is marked told as soon as it was.
    assert round_trips[0] <= 10 * COUNT / 100 + COUNT, f"{round_trips[0]} for {COUNT}"
    assert sorted(i for i, e in told.events if e == "expired") == sorted(due)
    assert engine.store.due("due", later + 10 * TELL_WITHIN) == []  # nothing owed any more


def test_sweeps_racing_over_one_batch_expire_each_request_once(
    services: Services, due: list[str]
) -> None:
    told = Told()
    engine = Engine(services, listeners=[told])
    later = engine.store.get(due[0]).expires + 1
    barrier = threading.Barrier(6)

    def sweep(_: int) -> int:
        barrier.wait()
        return engine.sweep(now=later, limit=500)

    with ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(sweep, range(6))) == COUNT
    assert sorted(i for i, e in told.events if e == "expired") == sorted(due)
    expired = [r for r in engine.audit.read() if r.event == "request.expired"]
    assert len(expired) == COUNT


@pytest.mark.slow
def test_news_no_listener_takes_is_tried_again_then_given_up(
    services: Services, due: list[str]
) -> None:
    """Slack refuses the update every time (its message was deleted): each hand-off tries it
    again once the claim has run out, and the TELL_TRIES-th failure gives it up: not owed
    forever."""
    tries: list[str] = []

    class Refusing(EveryChange):
        def changed(self, request: object, event: str) -> None:
            tries.append(event)
            raise RuntimeError("message_not_found")

    handed: list[Sequence[str]] = []
    engine = Engine(services, listeners=[Refusing()], hand_off=handed.append)
    now = engine.store.get(due[0]).expires + 1
    engine.sweep(now=now)
    request_id = due[0]
    for n in range(1, TELL_TRIES):
        assert engine.tell_expired([request_id], now=now) == 1 and len(tries) == n
        assert engine.store.get(request_id).untold is not None  # still owed
        assert engine.tell_expired([request_id], now=now) == 0  # its claim still runs
        now += TELL_WITHIN + 1
        handed.clear()
        engine.sweep(now=now)
        assert any(request_id in batch for batch in handed)  # handed off again
    assert engine.tell_expired([request_id], now=now) == 1 and len(tries) == TELL_TRIES
    assert engine.store.get(request_id).untold is None  # given up
