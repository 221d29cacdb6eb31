"""Requests that never hang: a reminder after the rule's `remind_after`, an escalation after its
`escalate_after`, each once, whichever worker gets there first.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`):

    P:{nudges}:due    zset   "R-7K2QF:remind" | "R-7K2QF:escalate" -> when it is due

One key with its own hash tag, so the claim script runs on one slot of a cluster. The schedule
lives in Redis, so a restart loses nothing; a worker *claims* what is due in one script, which
pushes each claimed item `CLAIM_LEASE` seconds into the future: no other worker sees it while
it is being sent, and one that died sending it leaves it due again once the lease passes. A sent
item is removed; a request that reaches a final state has its items removed, and an item whose
request is no longer pending when it is claimed is dropped unsent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from app.approvals.scripts import lua
from app.foundations.storage import RedisClient

#: Seconds a claimed item stays invisible to other workers while it is being sent.
CLAIM_LEASE = 120


class Nudge(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


class Reminders:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:{{nudges}}:due"
        self._claim = redis.register_script(lua("claim_due"))

    def schedule(
        self, request_id: str, *, created: float, remind_after: int | None, escalate_after: int | None
    ) -> None:
        """Remember when a new request is to be reminded of and escalated (its rule's times)."""
        due = {
            f"{request_id}:{kind.value}": created + after
            for kind, after in ((Nudge.REMIND, remind_after), (Nudge.ESCALATE, escalate_after))
            if after
        }
        if due:
            self.redis.zadd(self.key, due)

    def claim(self, now: float, *, limit: int = 100) -> list[tuple[str, Nudge]]:
        """What is due now, for this caller alone (see the module docstring)."""
        claimed = self._claim(keys=[self.key], args=[now, CLAIM_LEASE, limit])
        found = []
        for item in claimed:
            request_id, _, kind = str(item).rpartition(":")
            found.append((request_id, Nudge(kind)))
        return found

    def done(self, request_id: str, kind: Nudge) -> None:
        self.redis.zrem(self.key, f"{request_id}:{kind.value}")

    def forget(self, request_id: str, *, pipe: Any = None) -> None:
        """The request is final: nothing more is sent for it (in `pipe` when given)."""
        (pipe if pipe is not None else self.redis).zrem(
            self.key, *(f"{request_id}:{kind.value}" for kind in Nudge)
        )

    def pending(self) -> list[tuple[str, float]]:
        return [(str(m), float(s)) for m, s in self.redis.zrange(self.key, 0, -1, withscores=True)]
