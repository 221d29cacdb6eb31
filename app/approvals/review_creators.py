"""Who created each entry the bot created: they review it, whatever MySafe says of their right.

MySafe does not say who created an entry; the bot knows for what it created itself (an
applied `create` request names its requester). `Reviews`, as an engine listener, records it:

    P:review:creators    hash   "password:312" -> the creator's Slack ID

Kept as long as the bot runs (an entry's creator does not change); an entry deleted since is
never listed by MySafe, so its field is simply never read.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.foundations.storage import RedisClient
from app.mysafe.models import Kind


class Creators:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:review:creators"

    def record(self, kind: Kind, identifier: object, slack_id: str) -> None:
        """An applied create: `slack_id` made entry `identifier` (None: nothing was made)."""
        if isinstance(identifier, int) and slack_id:
            self.redis.hset(self.key, f"{kind.value}:{identifier}", slack_id)

    def of(self, kind: Kind, identifiers: Sequence[int]) -> dict[int, str]:
        """The creators the bot knows of, by identifier."""
        if not identifiers:
            return {}
        found = self.redis.hmget(self.key, [f"{kind.value}:{i}" for i in identifiers])
        return {i: who for i, who in zip(identifiers, found, strict=True) if who}
