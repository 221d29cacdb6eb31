"""The audit outbox: a transition's record is written by the transition's own script, so a
process killed between the transition and the log loses nothing; another process's mover
appends it, exactly once, whoever moves it and however often.

On one Redis server and on a 3-node Redis Cluster (where the request's slot and the log's
differ, which is why the outbox exists). The kill is simulated in process (the mover is not
run) and, in the slow test, made for real: a child process SIGKILLs itself right after the
transition's script returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import redis as redis_py

from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.foundations.clock import timestamp
from app.foundations.settings import Settings
from app.foundations.storage import connect
from app.mysafe.models import Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.redis_wire import Wire

pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services)


@pytest.fixture
def request_id(engine: Engine, emulator: Emulator, link) -> str:
    """alices asks to share her entry with carol; nobody has decided yet."""
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="GCP console", username="ops", password="pw-1")
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),))
    return engine.submit(change, requester="UALICE", reason="on-call").id


def another_runtime(settings: Settings, redis_url: str) -> Engine:
    """A second process's engine: its own connection, its own scripts, the same Redis."""
    return Engine(Services.build(settings, redis=connect(redis_url)))


def denials(engine: Engine, request_id: str) -> list[int | None]:
    return [r.seq for r in engine.audit.read(request=request_id) if r.event == "request.deny"]


def later() -> float:
    """A sweep's clock once a dead process's mark is older than the grace it is given
    (`app.approvals.outbox.GRACE`, a minute), whatever that grace is."""
    return timestamp() + 3600


def test_a_record_left_in_the_outbox_by_a_dead_process_is_moved_by_another_once(
    engine: Engine,
    request_id: str,
    settings: Settings,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine.outbox, "append", lambda _written: False)  # killed right here
    assert engine.deny(request_id, "UAPPROVER1").request.state is State.DENIED
    assert denials(engine, request_id) == []
    assert engine.services.redis.llen(engine.outbox.key(request_id)) == 1

    other = another_runtime(settings, redis_url)
    other.sweep(now=later())
    (seq,) = denials(other, request_id)
    assert seq is not None
    (record,) = [r for r in other.audit.read(request=request_id) if r.event == "request.deny"]
    assert (record.actor, record.facts["state"], record.facts["approvals"]) == (
        "UAPPROVER1",
        "denied",
        "0",
    )
    assert engine.services.redis.llen(engine.outbox.key(request_id)) == 0

    other.sweep(now=later())
    engine.outbox.sweep(now=later())
    assert denials(other, request_id) == [seq]
    assert engine.services.redis.zcard(engine.outbox.index) == 0


def test_a_mover_killed_after_appending_never_makes_a_second_copy(
    engine: Engine,
    request_id: str,
    settings: Settings,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mover appended the record, then died before it took it out of the outbox."""
    monkeypatch.setattr(engine.outbox, "append", lambda _written: False)
    engine.deny(request_id, "UAPPROVER1")
    redis = engine.services.redis
    (raw,) = redis.lrange(engine.outbox.key(request_id), 0, -1)
    item = json.loads(raw)
    assert engine.audit.record_once(item["tid"], item["fields"], remember=60)
    another_runtime(settings, redis_url).sweep(now=later())
    assert len(denials(engine, request_id)) == 1
    assert redis.llen(engine.outbox.key(request_id)) == 0


def test_the_process_that_made_the_transition_appends_its_record_at_once(
    engine: Engine, request_id: str
) -> None:
    """In the log at once; the sweep takes it out of the outbox once its mark is a minute old,
    and appends it no second time."""
    engine.deny(request_id, "UAPPROVER1")
    (seq,) = denials(engine, request_id)
    assert engine.services.redis.llen(engine.outbox.key(request_id)) == 1
    engine.outbox.sweep()
    assert engine.services.redis.llen(engine.outbox.key(request_id)) == 1  # not a minute yet
    engine.outbox.sweep(now=later())
    assert denials(engine, request_id) == [seq]
    assert engine.services.redis.llen(engine.outbox.key(request_id)) == 0
    assert engine.services.redis.zcard(engine.outbox.index) == 0


def test_an_apply_records_its_outcome_through_the_outbox(engine: Engine, request_id: str) -> None:
    engine.approve(request_id, "UAPPROVER1")
    events = [r.event for r in engine.audit.read(request=request_id)]
    assert events[-2:] == ["request.applying", "request.applied"]
    engine.outbox.sweep(now=later())
    assert [r.event for r in engine.audit.read(request=request_id)] == events
    assert engine.services.redis.llen(engine.outbox.key(request_id)) == 0


KILLED_AFTER_THE_TRANSITION = textwrap.dedent("""
    import os, signal, sys
    from app.approvals.engine import Engine
    from app.audit.log import AuditLog
    from app.services import Services
    from app.foundations.settings import Settings

    def die(*_, **__):
        os.kill(os.getpid(), signal.SIGKILL)

    # The transition's script has returned; SIGKILL as the record is about to reach the log.
    AuditLog.append = die
    engine = Engine(Services.build(Settings.from_env(dict(os.environ), dotenv=None)))
    engine.deny(sys.argv[1], "UAPPROVER1")
""")


@pytest.mark.slow
def test_a_process_sigkilled_between_the_transition_and_the_log_loses_no_record(
    engine: Engine, request_id: str, env: dict[str, str], settings: Settings, redis_url: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_TRANSITION, request_id],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr
    assert engine.get(request_id).state is State.DENIED
    assert denials(engine, request_id) == []
    another_runtime(settings, redis_url).sweep(now=later())
    assert len(denials(engine, request_id)) == 1


def test_a_reason_and_a_cancel_also_reach_the_log_only_through_the_outbox(
    engine: Engine,
    request_id: str,
    emulator: Emulator,
    settings: Settings,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = emulator.add_password("alices", name="Other", username="ops", password="pw-2")
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),))
    cancelled = engine.submit(change, requester="UALICE", reason="not needed").id
    monkeypatch.setattr(engine.outbox, "append", lambda _written: False)  # killed each time
    engine.deny(request_id, "UAPPROVER1")
    engine.explain(request_id, "UAPPROVER1", "not during the freeze")
    engine.cancel(cancelled, "UALICE")
    wanted = {"request.deny", "request.deny_reason", "request.cancel"}
    assert wanted.isdisjoint(r.event for r in engine.audit.read())
    another_runtime(settings, redis_url).sweep(now=later())
    found = [r.event for r in engine.audit.read() if r.event in wanted]
    assert sorted(found) == sorted(wanted)


def test_an_unreadable_outbox_does_not_stop_the_others(
    engine: Engine, request_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = engine.services.redis
    redis.rpush(engine.outbox.key("R-BROKEN"), "not json")
    engine.outbox.mark("R-BROKEN")
    monkeypatch.setattr(engine.outbox, "append", lambda _written: False)
    engine.deny(request_id, "UAPPROVER1")
    monkeypatch.undo()
    engine.outbox.sweep(now=later())
    assert len(denials(engine, request_id)) == 1
    assert redis.llen(engine.outbox.key("R-BROKEN")) == 1  # kept for a person to see to


def test_each_audit_record_of_an_approval_costs_one_round_trip(
    engine: Engine, request_id: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """approve -> applied with the audit log, and the same without it (no outbox mark, no
    record): the difference is one round trip per record (the click's `request.applying` and
    the outcome's `request.applied`). The outbox's mark rides in the transition's own round
    trip, and nothing is read back or removed on the way: the sweep does that later."""
    entry = emulator.add_password("alices", name="Other", username="ops", password="pw-2")
    others = []
    for name in ("dave", "erin"):
        emulator.add_user(name)
        change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(name),))
        others.append(engine.submit(change, requester="UALICE", reason="on-call").id)
    engine.approve(others[0], "UAPPROVER1")  # every script loaded once

    with Wire() as audited:
        engine.approve(request_id, "UAPPROVER1")
    monkeypatch.setattr(engine.outbox, "mark", lambda *_, **__: None)
    monkeypatch.setattr(engine.outbox, "append", lambda _written: False)
    monkeypatch.setattr(engine.audit, "record", lambda *_, **__: None)
    with Wire() as bare:
        engine.approve(others[1], "UAPPROVER1")

    assert engine.get(others[1]).state is engine.get(request_id).state is State.APPLIED
    events = [r.event for r in engine.audit.read(request=request_id)]
    assert events[-2:] == ["request.applying", "request.applied"]
    assert len(audited.trips) - len(bare.trips) == 2, (audited.trips, bare.trips)
    appends = [t for t in audited.trips if any(c[:2] == ("EVALSHA", append_sha(engine)) for c in t)]
    assert [len(trip) for trip in appends] == [1, 1]
    index = engine.outbox.index
    assert all(
        any(c[0] == "EVALSHA" for c in trip)
        for trip in audited.trips
        if ("ZADD", index) in [c[:2] for c in trip]
    )
    outbox = engine.outbox.key(request_id)
    assert not [c for c in audited.commands() if outbox in c and c[0] in ("LRANGE", "LREM")]
    print(f"approve -> applied: {len(audited.trips)} round trips audited, {len(bare.trips)} bare")


def append_sha(engine: Engine) -> str:
    return engine.audit.log._append.sha


def test_a_transition_after_redis_forgot_its_scripts_still_runs_and_records_once(
    engine: Engine, request_id: str
) -> None:
    """The mark and the transition go as one pipeline of a plain EVALSHA: a server that does
    not know the script (restarted) answers NOSCRIPT, and the transition is sent again alone."""
    engine.services.redis.script_flush()
    assert engine.deny(request_id, "UAPPROVER1").request.state is State.DENIED
    assert len(denials(engine, request_id)) == 1
    assert engine.services.redis.zscore(engine.outbox.index, request_id) is not None


def test_redis_failing_after_the_transition_fails_nothing_and_the_sweep_appends_the_record(
    engine: Engine, request_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deny stands (the approver is told it worked); its record waits in the outbox and
    the worker's sweep appends it."""

    def down(*_, **__):
        raise redis_py.ConnectionError("Redis went away")

    monkeypatch.setattr(engine.audit.log, "append", down)
    assert engine.deny(request_id, "UAPPROVER1").request.state is State.DENIED
    monkeypatch.undo()
    assert denials(engine, request_id) == []
    engine.outbox.sweep(now=later())
    assert len(denials(engine, request_id)) == 1
