"""Rate limits kept in Redis, so they hold across gunicorn workers and replicas.

A fixed one-minute window per subject (a Slack user, a webhook source): INCR and EXPIRE in one
MULTI, so the count and its expiry are set together. Limit 0 means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.clock import timestamp
from app.storage import RedisClient

WINDOW = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    def __init__(self, redis: RedisClient, *, prefix: str, name: str, per_minute: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:rate:{name}"
        self.per_minute = per_minute

    def hit(self, subject: str) -> Verdict:
        if self.per_minute <= 0:
            return Verdict(True)
        now = timestamp()
        window = int(now // WINDOW)
        key = f"{self.prefix}:{subject}:{window}"
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW * 2)
            count, _ = pipe.execute()
        if count <= self.per_minute:
            return Verdict(True)
        return Verdict(False, retry_after=max(1, int((window + 1) * WINDOW - now) + 1))
