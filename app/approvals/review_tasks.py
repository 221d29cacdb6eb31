"""What access review campaigns have to do, and when: start, remind, act at the due date.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`):

    P:{reviewtasks}:due    zset   "start:Q1" | "remind:Q1" | "timeout:Q1" | "escalate:Q1"
                                  -> when it is due

One key on its own hash tag, claimed like the requests' reminders (`claim_due.lua`): a claimed
task is pushed `LEASE` seconds ahead in the same script, so no other worker sees it while it
runs, and one whose worker died (SIGKILL, a lost pod) is due again once the lease passes. A
task is removed only once it is done, so every task runs to its end at least once; each is
written to be run again (see app.approvals.review_sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.approvals.scripts import lua
from app.foundations.storage import RedisClient

#: Seconds a claimed task stays invisible to other workers (a 10,000-line start included).
LEASE = 600


class Task(StrEnum):
    START = "start"
    REMIND = "remind"
    TIMEOUT = "timeout"
    #: Send what reviewers whose key stopped working mid-campaign leave to the escalation target.
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Due:
    task: Task
    campaign: str

    @property
    def member(self) -> str:
        return f"{self.task.value}:{self.campaign}"

    @classmethod
    def of(cls, member: str) -> Due:
        task, _, campaign = member.partition(":")
        return cls(Task(task), campaign)


class ReviewTasks:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:{{reviewtasks}}:due"
        self._claim = redis.register_script(lua("claim_due"))

    def add(self, task: Task, campaign: str, at: float, *, nx: bool = False) -> None:
        """Due at `at` (a task already there is moved to `at`, unless `nx`)."""
        self.redis.zadd(self.key, {Due(task, campaign).member: at}, nx=nx)

    def claim(self, now: float, *, limit: int = 20) -> list[Due]:
        """What is due now, for this caller alone until the lease passes."""
        return [Due.of(str(m)) for m in self._claim(keys=[self.key], args=[now, LEASE, limit])]

    def done(self, due: Due) -> None:
        self.redis.zrem(self.key, due.member)

    def when(self, task: Task, campaign: str) -> float | None:
        return self.redis.zscore(self.key, Due(task, campaign).member)
