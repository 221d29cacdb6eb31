"""The deployment's pass over the open requests, a slice per turn, as a property on one Redis
and on a cluster: whatever requests open (some in the same instant, some dated before the
position) and close meanwhile, and wherever a worker dies in its turn, every request open for
the whole of a round is read in that round, no request twice in one round, and a round lasts
no more turns than its slices.

The model: the open requests (id -> creation time), and each round's turns and what they read.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.approvals.store import ApprovalStore
from app.ops.reposting import Rounds

pytestmark = pytest.mark.server_and_cluster

SIZE = 3
EVERY = 30.0
T0 = 1_765_000_000.0


@dataclass
class Round:
    began: float
    #: The requests open when it began and not closed since: all must be read in it.
    owed: set[str]
    #: Every request open at some time in the round: no more than these are read.
    seen: set[str]
    #: What it read, as (creation time, id), in order.
    read: list[tuple[float, str]] = field(default_factory=list)
    turns: int = 0


class OpenRounds(RuleBasedStateMachine):
    def __init__(self, redis, prefix: str) -> None:
        super().__init__()
        self.store = ApprovalStore(redis, prefix=prefix)
        self.rounds = Rounds(redis, f"{prefix}:worker:repost:at", self.store, size=SIZE, every=EVERY)
        self.open: dict[str, float] = {}
        self.ids = (f"R-{n:05d}" for n in itertools.count())
        self.now = T0
        self.current: Round | None = None
        self.last_began = -math.inf

    # --- what happens to the requests meanwhile -------------------------------------------

    @rule(when=st.sampled_from(["now", "same", "before"]), count=st.integers(1, 4))
    def requests_open(self, when: str, count: int) -> None:
        """New requests: made now, in the same instant as one already open (equal scores in
        the index), or dated before the position (a slow maker's clock)."""
        for _ in range(count):
            created = self.now
            if when == "same" and self.open:
                created = sorted(self.open.values())[len(self.open) // 2]
            elif when == "before":
                created = self.now - 100
            request_id = next(self.ids)
            self.store.redis.zadd(self.store.index("open"), {request_id: created})
            self.open[request_id] = created
            if self.current is not None:
                self.current.seen.add(request_id)

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def a_request_closes(self, data: st.DataObject) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.open)))
        self.store.redis.zrem(self.store.index("open"), request_id)
        del self.open[request_id]
        if self.current is not None:
            self.current.owed.discard(request_id)

    # --- the workers' turns ----------------------------------------------------------------

    @rule(wait=st.sampled_from([0.0, 1.0, 5.0, EVERY]), dies=st.booleans())
    def a_turn(self, wait: float, dies: bool) -> None:
        """A worker takes the turn; if it `dies`, before the slice is passed."""
        self.now += wait
        turn = self.rounds.next_slice(self.now)
        if turn is None:
            assert self.current is None, "a round went quiet before its end"
            assert self.now - self.last_began < EVERY, "a round due did not start"
            return
        assert len(turn.ids) <= SIZE
        assert set(turn.ids) <= set(self.open), "read a request that is not open"
        starts = self.current is None
        if starts:
            assert self.now - self.last_began >= EVERY, "a round started early"
        if dies:
            return  # nothing kept: the next turn reads this slice (or starts this round) again
        if self.current is None:
            self.current = Round(self.now, set(self.open), set(self.open))
            self.last_began = self.now
        current = self.current
        assert turn.began == current.began
        self.rounds.passed(turn)
        current.turns += 1
        current.read += [(self.open[i], i) for i in turn.ids]
        if turn.last is None:
            self.round_ends(current)

    def round_ends(self, done: Round) -> None:
        read = {request_id for _, request_id in done.read}
        assert done.owed <= read, f"never reached: {sorted(done.owed - read)}"
        assert all(a < b for a, b in itertools.pairwise(done.read)), "out of order, or twice"
        assert done.turns <= len(done.seen) // SIZE + 1
        self.current = None


def test_every_request_open_through_a_round_is_read_in_it_once(redis, key_prefix: str) -> None:
    examples = itertools.count()
    run_state_machine_as_test(
        lambda: OpenRounds(redis, f"{key_prefix}:{next(examples)}"),
        settings=settings(max_examples=60, stateful_step_count=40, deadline=None, database=None),
    )
