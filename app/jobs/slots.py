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

from app.storage import RedisClient

# Redis's clock, in ms: every consumer's leases are measured on one clock, whatever the hosts'.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] the overall set, KEYS[1 + i] the person set of candidate i; ARGV[1] lease ms,
# ARGV[2] overall bound, ARGV[3] per-person bound, ARGV[3 + i] candidate i's holder.
# Candidates are tried in order; each gets both slots or neither. Returns the granted holders.
_ACQUIRE = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local granted = {}
for i = 2, #KEYS do
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then break end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], now + lease, ARGV[i + 2])
    redis.call('ZADD', KEYS[i], now + lease, ARGV[i + 2])
    redis.call('PEXPIRE', KEYS[i], lease)
    redis.call('PEXPIRE', KEYS[1], lease)
    granted[#granted + 1] = ARGV[i + 2]
  end
end
return granted
"""
)

# KEYS as for _ACQUIRE; ARGV[1] lease ms, ARGV[i] the holder in KEYS[i]. XX: a lease released
# (its job done) while this renewal was on its way stays released.
_RENEW = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + lease, ARGV[i]) > 0 then
    redis.call('PEXPIRE', KEYS[i], lease)
    redis.call('PEXPIRE', KEYS[1], lease)
  end
end
return 1
"""
)


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
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)

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
