"""Rate limits kept in Redis, so they hold across gunicorn workers and replicas.

A fixed one-minute window per subject (a Slack user, a webhook source): INCR and EXPIRE in one
MULTI, so the count and its expiry are set together. Limit 0 means no limit. A caller that
writes in the same step as it counts (a command stored as a job: `app.jobs.queue`) takes the
`window` and turns the count it got into a `verdict` itself; one that needs a value of the
same slot with its count (an ack: the person's language) reads it in the same step
(`hit_reading`).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.foundations.clock import timestamp
from app.foundations.scripts import lua
from app.foundations.storage import OwnConnections, RedisClient, run_script

WINDOW = 60
#: Seconds a window's count is kept: past its own minute, so a late INCR never outlives it.
KEPT = WINDOW * 2


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


@dataclass(frozen=True)
class Window:
    """One subject's count for the current minute: its key, and when that minute ends."""

    key: str
    ends: float


class RateLimiter:
    def __init__(self, redis: RedisClient, *, prefix: str, name: str, per_minute: int) -> None:
        """`prefix` may carry a hash tag (`P:{jobs}`) when the count is written in one step
        with keys under that tag."""
        self.redis = redis
        self.prefix = f"{prefix}:rate:{name}"
        self.per_minute = per_minute
        self._count_reading = redis.register_script(lua("app.foundations", "count_reading"))
        #: The acks' own connections (`hit_reading` is on every instant command's ack).
        self._own = OwnConnections(redis)

    def hit(self, subject: str) -> Verdict:
        if self.per_minute <= 0:
            return Verdict(True)
        window = self.window(subject)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(window.key)
            pipe.expire(window.key, KEPT)
            count, _ = pipe.execute()
        return self.verdict(count, window)

    def hit_reading(self, subject: str, key: str) -> tuple[Verdict, str | None]:
        """`hit`, with the value of `key` read in the same step (one script, one round trip:
        lighter for the client than a MULTI of three); `key` must be in the count's slot of
        a Redis Cluster (under the `prefix`'s hash tag)."""
        window = self.window(subject)
        counting = self.per_minute > 0
        count, read = run_script(
            self._own(), self._count_reading, [window.key, key], [KEPT, 1 if counting else 0]
        )
        return (self.verdict(int(count), window) if counting else Verdict(True)), read

    def window(self, subject: str) -> Window:
        """The key `subject` is counted under now (INCR it, EXPIRE it `KEPT`)."""
        minute = int(timestamp() // WINDOW)
        return Window(f"{self.prefix}:{subject}:{minute}", float((minute + 1) * WINDOW))

    def verdict(self, count: int, window: Window) -> Verdict:
        """Whether the `count`th hit in `window` is allowed, and else when to try again."""
        if self.per_minute <= 0 or count <= self.per_minute:
            return Verdict(True)
        return Verdict(False, retry_after=max(1, int(window.ends - timestamp()) + 1))
