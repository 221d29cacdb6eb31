"""A person's access while time-bound shares run, through the engine and the revoker against the
emulator over HTTP (one Redis and a 3-node cluster): what they had outside the bot's time-bound
shares plus the highest right among those still running. The end of a share removes only what
no running share or later permanent grant still gives, whatever the order, overlap or kills.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.approvals.revoker import Revoker
from app.mysafe.client import UserClient
from app.mysafe.models import Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.unit.approvals.test_revokes import HOUR, PUT_PASSWORD, sharing

pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services)


@pytest.fixture
def revoker(engine: Engine) -> Revoker:
    return engine.new_revoker(jitter=lambda: 1.0)


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    """A password alices (UALICE) owns, shared read-only with bobm; carol has no access."""
    link("UALICE", "alices")
    for name in ("bobm", "carol"):
        emulator.add_user(name)
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-password-1",
        users_allowed=[{"username": "bobm"}],
    )


class Killed(BaseException):
    """The process died here (SIGKILL): nothing after this point runs, nothing is recorded."""


def asked(
    engine: Engine, entry: int, who: str, *, edit: bool = False, hours: float = 0, rotate: bool = False
) -> ChangeRequest:
    """alices asks to share `entry` with `who` (for good when `hours` is 0)."""
    change = Change(
        Verb.SHARE,
        Kind.PASSWORD,
        entry,
        add_users=(UserShare(who, edit),),
        duration=int(hours * HOUR),
        rotate_after=rotate,
    )
    return engine.submit(change, requester="UALICE", reason="on-call")


def approved(engine: Engine, request: ChangeRequest) -> ChangeRequest:
    applied = engine.approve(request.id, "UAPPROVER1").request
    assert applied.state is State.APPLIED, applied.error
    return applied


def ends(request: ChangeRequest) -> float:
    return float(request.result["ends"])


def password_writes(emulator: Emulator) -> int:
    return sum(1 for put in emulator.calls_to("PUT", PUT_PASSWORD) if "password" in put.json)


@contextmanager
def killed_after_the_put(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The next MySafe update lands, then its process dies before anything else is recorded."""
    real = UserClient.update

    def lands_then_dies(self: UserClient, *args: object, **kwargs: object) -> object:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        raise Killed

    monkeypatch.setattr(UserClient, "update", lands_then_dies)
    with pytest.raises(Killed):
        yield
    monkeypatch.setattr(UserClient, "update", real)


def taken_over(engine: Engine, revoker: Revoker, request_id: str) -> None:
    """Another worker, once the dead one's claim ran out, takes the revoke over and finishes it."""
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "revoking"
    assert revoker.sweep(now=revoke.ends + 2 * engine.settings.apply_lease + 10) == 1
    done = revoker.store.get(request_id)
    assert done is not None and done.state == "done", done.error if done else None


# --- a later grant is not taken by an earlier end --------------------------------------------


def test_a_permanent_share_approved_during_a_time_bound_one_outlives_its_end(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    for_an_hour = asked(engine, entry, "carol", hours=1)
    for_good = asked(engine, entry, "carol")  # asked before either was approved
    first = approved(engine, for_an_hour)
    later = approved(engine, for_good)
    revoker.sweep(now=ends(first) + 1)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}
    assert "time-bound" in later.result["message"]  # the request's own: view, now for good


def test_a_longer_share_approved_during_a_shorter_one_keeps_the_access_until_its_own_end(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    short = asked(engine, entry, "carol", hours=1)
    long = asked(engine, entry, "carol", hours=10)
    first, second = approved(engine, short), approved(engine, long)
    assert second.result["granted"] == ["carol (view)"]  # it holds carol's view until its end
    revoker.sweep(now=ends(first) + 1)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}
    revoker.sweep(now=ends(second) + 1)
    assert sharing(emulator, entry) == {"bobm": False}


@pytest.mark.parametrize("end_first", [True, False])
def test_a_permanent_approval_racing_an_earlier_shares_end_outlives_it(
    engine: Engine, revoker: Revoker, emulator: Emulator, link, end_first: bool
) -> None:
    """The outside test's race: a permanent share approved 0-120 ms before or after an
    earlier time-bound share's end starts, on the same entry for the same person. Whichever
    holds the entry first, carol keeps view for good and the end finishes."""
    link("UALICE", "alices")
    emulator.add_user("carol")
    for step in range(6):
        entry = emulator.add_password("alices", name=f"Race {step}", username="u", password="p")
        first = approved(engine, asked(engine, entry, "carol", hours=1))
        for_good = asked(engine, entry, "carol")
        start = threading.Barrier(2)
        late = step * 0.024  # 0 to 120 ms

        def approve(wait: float) -> None:
            start.wait()
            time.sleep(wait)
            approved(engine, for_good)

        def end(wait: float) -> None:
            start.wait()
            time.sleep(wait)
            revoker.sweep(now=ends(first) + 1)

        with ThreadPoolExecutor(max_workers=2) as pool:
            racing = [
                pool.submit(end, 0.0 if end_first else late),
                pool.submit(approve, late if end_first else 0.0),
            ]
            for future in racing:
                future.result(timeout=60)
        revoker.sweep(now=ends(first) + 2 * engine.settings.apply_lease + 10)  # one busy: again
        done = revoker.store.get(first.id)
        assert done is not None and done.state == "done", (step, done)
        assert sharing(emulator, entry) == {"carol": False}, step  # view, for good


# --- overlapping shares that raise the right ----------------------------------------------------


@pytest.mark.parametrize("first_to_end", ["view", "edit"])
def test_overlapping_shares_that_raise_the_right_leave_nothing_after_both_end(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, first_to_end: str
) -> None:
    view = approved(engine, asked(engine, entry, "carol", hours=1))
    edit = approved(engine, asked(engine, entry, "carol", edit=True, hours=10))
    assert sharing(emulator, entry) == {"bobm": False, "carol": True}
    if first_to_end == "view":
        revoker.sweep(now=ends(view) + 1)
        assert sharing(emulator, entry) == {"bobm": False, "carol": True}  # edit still runs
    else:
        assert revoker.revoke_now(edit.id, "UALICE") == "ok"
        assert sharing(emulator, entry) == {"bobm": False, "carol": False}  # view still runs
    revoker.sweep(now=ends(edit) + 1)
    assert sharing(emulator, entry) == {"bobm": False}


# --- a revoke taken over after a kill finishes what was decided ---------------------------------


def test_a_revoke_taken_over_after_its_write_landed_leaves_a_newer_share_alone(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = asked(engine, entry, "carol", hours=1)
    for_good = asked(engine, entry, "carol")
    first = approved(engine, shared)
    with killed_after_the_put(monkeypatch):
        revoker.sweep(now=ends(first) + 1)
    assert sharing(emulator, entry) == {"bobm": False}  # the end landed, unrecorded
    approved(engine, for_good)  # carol gets view for good meanwhile
    taken_over(engine, revoker, first.id)
    assert sharing(emulator, entry) == {"bobm": False, "carol": False}


def test_rotate_after_taken_over_after_its_write_landed_sets_one_password(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = approved(engine, asked(engine, entry, "carol", hours=1, rotate=True))
    with killed_after_the_put(monkeypatch):
        revoker.sweep(now=ends(shared) + 1)
    password = emulator.get_password(entry)["password"]  # type: ignore[index]
    assert password != "old-password-1" and password_writes(emulator) == 1
    taken_over(engine, revoker, shared.id)
    assert password_writes(emulator) == 1
    assert emulator.get_password(entry)["password"] == password  # type: ignore[index]
    assert sharing(emulator, entry) == {"bobm": False}


def test_a_share_scheduled_before_access_records_were_kept_still_ends(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator, redis
) -> None:
    """A revoke record written by the previous version has no access record behind it: its
    grant's `before` stands in for one, so the access it gave is still taken back."""
    shared = approved(engine, asked(engine, entry, "carol", edit=True, hours=1))
    redis.hdel(revoker.store.record_key(shared.id), "access")
    redis.delete(engine.access.record_key(Kind.PASSWORD, entry, ("users_allowed", "carol")))
    revoker.sweep(now=ends(shared) + 1)
    assert sharing(emulator, entry) == {"bobm": False}


def test_a_permanent_share_asked_while_a_time_bound_one_runs_is_no_refusal_and_outlives_it(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    """carol has view for an hour; asking now to give her view for good changes something
    (she keeps it at the end): it is taken, applied as kept for good, and the end leaves it."""
    for_an_hour = approved(engine, asked(engine, entry, "carol", hours=1))
    for_good = asked(engine, entry, "carol")  # asked while the hour runs: not "changes nothing"
    assert [(line.principal, line.before, line.after) for line in for_good.diff] == [
        ("carol", "", "view")
    ]
    applied = approved(engine, for_good)
    assert "kept for good" in applied.result["message"]
    assert revoker.sweep(now=ends(for_an_hour) + 1) == 1
    assert sharing(emulator, entry)["carol"] is False  # view, for good
