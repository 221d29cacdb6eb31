"""The workers' pass over the open requests, made once for the deployment, a slice at a time.

The pass gives every open request its Slack message if Slack was down when it was made, brings
up to date the messages behind their request, and indexes for take-over any apply whose lease
passed without the lease index knowing. It reads each open request's hash and bookkeeping: with
110,000 open (a long benchmark leaves that many) one whole pass cost seconds of CPU, in a burst
every period, in each worker (`benchmarks/README.md`, issue #33). So:

- a `Turn` each `TURN` seconds, taken by one worker of the deployment;
- each turn reads the next `SLICE` open requests, from a position kept in Redis (`Rounds`), so
  a turn costs the same with 500 open requests or 110,000;
- a round (every open request read once) starts no sooner than `ROUND_EVERY` after the last one
  started, and lasts as many turns as it has slices.

So every request open for the whole of a round is read in it: each `ROUND_EVERY` seconds up to
`SLICE * ROUND_EVERY / TURN` open requests, and in a turn per `SLICE` beyond that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis

from app.approvals.store import ApprovalStore
from app.foundations.clock import timestamp
from app.foundations.storage import RedisClient
from app.ops.runtime import Runtime

#: Seconds between the deployment's turns at the pass (whichever worker takes each).
TURN = 1.0
#: Open requests read in a turn.
SLICE = 500
#: Seconds at least from the start of one round over the open requests to the next.
ROUND_EVERY = 30.0
#: Seconds Redis keeps the position of a deployment whose workers all stopped.
POSITION_TTL = 86400


class Turn:
    """A pass the deployment needs once per period, not once per worker: the first worker to
    ask in each period gets it (one `SET NX` that expires with the period)."""

    def __init__(self, client: RedisClient, key: str, every: float, *, holder: str) -> None:
        self.redis = client
        self.key = key
        self.every_ms = int(every * 1000)
        self.holder = holder  # who took it, for whoever reads the key

    def mine(self) -> bool:
        """Whether this worker makes the pass now; with Redis down, no one does."""
        try:
            return bool(self.redis.set(self.key, self.holder, nx=True, px=self.every_ms))
        except redis.RedisError:
            return False


@dataclass(frozen=True)
class Slice:
    """A turn's share of a round: the ids to read, and what `Rounds` keeps once they are."""

    ids: list[str]
    began: float
    #: The position past it, as `ApprovalStore.open_page` takes it; None: the round's last.
    last: tuple[float, str] | None


class Rounds:
    """Where the deployment is in its round over the open requests, in one Redis hash:
    `began` (when the round started), and the position (`created`, `id`) of the last request
    read, empty between rounds. Whichever worker takes the next turn goes on from there.

    The position is a (creation time, id) pair, never a rank: requests closing ahead of it
    move nothing. It moves past a slice only once the slice is read (`passed`), so a worker
    dying in its turn leaves the slice to the next. Two workers overlapping (a turn that
    outlasts its period) read one slice twice, which is harmless: every step of the pass
    checks the request's own state, under its lock, before it acts."""

    def __init__(
        self,
        client: RedisClient,
        key: str,
        store: ApprovalStore,
        *,
        size: int = SLICE,
        every: float = ROUND_EVERY,
    ) -> None:
        self.redis = client
        self.key = key
        self.store = store
        self.size = size
        self.every = every

    def next_slice(self, now: float) -> Slice | None:
        """The open requests to read in this turn; None between rounds."""
        at = self.redis.hgetall(self.key)
        began = float(at.get("began") or -math.inf)
        if at.get("id"):
            after: tuple[float, str] | None = float(at["created"]), at["id"]
        elif now - began >= self.every:
            after, began = None, now
        else:
            return None
        page = self.store.open_page(after, self.size)
        last = (page[-1][1], page[-1][0]) if len(page) == self.size else None
        return Slice([request_id for request_id, _ in page], began, last)

    def passed(self, done: Slice) -> None:
        """Move the position past a slice read (a short one ends the round), in one HSET."""
        created, request_id = ("", "") if done.last is None else (repr(done.last[0]), done.last[1])
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key, mapping={"began": repr(done.began), "id": request_id, "created": created})
        pipe.expire(self.key, POSITION_TTL)
        pipe.execute()


def take_turn(runtime: Runtime, rounds: Rounds) -> int:
    """This worker's turn at the pass: the next slice of the open requests."""
    try:
        turn = rounds.next_slice(timestamp())
        if turn is None:
            return 0
        done = repost(runtime, turn.ids) if turn.ids else 0
        rounds.passed(turn)
        return done
    except redis.RedisError:
        return 0


def repost(runtime: Runtime, ids: list[str] | None = None) -> int:
    """Give every open request (of `ids`, when given) its Slack message, if Slack was down
    when it was made, bring up to date those behind, and index for take-over any apply whose
    lease passed without the lease index knowing."""
    engine, notifier = runtime.engine, runtime.notifier
    try:
        scan = engine.rescue(ids=ids)
        if notifier is None:
            return 0
        settled = timestamp() - 30  # younger ones may still be being posted by their maker
        unposted = [engine.store.get(r) for created, r in sorted(scan.unposted) if created < settled]
        return notifier.post_missing(
            [r for r in unposted if r is not None], older_than=settled
        ) + notifier.repair(scan.behind)
    except redis.RedisError:
        return 0
