"""The promise of time-bound shares as a property, through the engine and the revoker against the
emulator over HTTP, on one Redis and on a 3-node cluster: whatever the order of shares (for good
and for a period, view and edit, overlapping, to the same people), unshares, extensions and
ends, and wherever an apply's or a revoke's process dies (then taken over by another worker),
each person's access is what they have outside the bot's time-bound shares plus the highest
right among the shares still running.

A process dying is a real SIGKILL: the apply or the end runs in a forked process that kills
itself at the named step, so nothing after it runs or is recorded, and none of its `finally`
blocks or `__exit__`s runs either: its entry lock and its claim stay in Redis until their
lease runs out (a short one here, `LEASE`). Another worker's sweep then takes the work over
as in production: it waits for the lock, or hands the work to its next pass, until it has it.
What is kept as a timestamp (a lease, a retry's time) is reached by moving this process's
clock to it; the lock's TTL, which Redis keeps, is waited out for real. `WithoutDeaths`, the
same steps with nobody dying, is cheap enough for every run.
"""

from __future__ import annotations

import itertools
import os
import signal
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.approvals.access import AccessBook
from app.approvals.change_diff import EDIT, NO_ACCESS, VIEW
from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.grants import RANK, highest
from app.approvals.machine import State
from app.approvals.revoker import Revoker
from app.approvals.revokes import RevokeStore
from app.foundations import errors
from app.foundations.clock import shifted, timestamp
from app.foundations.settings import Settings
from app.mysafe.client import UserClient
from app.mysafe.models import Kind, UserShare
from app.mysafe.transport import Transport
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.waiting import eventually

#: A new engine, revoker and the MySafe transport they share, for each example.
World = Callable[[int | None], tuple[Engine, Revoker, Transport]]

PEOPLE = ("carol", "dave")
#: An end is over once it is done, or handed to an extension.
ENDS = ("done", "extended")
HOUR = 3600
#: Where a revoke's process may die before its write landed: before its last check, between
#: that check and keeping its decision, before its PUT; and after: once its PUT landed, or
#: before recording it finished. Two rules, so that ends die about as often as applies.
KILLS_BEFORE = ("before_check", "after_check", "before_put")
KILLS_AFTER = ("after_put", "before_finish")
#: Where an apply's process may die: before keeping its decided write, before its PUT, after
#: its PUT landed, before scheduling a time-bound share's end, between scheduling an
#: extension's end and taking the extended share's end over.
APPLY_KILLS = ("before_decided", "before_put", "after_put", "before_schedule", "before_supersede")


pytestmark = pytest.mark.server_and_cluster


#: The lease of every apply and end in these examples (and so the TTL of the entry lock each
#: holds in Redis, a second less): short, so the lock a killed process leaves runs out soon.
LEASE = 4
#: The most processes that die in one example.
DEATHS = 2
#: The longest a take-over may take, in real seconds: a dead process's lock runs out in at
#: most `LEASE`, and each pass of the worker's sweep waits at most half of that for it.
TAKE_OVER = 30.0
#: Deaths per step in the last run (`-s` prints them at its end).
KILLS_SEEN: Counter[str] = Counter()
#: Where each step is: the method that reaches it, and whether the step comes after its call.
STEPS: dict[str, tuple[type, str, bool]] = {
    "before_check": (RevokeStore, "start_write", False),
    "after_check": (RevokeStore, "start_write", True),
    "before_put": (UserClient, "update", False),
    "after_put": (UserClient, "update", True),
    "before_finish": (RevokeStore, "finish", False),
    "before_decided": (AccessBook, "save", False),
    "before_schedule": (RevokeStore, "schedule", False),
    "before_supersede": (RevokeStore, "supersede", False),
}


def _killed_at(step: str, told: int) -> Callable[..., Any]:
    """The method of `step`, which says `step` on `told` and SIGKILLs its own process there."""
    target, name, after = STEPS[step]
    real = getattr(target, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        if after:
            real(*args, **kwargs)
        os.write(told, step.encode())
        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(99)  # never reached: SIGKILL cannot be caught or blocked

    return call


def _child(step: str, work: Callable[[], object], told: int) -> int:
    """The forked process's life: `work` with `step` made deadly; 0 if it never got there."""
    target, name, _ = STEPS[step]
    setattr(target, name, _killed_at(step, told))  # this process's copy of the class only
    try:
        work()
    except BaseException:  # noqa: BLE001 - said to the parent, which fails the test with it
        os.write(told, b"error: " + traceback.format_exc().encode())
        return 1
    return 0


def dies_at(step: str, work: Callable[[], object], transport: Transport) -> bool:
    """Run `work` in a forked process that is SIGKILLed at `step`; whether it was (an end with
    nothing to write never reaches the write's steps). Nothing of the dead process's
    `finally` or `__exit__` runs: its entry lock and claims stay in Redis until their lease
    runs out. It reaches MySafe over connections of its own: this process closes its pooled
    ones first (a shared socket would hand one process the other's answers), and redis-py's
    pools start anew in a forked process."""
    transport.close()
    read, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it leaves only by SIGKILL or `os._exit`, past every `finally`
        os.close(read)
        os._exit(_child(step, work, told))
    os.close(told)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert not said.startswith("error"), said
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL and said == step, (status, said)
        KILLS_SEEN[step] += 1
        return True
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and not said, (status, said)
    return False


class TimeBoundShares(RuleBasedStateMachine):
    """One entry of alices's, shared read-only with bobm; carol and dave get and lose access.

    The model: each person's `base` (what they have outside time-bound shares) and the rights
    each running time-bound share gives. Ends whose process died are `dying` until taken
    over: meanwhile a person may have either what they had or what the end leaves."""

    asked = Bundle("asked")

    #: Whether processes die in these examples (the fast variant's do not), and the lease
    #: their applies and ends hold (None: the settings' own, nobody waits for it).
    kills = True
    lease: int | None = LEASE

    def may_die(self) -> bool:
        """Each death costs its lock's TTL in real time: a few per example keep the run short."""
        return self.kills and self.deaths < DEATHS

    def __init__(self, world: World, emulator: Emulator) -> None:
        super().__init__()
        self.engine, self.revoker, self.transport = world(self.lease)
        self.emulator = emulator
        self.entry = emulator.add_password(
            "alices",
            name="Prod DB",
            username="u",
            password="pw-1",
            users_allowed=[{"username": "bobm"}],
        )
        self.base = dict.fromkeys(PEOPLE, NO_ACCESS)
        self.running: dict[str, dict[str, str]] = {}
        self.dying: dict[str, dict[str, str]] = {}
        self.changes: dict[str, Change] = {}
        self.deaths = 0

    # --- asking and approving ----------------------------------------------------------------

    @rule(
        target=asked,
        who=st.sampled_from([("carol",), ("dave",), ("carol", "dave")]),
        edit=st.booleans(),
        hours=st.sampled_from([0, 1, 10]),
    )
    def ask_share(self, who: tuple[str, ...], edit: bool, hours: int) -> Any:
        change = Change(
            Verb.SHARE,
            Kind.PASSWORD,
            self.entry,
            add_users=tuple(UserShare(name, edit) for name in who),
            duration=hours * HOUR,
        )
        return self._ask(change)

    @precondition(lambda self: any(self.expected(name) for name in PEOPLE))
    @rule(target=asked, data=st.data())
    def ask_unshare(self, data: st.DataObject) -> Any:
        who = data.draw(st.sampled_from([name for name in PEOPLE if self.expected(name)]))
        return self._ask(Change(Verb.UNSHARE, Kind.PASSWORD, self.entry, remove_users=(who,)))

    @precondition(lambda self: self.running)
    @rule(target=asked, data=st.data())
    def ask_extension(self, data: st.DataObject) -> Any:
        share = data.draw(st.sampled_from(list(self.running)))
        request = self.revoker.extend(share, "UALICE")
        self.changes[request.id] = request.change
        return request.id

    def _ask(self, change: Change) -> Any:
        try:
            request = self.engine.submit(change, requester="UALICE", reason="property")
        except errors.ValidationError:  # it would change nothing now: nothing is stored
            return multiple()
        self.changes[request.id] = change
        return request.id

    @rule(request_id=consumes(asked))
    def approve(self, request_id: str) -> None:
        self.engine.approve(request_id, "UAPPROVER1")
        self._applied(request_id)

    @precondition(lambda self: self.may_die())
    @rule(request_id=consumes(asked), step=st.sampled_from(APPLY_KILLS))
    def approve_then_die(self, request_id: str, step: str) -> None:
        """The apply's process is SIGKILLed at `step`; the worker takes the apply over."""
        died = dies_at(step, partial(self.engine.approve, request_id, "UAPPROVER1"), self.transport)
        self.deaths += died
        self._applied(request_id)

    def _applied(self, request_id: str) -> None:
        """The apply finished, by the worker's sweep if it is still `applying` (its process
        died, or it waited for the entry lock a dead one left and was queued)."""
        eventually(self._applied_by_the_worker(request_id), TAKE_OVER, f"{request_id} applied")
        change = self.changes.pop(request_id)
        rights = {u.username: EDIT if u.can_edit else VIEW for u in change.add_users}
        if change.verb is Verb.UNSHARE:
            for name in change.remove_users:
                self.base[name] = NO_ACCESS
                for shares in (*self.running.values(), *self.dying.values()):
                    shares.pop(name, None)
        elif change.time_bound:
            self.running.pop(change.extends, None)
            self.running[request_id] = rights
        else:
            self.base.update({n: highest(self.base[n], r) for n, r in rights.items()})

    # --- ends ----------------------------------------------------------------------------------

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        self.end_now(data.draw(st.sampled_from(list(self.running))))

    @precondition(lambda self: self.running and self.may_die())
    @rule(data=st.data(), step=st.sampled_from(KILLS_BEFORE))
    def end_then_die(self, data: st.DataObject, step: str) -> None:
        """The end's process is SIGKILLed at `step`, before its write landed."""
        self._end_dying(data.draw(st.sampled_from(list(self.running))), step)

    @precondition(lambda self: self.running and self.may_die())
    @rule(data=st.data(), step=st.sampled_from(KILLS_AFTER))
    def end_landed_then_die(self, data: st.DataObject, step: str) -> None:
        """The end's process is SIGKILLed at `step`, its write landed and not recorded."""
        self._end_dying(data.draw(st.sampled_from(list(self.running))), step)

    def _end_dying(self, share: str, step: str) -> None:
        """The end stays `dying` until taken over if its process died; else it is finished."""
        died = dies_at(step, partial(self.revoker.revoke_now, share, "UALICE"), self.transport)
        rights = self.running.pop(share)
        self.deaths += died
        if died:
            self.dying[share] = rights
        else:  # it ended, or waits for the entry lock a dead one left
            eventually(self._ended_by_the_worker([share]), TAKE_OVER, f"{share} ended")

    @precondition(lambda self: self.dying)
    @rule()
    def take_over(self) -> None:
        """Another worker's sweep finishes each dead end once its claim and lock ran out."""
        eventually(self._ended_by_the_worker(list(self.dying)), TAKE_OVER, "the dead ends taken over")
        self.dying.clear()

    # --- the worker ----------------------------------------------------------------------------

    def _applied_by_the_worker(self, request_id: str) -> Callable[[], bool]:
        """Whether the apply is recorded; if not, the worker's next pass once its lease is out
        (in this process's clock): the sweep takes it over, and waits for the entry lock,
        or queues it again when a dead process's lock (kept in Redis's time) outlasts that."""

        def applied() -> bool:
            request = self.engine.store.get(request_id)
            assert request is not None
            if request.state is State.APPLIED:
                return True
            assert request.state is State.APPLYING, (request.state, request.error)
            with shifted(max(request.lease_until - timestamp(), 0.0) + 1):
                self.engine.sweep()
            return False

        return applied

    def _ended_by_the_worker(self, shares: list[str]) -> Callable[[], bool]:
        """Whether the ends are done; if not, the revoker's next pass once they are due again
        (a dead claim ran out, or a retry after the entry lock was busy is due)."""
        store = self.revoker.store

        def ended() -> bool:
            left = [s for s in shares if (r := store.get(s)) is None or r.state not in ENDS]
            if not left:
                return True
            due = max(store.redis.zscore(store.index, s) or 0.0 for s in left)
            with shifted(max(due - timestamp(), 0.0) + 1):
                self.revoker.sweep()
            return False

        return ended

    # --- the promise ---------------------------------------------------------------------------

    def expected(self, name: str) -> str:
        return highest(self.base[name], *(s.get(name, NO_ACCESS) for s in self.running.values()))

    @invariant()
    def access_is_the_base_and_the_highest_running_share(self) -> None:
        found = self.emulator.get_password(self.entry)
        assert found is not None
        shown = {u["username"]: EDIT if u["can_edit"] else VIEW for u in found["users_allowed"]}
        assert shown.get("bobm") == VIEW
        for name in PEOPLE:
            low = self.expected(name)
            high = highest(low, *(s.get(name, NO_ACCESS) for s in self.dying.values()))
            assert RANK[low] <= RANK[shown.get(name, NO_ACCESS)] <= RANK[high], (name, shown)

    def teardown(self) -> None:
        """Every share ended: each person is left with exactly their base."""
        if self.dying:
            self.take_over()
        for share in list(self.running):
            self.end_now(share)
        self.access_is_the_base_and_the_highest_running_share()

    def end_now(self, share: str) -> None:
        assert self.revoker.revoke_now(share, "UALICE") == "ok"
        eventually(self._ended_by_the_worker([share]), TAKE_OVER, f"{share} ended")
        self.running.pop(share)


class WithoutDeaths(TimeBoundShares):
    """The same promise with no process dying: cheap enough for every run."""

    kills = False
    lease = None


@pytest.fixture
def world(settings: Settings, services: Services, emulator: Emulator, key_prefix: str) -> World:
    """A new engine and revoker for each example, holding leases of the length asked (or the
    settings' own), under keys of its own (below the test's prefix, so the test's clean-up
    takes them): an example never meets another's revokes, and one replayed while shrinking
    runs as it did the first time."""
    for name in ("bobm", *PEOPLE):
        emulator.add_user(name)
    made = itertools.count()

    def build(lease: int | None) -> tuple[Engine, Revoker, Transport]:
        own = replace(
            settings,
            key_prefix=f"{key_prefix}:{next(made)}",
            apply_lease=lease or settings.apply_lease,
        )
        built = Services.build(own, redis=services.redis, transport=services.mysafe.transport)
        client_id, client_secret = emulator.add_user("alices")
        built.vault.link(
            "UALICE", client_id=client_id, client_secret=client_secret, mysafe_username="alices"
        )
        engine = Engine(built)
        return engine, engine.new_revoker(jitter=lambda: 1.0), services.mysafe.transport

    return build


@pytest.mark.slow  # processes forked and SIGKILLed, each death's lock waited out for real
def test_access_is_the_base_and_the_highest_running_share_whatever_dies(
    world: World, emulator: Emulator, request: pytest.FixtureRequest
) -> None:
    cluster = request.node.callspec.params["redis_url"] == "cluster"
    KILLS_SEEN.clear()
    run_state_machine_as_test(
        lambda: TimeBoundShares(world, emulator),
        settings=settings(
            max_examples=12 if cluster else 15,
            stateful_step_count=10,
            deadline=None,
            database=None,
        ),
    )
    print("deaths per step:", dict(sorted(KILLS_SEEN.items())))


def test_access_is_the_base_and_the_highest_running_share_whatever_the_order(
    world: World, emulator: Emulator
) -> None:
    run_state_machine_as_test(
        lambda: WithoutDeaths(world, emulator),
        settings=settings(max_examples=8, stateful_step_count=10, deadline=None, database=None),
    )
