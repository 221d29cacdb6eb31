"""The reminder schedule against a real Redis (one server and a 3-node cluster): due items are
claimed by one worker only, survive a restart, come back when a worker died holding them, and
are dropped once their request is final."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.approvals.engine import Engine
from app.approvals.policy import PolicyBook
from app.approvals.policy_file import parse_policy
from app.approvals.reminders import CLAIM_LEASE, Reminders
from app.approvals.rules import Defaults
from app.services import Services
from tests.unit.approvals.test_engine import Told, share

POLICY = """
rules:
  - name: reminded
    remind_after: 30m
    escalate_after: 2h
    escalate_to: [UDUTYMGR]
"""


pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def told() -> Told:
    return Told()


def reminded_engine(services: Services, told: Told) -> Engine:
    """An engine as a worker process builds it, with the policy above."""
    book = PolicyBook(services.settings)
    book._policy = parse_policy(POLICY, Defaults.of(services.settings))
    return Engine(services, listeners=[told], policy=book)


@pytest.fixture
def engine(services: Services, told: Told) -> Engine:
    return reminded_engine(services, told)


@pytest.fixture
def entry(emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    return emulator.add_password("alices", name="db", username="db", password="pw-Old-1")


def test_ten_workers_send_each_reminder_once(
    engine: Engine, entry: int, told: Told, services: Services
) -> None:
    requests = [engine.submit(share(entry, "carol"), requester="UALICE") for _ in range(5)]
    now = max(r.created for r in requests) + 31 * 60
    workers = [reminded_engine(services, told) for _ in range(10)]  # ten processes' engines
    barrier = threading.Barrier(10)

    def sweep(worker: Engine) -> int:
        barrier.wait()
        return worker.send_nudges(now)

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert sum(pool.map(sweep, workers)) == 5
    reminded = Counter(rid for rid, event in told.events if event == "remind")
    assert reminded == {r.id: 1 for r in requests}
    assert engine.send_nudges(now + 60) == 0


def test_the_schedule_survives_a_restart_and_a_worker_dying_mid_send(
    engine: Engine, entry: int, told: Told, services: Services
) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    due = request.created + 121 * 60
    # A worker claims both items and dies before sending them.
    dead = Reminders(services.redis, prefix=services.settings.key_prefix)
    assert sorted(k.value for _, k in dead.claim(due)) == ["escalate", "remind"]

    restarted = reminded_engine(services, told)  # a new process, nothing in memory
    assert restarted.send_nudges(due) == 0  # still claimed by the dead worker
    assert restarted.send_nudges(due + CLAIM_LEASE + 1) == 2
    assert sorted(e for rid, e in told.events if rid == request.id and e != "created") == [
        "escalate",
        "remind",
    ]
    assert restarted.reminders.pending() == []


def test_a_final_request_is_never_reminded(engine: Engine, entry: int, told: Told) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    engine.cancel(request.id, "UALICE")
    assert engine.reminders.pending() == []
    assert engine.send_nudges(request.created + 3 * 3600) == 0
    assert [e for _, e in told.events if e in ("remind", "escalate")] == []


def test_no_schedule_for_a_rule_without_reminders(services: Services, entry: int, told: Told) -> None:
    plain = Engine(services, listeners=[told])
    plain.submit(share(entry, "carol"), requester="UALICE")
    assert plain.reminders.pending() == []
