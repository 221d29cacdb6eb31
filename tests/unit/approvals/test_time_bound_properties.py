"""The promise of time-bound shares as a property, through the engine and the revoker against the
emulator over HTTP, on one Redis and on a 3-node cluster: whatever the order of shares (for good
and for a period, view and edit, overlapping, to the same people), unshares, extensions and
ends, and wherever an apply's or a revoke's process dies (then taken over by another worker),
each person's access is what they have outside the bot's time-bound shares plus the highest
right among the shares still running.

A process dying is `Killed` raised at that step: nothing after it runs or is recorded, and the
work is taken over once its lease ran out, as the worker's sweep does after a SIGKILL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any
from unittest import mock

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
from app.sandbox.emulator import Emulator
from app.services import Services

PEOPLE = ("carol", "dave")
HOUR = 3600
#: Where a revoke's process may die: before its last check, between that check and keeping
#: its decision, before its PUT, after its PUT landed, after recording it, before finishing.
KILLS = ("before_check", "after_check", "before_put", "after_put", "before_finish")
#: Where an apply's process may die: before keeping its decided write, before its PUT, after
#: its PUT landed, before scheduling a time-bound share's end, between scheduling an
#: extension's end and taking the extended share's end over.
APPLY_KILLS = ("before_decided", "before_put", "after_put", "before_schedule", "before_supersede")


@pytest.fixture(
    params=[
        "server",
        pytest.param("cluster", marks=[pytest.mark.cluster, pytest.mark.slow]),
    ]
)
def redis_url(request: pytest.FixtureRequest) -> str:
    name = "redis_cluster_url" if request.param == "cluster" else "redis_server_url"
    return request.getfixturevalue(name)


class Killed(BaseException):
    """The process died here: nothing after this point runs, nothing is recorded."""


def _dies(real: Callable[..., Any], *, after: bool, died: list[str], step: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if after:
            real(*args, **kwargs)
        died.append(step)
        raise Killed(step)

    return call


@contextmanager
def dying(step: str) -> Iterator[list[str]]:
    """The next revoke's (or apply's) process dies at `step`; yields a list that names the
    step if it did (an end with nothing to write never reaches the write's steps)."""
    died: list[str] = []
    target, name, after = {
        "before_check": (RevokeStore, "start_write", False),
        "after_check": (RevokeStore, "start_write", True),
        "before_put": (UserClient, "update", False),
        "after_put": (UserClient, "update", True),
        "before_finish": (RevokeStore, "finish", False),
        "before_decided": (AccessBook, "save", False),
        "before_schedule": (RevokeStore, "schedule", False),
        "before_supersede": (RevokeStore, "supersede", False),
    }[step]
    real = getattr(target, name)
    with (
        mock.patch.object(target, name, _dies(real, after=after, died=died, step=step)),
        suppress(Killed),
    ):
        yield died


class TimeBoundShares(RuleBasedStateMachine):
    """One entry of alices's, shared read-only with bobm; carol and dave get and lose access.

    The model: each person's `base` (what they have outside time-bound shares) and the rights
    each running time-bound share gives. Ends whose process died are `dying` until taken
    over: meanwhile a person may have either what they had or what the end leaves."""

    asked = Bundle("asked")

    def __init__(self, world: Callable[[], tuple[Engine, Revoker]], emulator: Emulator) -> None:
        super().__init__()
        self.engine, self.revoker = world()
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
        applied = self.engine.approve(request_id, "UAPPROVER1").request
        assert applied.state is State.APPLIED, applied.error
        self._applied(request_id)

    @rule(request_id=consumes(asked), step=st.sampled_from(APPLY_KILLS))
    def approve_then_die(self, request_id: str, step: str) -> None:
        """The apply's process dies at `step`; the worker takes the apply over."""
        with dying(step) as died:
            self.engine.approve(request_id, "UAPPROVER1")
        if died:
            stuck = self.engine.store.get(request_id)
            assert stuck is not None and stuck.state is State.APPLYING
            with shifted(stuck.lease_until - timestamp() + 1):
                self.engine.sweep()
        request = self.engine.store.get(request_id)
        assert request is not None and request.state is State.APPLIED, request
        self._applied(request_id)

    def _applied(self, request_id: str) -> None:
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
        share = data.draw(st.sampled_from(list(self.running)))
        assert self.revoker.revoke_now(share, "UALICE") == "ok"
        self.running.pop(share)

    @precondition(lambda self: self.running)
    @rule(data=st.data(), step=st.sampled_from(KILLS))
    def end_then_die(self, data: st.DataObject, step: str) -> None:
        share = data.draw(st.sampled_from(list(self.running)))
        with dying(step) as died:
            self.revoker.revoke_now(share, "UALICE")
        rights = self.running.pop(share)
        if died:
            self.dying[share] = rights

    @precondition(lambda self: self.dying)
    @rule()
    def take_over(self) -> None:
        """Another worker's sweep, once the dead ones' claims ran out, finishes each end."""
        later = timestamp() + 2 * self.engine.settings.apply_lease + 10
        self.revoker.sweep(now=later)
        for share in self.dying:
            revoke = self.revoker.store.get(share)
            assert revoke is not None and revoke.state in ("done", "extended"), revoke
        self.dying.clear()

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
        self.running.pop(share)


@pytest.fixture
def world(
    settings: Settings, services: Services, emulator: Emulator, key_prefix: str
) -> Callable[[], tuple[Engine, Revoker]]:
    """A new engine and revoker for each example, under keys of its own (below the test's
    prefix, so the test's clean-up takes them): an example never meets another's revokes,
    and one replayed while shrinking runs as it did the first time."""
    for name in ("bobm", *PEOPLE):
        emulator.add_user(name)
    made = itertools.count()

    def build() -> tuple[Engine, Revoker]:
        own = replace(settings, key_prefix=f"{key_prefix}:{next(made)}")
        built = Services.build(own, redis=services.redis, session=services.mysafe.session)
        client_id, client_secret = emulator.add_user("alices")
        built.vault.link(
            "UALICE", client_id=client_id, client_secret=client_secret, mysafe_username="alices"
        )
        engine = Engine(built)
        return engine, engine.new_revoker(jitter=lambda: 1.0)

    return build


@pytest.mark.slow  # a big hypothesis run: many stateful examples, each over HTTP
def test_access_is_the_base_and_the_highest_running_share_whatever_happens(
    world: Callable[[], tuple[Engine, Revoker]], emulator: Emulator, request: pytest.FixtureRequest
) -> None:
    cluster = request.node.callspec.params["redis_url"] == "cluster"
    run_state_machine_as_test(
        lambda: TimeBoundShares(world, emulator),
        settings=settings(
            max_examples=30 if cluster else 50,
            stateful_step_count=15,
            deadline=None,
            database=None,
        ),
    )
