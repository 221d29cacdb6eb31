"""Where the Slack front's review cards are: one DM per reviewer, entry and page of a campaign.

The front's own bookkeeping (the campaign's records, app.approvals.reviews, never name it),
on the campaign's hash tag and kept as long as its other keys:

    P:review:{Q1}:cards   hash  "reviewer|password:312|page" -> "channel ts" of a DM card
"""

from __future__ import annotations

from app.approvals.review_records import RETENTION
from app.foundations.storage import RedisClient


class SentCards:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}:review:{{{name}}}:cards"

    def add(self, name: str, reviewer: str, entry: str, page: int, where: tuple[str, str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key(name), f"{reviewer}|{entry}|{page}", " ".join(where))
        pipe.expire(self.key(name), RETENTION)
        pipe.execute()

    def sent(self, name: str) -> set[str]:
        """ "reviewer|entry|page" of every card sent."""
        return set(self.redis.hkeys(self.key(name)))

    def of(self, name: str, entry: str) -> list[tuple[str, int, str, str]]:
        """(reviewer, page, channel, ts) of every card about `entry`."""
        found = []
        for key, where in self.redis.hgetall(self.key(name)).items():
            reviewer, card_entry, page = key.split("|")
            if card_entry == entry:
                channel, ts = where.split(" ")
                found.append((reviewer, int(page), channel, ts))
        return sorted(found)
