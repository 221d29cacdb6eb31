"""Time-bound shares against a real Redis (one server and a 3-node cluster) and the emulator:
what a share added is taken back at its end, exactly that, exactly once, never silently.

The clock is the one the worker is handed: `Revoker.sweep(now=…)`, so a 1-hour share ends in
the test without waiting an hour.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY

from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.grants import Grant, Granted
from app.approvals.ledger import Access, Ledger
from app.approvals.machine import State
from app.approvals.revoker import RETRY_BASE, Revoker
from app.approvals.revokes import REMIND_LEASE, RETENTION, EveryRevokeChange, Revoke
from app.foundations import errors
from app.foundations.clock import shifted, timestamp
from app.mysafe.models import Entry, GroupShare, Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.approvers import Approving

PUT_PASSWORD = "/api/mysafe/password/update"
HOUR = 3600


pytestmark = pytest.mark.server_and_cluster


class Told(EveryRevokeChange):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def changed(self, revoke: Revoke, event: str) -> None:
        with self.lock:
            self.events.append((revoke.request_id, event, revoke.state))

    def count(self, event: str) -> int:
        return sum(1 for _, e, _ in self.events if e == event)

    @property
    def outcomes(self) -> list[tuple[str, str, str]]:
        """What was told about ends (reminders aside)."""
        return [e for e in self.events if e[1] != "reminder"]


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services, approvers=Approving("UALICE"))


@pytest.fixture
def revoker(engine: Engine, told: Told) -> Revoker:
    return engine.new_revoker(listeners=[told], jitter=lambda: 1.0)  # backoff without chance


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    """A password alices (UALICE) owns, shared read-only with bobm."""
    link("UALICE", "alices")
    for name in ("bobm", "carol", "dave"):
        emulator.add_user(name)
    emulator.add_group("Ops", ["dave"])
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-password-1",
        users_allowed=[{"username": "bobm"}],
    )


def granted_for(
    engine: Engine, entry: int, *users: UserShare, groups: tuple = (), hours: int = 1
) -> tuple[str, float]:
    """alices shares for `hours`, an approver approves; returns the request and its end."""
    change = Change(
        Verb.SHARE, Kind.PASSWORD, entry, add_users=users, add_groups=groups, duration=hours * HOUR
    )
    request = engine.submit(change, requester="UALICE", reason="on-call")
    applied = engine.approve(request.id, "UAPPROVER1").request
    assert applied.state is State.APPLIED
    return request.id, float(applied.result["ends"])


def sharing(emulator: Emulator, entry: int) -> dict[str, bool]:
    found = emulator.get_password(entry)
    assert found is not None
    return {u["username"]: u["can_edit"] for u in found["users_allowed"]} | {
        f"group:{g['name']}": g["can_edit"] for g in found["groups_allowed"]
    }


def revokes_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("mysafe_bot_revokes_total", {"outcome": outcome}) or 0.0


def puts(emulator: Emulator) -> int:
    return len(emulator.calls_to("PUT", PUT_PASSWORD))


# --- grants, pure -------------------------------------------------------------------------------


def test_take_back_touches_only_what_is_still_as_the_share_left_it() -> None:
    grant = Grant(
        (
            Granted("users_allowed", "carol", "", "edit"),
            Granted("users_allowed", "bobm", "view", "edit"),
            Granted("users_allowed", "erin", "", "view"),
            Granted("groups_allowed", "Ops", "", "view"),
        )
    )
    records = [Access(g.field, g.name, g.before, {"R-SHARE": g.after}) for g in grant.items]
    now = Entry(
        Kind.PASSWORD,
        1,
        "x",
        users_allowed=(
            UserShare("Carol", True),
            UserShare("bobm", True),
            UserShare("erin", True),
            UserShare("dave", False),
        ),
        groups_allowed=(),
    )
    taken = Ledger({r.key: r for r in records}, {}).end("R-SHARE", grant, now).taken
    assert taken is not None
    # carol (added with edit, still edit) goes; bobm (raised) is lowered back to view; erin
    # (added with view, raised by someone else) and the Ops group (removed by hand) stay as
    # they are; dave was never the share's.
    assert taken.body == {
        "users_allowed": [
            {"username": "bobm", "can_edit": False},
            {"username": "erin", "can_edit": True},
            {"username": "dave", "can_edit": False},
        ]
    }
    assert [g.name for g in taken.undone] == ["carol", "bobm"]
    assert dict((g.name, why) for g, why in taken.kept) == {
        "erin": "changed meanwhile to edit",
        "Ops": "already removed",
    }


# --- grant and revoke ---------------------------------------------------------------------------


def test_a_share_ends_by_itself_at_its_time(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol", True))
    assert sharing(emulator, entry) == {"bobm": False, "carol": True}
    assert ends == pytest.approx(timestamp() + HOUR, abs=30)
    assert revoker.sweep(now=ends - 1) == 0 and puts(emulator) == 1
    assert revoker.sweep(now=ends + 1) == 1
    assert sharing(emulator, entry) == {"bobm": False}
    (put,) = emulator.calls_to("PUT", PUT_PASSWORD)[1:]
    assert put.user == "alices"  # the owner's key: the approved intent covers the revoke
    assert told.outcomes == [(request_id, "revoked", "done")]
    (done,) = [r for r in engine.audit.read(request=request_id) if r.event == "revoke.done"]
    assert done.facts["removed"] == "carol (edit)"
    assert revoker.sweep(now=ends + 10 * HOUR) == 0 and puts(emulator) == 2


def test_a_raised_permission_is_lowered_back(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    _, ends = granted_for(engine, entry, UserShare("bobm", True))
    assert sharing(emulator, entry) == {"bobm": True}
    revoker.sweep(now=ends + 1)
    assert sharing(emulator, entry) == {"bobm": False}


def test_what_others_changed_meanwhile_is_kept(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    _, ends = granted_for(
        engine, entry, UserShare("carol"), UserShare("dave"), groups=(GroupShare("Ops"),)
    )
    # During the period someone shares with erin by hand and gives dave edit.
    emulator.add_user("erin")
    emulator.update_entry(
        "password",
        entry,
        users_allowed=[
            {"username": "bobm"},
            {"username": "carol"},
            {"username": "dave", "can_edit": True},
            {"username": "erin"},
        ],
    )
    revoker.sweep(now=ends + 1)
    assert sharing(emulator, entry) == {"bobm": False, "dave": True, "erin": False}


def test_a_grantee_removed_by_hand_means_nothing_to_write(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    emulator.update_entry("password", entry, users_allowed=[{"username": "bobm"}])
    assert revoker.sweep(now=ends + 1) == 1
    assert puts(emulator) == 1  # the share's own write only
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "done"
    assert revoke.removed == () and revoke.kept == ("carol (view): already removed",)
    (done,) = [r for r in engine.audit.read(request=request_id) if r.event == "revoke.done"]
    assert done.facts["removed"] == "nothing to write"


def test_access_someone_gave_before_the_apply_is_not_the_shares_to_take_back(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),), duration=HOUR)
    request = engine.submit(change, requester="UALICE", reason="on-call")
    # Before an approver clicks, alices shares with carol by hand, for good.
    emulator.update_entry(
        "password", entry, users_allowed=[{"username": "bobm"}, {"username": "carol"}]
    )
    applied = engine.approve(request.id, "UAPPROVER1").request
    assert applied.state is State.APPLIED
    revoker.sweep(now=float(applied.result["ends"]) + 1)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}


def test_an_apply_taken_over_after_its_write_takes_back_what_that_write_added(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),), duration=HOUR)
    request = engine.submit(change, requester="UALICE", reason="on-call")

    def dies(*args: object) -> None:
        raise SystemExit("the process died after MySafe took the write")

    monkeypatch.setattr(engine.applier, "_schedule_end", dies)
    with pytest.raises(SystemExit):
        engine.approve(request.id, "UAPPROVER1")
    monkeypatch.undo()
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}
    # Another worker takes the apply over once its lease has run out.
    stuck = engine.store.get(request.id)
    assert stuck is not None
    with shifted(stuck.lease_until - timestamp() + 1):
        engine.sweep()
    applied = engine.store.get(request.id)
    assert applied is not None and applied.state is State.APPLIED
    revoker.sweep(now=float(applied.result["ends"]) + 1)
    assert sharing(emulator, entry) == {"bobm": False}


# --- never silent -------------------------------------------------------------------------------


def test_mysafe_down_is_retried_with_backoff_and_told(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    emulator.inject(status=503, method="PUT", path_prefix=PUT_PASSWORD, times=3)
    failures = revokes_counted("failed")
    assert revoker.sweep(now=ends + 1) == 1
    assert revokes_counted("failed") == failures + 1  # on-call sees it in /metrics
    failed = revoker.store.get(request_id)
    assert failed is not None and failed.state == "retrying" and "unavailable" in failed.error
    assert failed.next == pytest.approx(ends + 1 + RETRY_BASE)
    assert told.outcomes == [(request_id, "revoke_failed", "retrying")]
    assert revoker.sweep(now=ends + RETRY_BASE - 1) == 0  # backing off
    assert revoker.sweep(now=ends + RETRY_BASE + 2) == 1
    assert sharing(emulator, entry) == {"bobm": False}
    assert [e for _, e, _ in told.outcomes] == ["revoke_failed", "revoked"]
    events = [r.event for r in engine.audit.read(request=request_id)]
    assert events[-3:] == ["revoke.failed", "revoke.done", "share.revoke_verified"]


def test_a_revoke_still_retrying_when_its_record_would_lapse_is_kept(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, redis
) -> None:
    """Its record was kept `RETENTION` past the end, and dropped then with no word while the
    channel still said "still retrying": each failed attempt keeps it that long again."""
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    key = revoker.store.record_key(request_id)
    redis.expire(key, 60)  # weeks of failures later: about to lapse
    emulator.inject(status=503, method="GET", path_prefix="/api/mysafe/password/", times=100)
    revoker.sweep(now=ends + 1)
    assert redis.ttl(key) > RETENTION - 60
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "retrying"


def test_an_unlinked_owner_is_retried_until_linked_again(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, services: Services, link
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    services.vault.unlink("UALICE")
    revoker.sweep(now=ends + 1)
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "retrying" and "login" in revoke.error
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}
    link("UALICE", "alices")  # alices links a (new) key again
    assert revoker.sweep(now=ends + 10 * RETRY_BASE) == 1
    assert sharing(emulator, entry) == {"bobm": False}


def test_a_revoke_under_way_when_its_owner_logs_out_still_takes_the_access_back(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, services: Services
) -> None:
    """Giving access back is always allowed: unlike an apply, a revoke does not check the
    owner's link again before it writes (the owner's logout must not keep a grantee's access)."""
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    held = emulator.hold(method="GET", path_prefix="/api/mysafe/password/")
    with ThreadPoolExecutor(max_workers=1) as pool:
        swept = pool.submit(revoker.sweep, now=ends + 1)
        assert held.arrived.wait(10)  # the revoke has read the owner's key and the entry
        services.vault.unlink("UALICE")  # /mysafe logout
        held.release()
        assert swept.result(timeout=30) == 1
    assert sharing(emulator, entry) == {"bobm": False}
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "done"


def test_an_approver_may_give_up(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    emulator.inject(status=503, method="GET", path_prefix="/api/mysafe/password/", times=100)
    revoker.sweep(now=ends + 1)
    assert revoker.give_up(request_id, "UALICE") == "not_approver"
    assert revoker.give_up(request_id, "UAPPROVER1") == "ok"
    assert revoker.sweep(now=ends + 100 * HOUR) == 0
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "given_up"
    assert [e for _, e, _ in told.outcomes] == ["revoke_failed", "revoke_given_up"]


def test_a_grantee_may_not_give_up_the_end_of_her_own_access(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, services: Services
) -> None:
    """Even when she approves for some rule: giving up would let her keep the access."""
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),), duration=HOUR)
    request = engine.submit(change, requester="UALICE", notify=["UCAROL"])
    ends = float(engine.approve(request.id, "UAPPROVER1").request.result["ends"])
    emulator.inject(status=503, method="GET", path_prefix="/api/mysafe/password/", times=100)
    revoker.sweep(now=ends + 1)
    services.vault.map_mention("UCAROL2", "Carol")  # her second Slack account
    for grantee in ("UCAROL", "UCAROL2"):
        assert revoker.give_up(request.id, grantee) == "beneficiary"
    revoke = revoker.store.get(request.id)
    assert revoke is not None and revoke.state == "retrying"


# --- exactly once -------------------------------------------------------------------------------


def test_twenty_workers_racing_on_due_revokes_write_each_once(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    ends = [granted_for(engine, entry, UserShare(name))[1] for name in ("carol", "dave")]
    later = max(ends) + 1
    barrier = threading.Barrier(20)

    def sweep(_: int) -> int:
        barrier.wait()
        return revoker.sweep(now=later)

    for _ in range(3):  # repeated, to catch a race
        with ThreadPoolExecutor(max_workers=20) as pool:
            handled = sum(pool.map(sweep, range(20)))
        assert handled in (0, 2)
    assert puts(emulator) == 2 + 2  # two shares, two revokes
    assert Counter(e for _, e, _ in told.outcomes) == {"revoked": 2}
    assert sharing(emulator, entry) == {"bobm": False}


def test_a_worker_that_died_mid_revoke_is_taken_over_once(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    lease_until = ends + 1 + engine.settings.apply_lease
    status, _ = revoker.store.claim(
        request_id, now=ends + 1, lease="dead-worker", lease_until=lease_until
    )
    assert status == "claimed"
    assert revoker.sweep(now=ends + 2) == 0  # its claim still runs: nobody else writes
    assert revoker.sweep(now=lease_until + 1) == 1
    assert sharing(emulator, entry) == {"bobm": False}
    # The dead worker's late finish is refused.
    assert not revoker.store.finish(request_id, lease="dead-worker", outcome="done")


# --- reminders and extensions -------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "before"), [(24, HOUR), (8, 0.1 * 8 * HOUR), (1, 0.1 * HOUR)])
def test_owner_and_grantee_are_reminded_once_before_the_end(
    engine: Engine, revoker: Revoker, entry: int, told: Told, hours: int, before: float
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"), hours=hours)
    revoker.sweep(now=ends - before - 1)
    assert told.events == []
    barrier = threading.Barrier(10)

    def sweep(_: int) -> int:
        barrier.wait()
        return revoker.sweep(now=ends - before + 1)

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(sweep, range(10)))
    assert told.events == [(request_id, "reminder", "scheduled")]
    revoker.sweep(now=ends + 1)
    assert [e for _, e, _ in told.events] == ["reminder", "revoked"]


def test_a_reminder_whose_worker_died_while_sending_is_sent_by_another(
    engine: Engine, revoker: Revoker, entry: int, told: Told
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    due = ends - 5 * 60  # a 1-hour share is reminded 6 minutes before its end
    assert revoker.store.remind(request_id, now=due)  # a worker claims it, then dies
    revoker.sweep(now=due + 1)
    assert told.events == []  # its claim still runs: nobody sends it twice
    revoker.sweep(now=due + REMIND_LEASE + 1)
    assert told.events == [(request_id, "reminder", "scheduled")]
    revoker.sweep(now=due + 2 * REMIND_LEASE + 2)
    assert len(told.events) == 1


def test_a_share_revoked_before_its_reminder_is_not_reminded(
    engine: Engine, revoker: Revoker, entry: int, told: Told
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    assert revoker.revoke_now(request_id, "UALICE") == "ok"
    revoker.sweep(now=ends - 1)
    assert [e for _, e, _ in told.events] == ["revoked"]


def test_an_approved_extension_takes_over_the_end(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    with pytest.raises(errors.ApprovalError):
        revoker.extend(request_id, "UDAVE")  # neither owner nor grantee
    extension = revoker.extend(request_id, "UALICE")
    assert extension.state is State.PENDING and extension.change.extends == request_id
    assert extension.reason == f"extends {request_id}: on-call"
    assert extension.change.duration == HOUR
    with shifted(HOUR / 2):  # approved half an hour later
        applied = engine.approve(extension.id, "UAPPROVER1").request
    new_end = float(applied.result["ends"])
    assert new_end == pytest.approx(ends + HOUR / 2, abs=30)
    assert applied.result["granted"] == ["carol (view)"]  # the first share's grant, carried
    old = revoker.store.get(request_id)
    assert old is not None and old.state == "extended"
    revoker.sweep(now=ends + 1)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}  # still there
    revoker.sweep(now=new_end + 1)
    assert sharing(emulator, entry) == {"bobm": False}


def test_a_grantees_extension_stays_the_owners_share_to_end(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, services: Services, link
) -> None:
    """carol, granted edit by alices through a ticket, asks to extend and then logs out: the
    extension is still alices's share (her key, her ticket, its source), and its end takes
    carol's access away with alices's key."""
    link("UCAROL", "carol")
    ticket = {"key": "OPS-7", "url": "https://tickets.example.com/OPS-7"}
    change = Change(
        Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol", can_edit=True),), duration=HOUR
    )
    original = engine.submit(
        change, requester="UALICE", reason="on-call", ticket=ticket, source="webhook", notify=["UCAROL"]
    )
    engine.approve(original.id, "UAPPROVER1")
    extension = revoker.extend(original.id, "UCAROL")
    assert (extension.requester, extension.source) == ("UALICE", "webhook")
    assert extension.ticket == ticket
    applied = engine.approve(extension.id, "UAPPROVER1").request
    assert applied.state is State.APPLIED
    services.vault.unlink("UCAROL")  # /mysafe logout
    revoker.sweep(now=float(applied.result["ends"]) + 1)
    ended = revoker.store.get(extension.id)
    assert ended is not None and (ended.owner, ended.state) == ("UALICE", "done")
    assert sharing(emulator, entry) == {"bobm": False}


def test_an_extension_approved_while_the_old_end_is_claimed_keeps_the_access(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    """A worker claimed the old end and has not written yet when the extension is applied:
    the extension takes the end over, and the worker, at its last check, writes nothing."""
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    extension = revoker.extend(request_id, "UALICE")
    until = ends + 1 + engine.settings.apply_lease
    status, _ = revoker.store.claim(request_id, now=ends + 1, lease="w1", lease_until=until)
    assert status == "claimed"
    applied = engine.approve(extension.id, "UAPPROVER1").request
    assert applied.result["granted"] == ["carol (view)"]  # the claimed share's grant, carried
    written = puts(emulator)
    revoker.run(request_id, "w1", now=ends + 1, until=until)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}
    assert puts(emulator) == written and told.outcomes == []
    revoker.sweep(now=float(applied.result["ends"]) + 1)
    assert sharing(emulator, entry) == {"bobm": False}


@pytest.mark.slow
def test_an_extension_racing_the_old_end_never_ends_the_access_early(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    """The old end's sweep and the extension's approval at the same moment, again and again:
    whichever writes first, carol has access after both, until the extension's own end."""
    for _ in range(12):
        request_id, ends = granted_for(engine, entry, UserShare("carol"))
        extension = revoker.extend(request_id, "UALICE")
        barrier = threading.Barrier(2)

        def sweep() -> None:
            barrier.wait()
            revoker.sweep(now=ends + 1)

        def approve(extension_id: str = extension.id) -> float:
            barrier.wait()
            applied = engine.approve(extension_id, "UAPPROVER1").request
            return float(applied.result["ends"])

        # Approved half an hour on (both threads' clock): the new end is well past `ends + 1`,
        # so the sweep can only ever run the old end.
        with shifted(HOUR / 2), ThreadPoolExecutor(max_workers=2) as pool:
            swept, approved = pool.submit(sweep), pool.submit(approve)
            swept.result()
            new_end = approved.result()
        assert new_end > ends + HOUR / 4
        assert sharing(emulator, entry) == {"bobm": False, "carol": False}
        revoker.sweep(now=new_end + 1)
        assert sharing(emulator, entry) == {"bobm": False}


def test_an_extension_applied_after_the_old_end_wrote_gives_the_access_back(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, told: Told
) -> None:
    """The old end is past its last check (marked writing) and took carol away: the extension
    reads after it, gives carol back and ends her access itself; the old end is reported."""
    request_id, ends = granted_for(engine, entry, UserShare("carol"))
    extension = revoker.extend(request_id, "UALICE")
    until = ends + 1 + engine.settings.apply_lease
    revoker.store.claim(request_id, now=ends + 1, lease="w1", lease_until=until)
    assert revoker.store.start_write(request_id, "w1", now=timestamp())
    emulator.update_entry("password", entry, users_allowed=[{"username": "bobm"}])  # it wrote
    applied = engine.approve(extension.id, "UAPPROVER1").request
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}
    old = revoker.store.get(request_id)
    assert old is not None and old.state == "revoking"  # not taken over: it reports its end
    assert revoker.store.finish(request_id, lease="w1", outcome="done")
    revoker.sweep(now=float(applied.result["ends"]) + 1)
    assert sharing(emulator, entry) == {"bobm": False}


def test_a_record_that_cannot_be_read_does_not_stop_the_others(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, redis
) -> None:
    broken, ends = granted_for(engine, entry, UserShare("carol"))
    redis.hset(revoker.store.record_key(broken), "kind", "not-a-kind")
    fine, _ = granted_for(engine, entry, UserShare("dave"))
    revoker.sweep(now=ends + HOUR)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}  # dave's end ran
    assert revoker.store.due(ends + HOUR, limit=10) == []  # the broken one: looked at later
    assert broken in revoker.store.scheduled_ids() and fine not in revoker.store.scheduled_ids()
