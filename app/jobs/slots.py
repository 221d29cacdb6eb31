"""The deployment-wide bounds on running jobs: so many per person, so many against MySafe.

Every consumer (web processes, `mysafe-bot worker`) asks here before it starts a job. A job
runs only with two slots taken together in one Lua step: one of `per_person` for its person
and one of `overall` for MySafe as a whole; if either is full it takes neither and waits.
A slot is a lease, not a count: a sorted-set member (the holder: consumer and job id) scored
by its expiry on Redis's own clock. The consumer renews its leases with its jobs and releases
them when the job is done; a consumer that dies stops renewing, and its slots free themselves
once their lease (the job visibility timeout) runs out, as its jobs become claimable.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`; the job queue's `{jobs}` hash tag, so a step that
touches the overall set and a person's set touches one slot of a Redis Cluster):

    P:{jobs}:busy             sorted set: every running job's holder, scored by lease expiry (ms)
    P:{jobs}:busy:<person>    the same for one person's running jobs

Both keys expire with their last lease, so a person who stops sending leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.foundations.scripts import lua
from app.foundations.storage import RedisClient


@dataclass(frozen=True)
class Lease:
    """The two slots one running job holds."""

    holder: str
    person: str


class Slots:
    def __init__(
        self, client: RedisClient, *, base: str, per_person: int, overall: int, lease: float
    ) -> None:
        self.redis = client
        self.overall_key = base
        self._person_key = base + ":"
        self.per_person = per_person
        self.overall = overall
        self.lease_ms = max(1, int(lease * 1000))
        self._acquire = client.register_script(lua("app.jobs", "slots_acquire"))
        self._renew = client.register_script(lua("app.jobs", "slots_renew"))

    def person_key(self, person: str) -> str:
        return self._person_key + person

    def acquire(self, wanted: Sequence[Lease]) -> set[str]:
        """Take both slots for as many of `wanted` as the bounds allow, in order (one round
        trip); the holders granted. Raises `redis.RedisError`: then none was granted."""
        if not wanted:
            return set()
        granted = self._acquire(
            keys=[self.overall_key, *(self.person_key(lease.person) for lease in wanted)],
            args=[self.lease_ms, self.overall, self.per_person, *(lease.holder for lease in wanted)],
        )
        return {str(holder) for holder in granted}

    def renew(self, held: Sequence[Lease]) -> None:
        """Their jobs still run: another lease period from now (one round trip)."""
        if held:
            self._renew(
                keys=[self.overall_key, *(self.person_key(lease.person) for lease in held)],
                args=[self.lease_ms, *(lease.holder for lease in held)],
            )

    def release(self, lease: Lease, *, pipe: Any = None) -> None:
        """The job is done: both slots free at once, in `pipe`'s transaction when given."""
        if pipe is None:
            with self.redis.pipeline(transaction=True) as own:
                self.release(lease, pipe=own)
                own.execute()
            return
        pipe.zrem(self.overall_key, lease.holder)
        pipe.zrem(self.person_key(lease.person), lease.holder)

    def running(self, person: str | None = None) -> int:
        """Leases unexpired by this host's clock, overall or for one person (for operators
        and tests, on the host Redis runs on)."""
        key = self.overall_key if person is None else self.person_key(person)
        return int(self.redis.zcount(key, f"({int(time.time() * 1000)}", "+inf"))
