"""Durable work: the intent of an acknowledged command, click or form, kept in a Redis Stream.

The ack writes the job here *before* it answers Slack; consumers (threads in every web
process and in `mysafe-bot worker`) read it with a consumer group. Delivery is at least once:
an entry leaves the stream only when its work is done (XACK and XDEL in one MULTI), and an
entry whose consumer died is claimed by another after `visibility` seconds of silence
(XAUTOCLAIM). A live consumer renews what it holds (XCLAIM JUSTID), so a slow MySafe never
makes two consumers run one job. Each job's effect happens once because every handler is
idempotent on the request it carries (the engine's idempotency keys and atomic transitions),
and the intake itself refuses a second copy of the same delivery (`put` is one Lua step).

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`; `{jobs}` is one hash tag, so every step touches one
slot of a Redis Cluster):

    P:{jobs}:stream           the stream; consumer group `workers`
    P:{jobs}:seen:<key>       a delivery already taken in (24 h), so a repeat adds nothing
    P:{jobs}:sent:<job id>    per message of the job to a person: the consumer sending it, or sent
                              (gone with the job): a take-over sends only the ones after them
    P:{jobs}:busy[:<person>]  the slots of running jobs, overall and per person (`app.jobs.slots`)
    P:{jobs}:dead             jobs whose body no configured key opens or that is not a job,
                              parked aside as they were (still sealed) with why; the newest
                              `MAX_PARKED` kept, the stream gone `PARKED_TTL` after the last

Bodies are sealed with the bot's keys (`Keyring.seal`: AES-GCM, the ack's cheapest): a login or
rotate form carries a secret, a command Slack's `response_url`. Bodies Fernet sealed still open.
A body that cannot be opened (sealed with a key since removed) or read is parked, never
retried: no consumer could ever run it, and one that raised in the reader would stop them all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.crypto import Keyring
from app.foundations.errors import ConfigError
from app.foundations.scripts import lua
from app.foundations.storage import OwnConnections, RedisClient, run_script

log = logging.getLogger(__name__)

GROUP = "workers"
#: Seconds a delivery is remembered, so a repeat of it (a resend, a double submit) adds nothing.
SEEN_TTL = 24 * 3600
#: The stream never grows past about this many entries, even with no consumer running.
MAX_ENTRIES = 100_000
#: Parked jobs kept for an operator to see (`mysafe-bot doctor`): the newest this many, and
#: the whole list this long after the last one was parked.
MAX_PARKED = 1000
PARKED_TTL = 30 * 86400


# A person's command: counted against their rate limit and stored, in one step.


@dataclass(frozen=True)
class Limit:
    """A count taken in the same step as the job (a person's commands this minute, from
    `app.foundations.ratelimit`): its key, under the queue's hash tag, its bound and its TTL."""

    key: str
    bound: int
    ttl: int


@dataclass(frozen=True)
class Taken:
    """What `take` did in its one step: the count it took, the new job's id (None for a
    delivery already in), whether the count was past its bound (then nothing was stored), and
    the value of the key it read along (None when that key is absent)."""

    count: int
    id: str | None
    over: bool
    read: str | None


class OverLimit(Exception):
    """The job's `Limit` was reached: it was counted, and nothing was stored."""

    def __init__(self, count: int) -> None:
        super().__init__(f"over the limit (count {count})")
        self.count = count


class Unreadable(Exception):
    """A stored job this code cannot run; `why` says so in words, never quoting the body."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class Parked:
    """A job set aside as unreadable: what an operator needs to see it, never its body."""

    id: str
    job: str
    kind: str
    who: str
    at: float
    why: str
    parked_at: float

    @classmethod
    def from_redis(cls, entry_id: str, fields: Mapping[str, str]) -> Parked:
        return cls(
            id=entry_id,
            job=fields.get("job", ""),
            kind=fields.get("kind", ""),
            who=fields.get("who", ""),
            at=_number(fields.get("at")),
            why=fields.get("why", ""),
            parked_at=_number(fields.get("parked_at")),
        )


def _number(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Renewed:
    """What a renewal found of the jobs a consumer held: those still its own (renewed), and
    those another consumer holds now (taken over while this one was silent). A job in
    neither is done: by this consumer, between its look at what it held and the renewal, or
    by the one that took it over."""

    kept: list[str]
    elsewhere: list[str]


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    who: str
    body: dict[str, Any]
    at: float
    #: Taken over from a consumer that died: its work may have been done, in part or whole.
    again: bool = False
    #: This process's `time.monotonic()` just before the read that delivered it (0 for a
    #: take-over): Redis counts its idle time from that read on, at the earliest.
    read_at: float = 0.0


def canonical(body: dict[str, Any]) -> str:
    """The body as one text, the same for the same payload whatever its keys' order."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def delivery_key(text: str) -> str:
    """One key per Slack delivery (its `canonical` text): the same payload twice is the same
    intent."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def hash_tag(prefix: str) -> str:
    """The start every key of the jobs shares: one hash tag, so one slot of a Redis Cluster
    (`app.jobs.slots` keeps its keys under it, and so do the keys an ack reads in its step)."""
    return f"{prefix}:{{jobs}}"


class JobQueue:
    def __init__(self, client: RedisClient, keyring: Keyring, *, prefix: str) -> None:
        self.redis = client
        self.keyring = keyring
        self.tag = hash_tag(prefix)
        self.stream = f"{self.tag}:stream"
        self._seen = f"{self.tag}:seen:"
        self._sent = f"{self.tag}:sent:"
        self._put = client.register_script(lua("app.jobs", "queue_put"))
        self._put_counted = client.register_script(lua("app.jobs", "put_counted"))
        #: The acks' own connections (`take` is on every command's ack, `put` on a durable
        #: click's).
        self._own = OwnConnections(client)
        self._send = client.register_script(lua("app.jobs", "queue_send"))
        self._confirm = client.register_script(lua("app.jobs", "queue_sent"))
        self._renew = client.register_script(lua("app.jobs", "queue_renew"))
        self._park = client.register_script(lua("app.jobs", "queue_park"))
        self._reseal = client.register_script(lua("app.jobs", "queue_reseal"))
        self._grouped = False
        #: Where unreadable jobs are parked (see `parked`).
        self.dead = f"{self.tag}:dead"

    def put(
        self, kind: str, body: dict[str, Any], *, who: str, limit: Limit | None = None
    ) -> str | None:
        """Store the job durably; its stream id, or None when this delivery is already in.
        With a `limit`, its count is taken in the same step (`take`) and `OverLimit` raised,
        nothing stored, when it is past its bound. Raises `redis.RedisError` when Redis
        cannot take it: the caller must not promise."""
        if limit is not None:
            taken = self.take(kind, body, who=who, limit=limit)
            if taken.over:
                raise OverLimit(taken.count)
            return taken.id
        keys, args = self._entry(kind, body, who=who)
        added = run_script(self._own(), self._put, keys, args)
        return str(added) if added else None

    def take(
        self, kind: str, body: dict[str, Any], *, who: str, limit: Limit, read: str | None = None
    ) -> Taken:
        """The ack's one round trip: count `limit` (a bound of 0 counts nothing), store the
        job unless past the bound or already in, and read the key `read` (the person's
        language) when given, all in one script. Every key is under the jobs' hash tag, so they share a
        slot of a Redis Cluster. Raises `redis.RedisError` when Redis cannot take it."""
        extra = [limit.key] if read is None else [limit.key, read]
        if not all(key.startswith(self.tag + ":") for key in extra):
            raise ValueError("a job's limit and what it reads are under the jobs' hash tag")
        keys, args = self._entry(kind, body, who=who)
        answer = run_script(
            self._own(), self._put_counted, [*keys, *extra], [*args, limit.bound, limit.ttl]
        )
        count, value = int(answer[0]), answer[1]
        over = len(answer) < 3
        return Taken(count, None if over else (str(answer[2]) or None), over, value)

    def _entry(self, kind: str, body: dict[str, Any], *, who: str) -> tuple[list[str], list[Any]]:
        """The stream's keys and a job's fields, as both put scripts take them."""
        text = canonical(body)  # one encoding for both: the ack's path counts each step
        sealed = self.keyring.seal(text)
        keys = [self.stream, self._seen + delivery_key(text)]
        return keys, [SEEN_TTL, MAX_ENTRIES, kind, who, sealed, repr(timestamp())]

    def ensure_group(self) -> None:
        """The consumer group, from the stream's start: jobs put before any consumer existed
        are read too."""
        if self._grouped:
            return
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._grouped = True

    def read(
        self, consumer: str, *, count: int, block_ms: int, via: RedisClient | None = None
    ) -> list[Job]:
        """New jobs for this consumer (they stay pending until `done`), read `via` a client of
        the stream's server when given (`app.jobs.reader`: a read a stop can end at once)."""
        self.ensure_group()
        asked = time.monotonic()
        try:
            answer = (via or self.redis).xreadgroup(
                GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        except redis.ResponseError as error:
            if "NOGROUP" in str(error):
                self._grouped = False  # the stream was deleted; make it again next time
            raise
        return [job for _, entries in answer or [] for job in self._jobs(entries, read_at=asked)]

    def claim_abandoned(self, consumer: str, *, idle_ms: int, count: int = 100) -> list[Job]:
        """Jobs whose consumer has been silent for `idle_ms`: it died, take them over."""
        self.ensure_group()
        answer = self.redis.xautoclaim(
            self.stream, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count
        )
        return self._jobs(answer[1], again=True)

    def renew(self, consumer: str, ids: Sequence[str]) -> Renewed:
        """Say "still working on these": their idle time starts again, nobody claims them.
        Returns which are still ours, and which another consumer took over while this one
        was silent."""
        if not ids:
            return Renewed(kept=[], elsewhere=[])
        kept, elsewhere = self._renew(keys=[self.stream], args=[GROUP, consumer, *ids])
        return Renewed(kept=[str(i) for i in kept], elsewhere=[str(i) for i in elsewhere])

    def may_send(self, job_id: str, nth: int, consumer: str) -> bool:
        """Claim the job's `nth` message to a person before sending it: False when it was
        sent already, when `consumer` no longer holds the job (another run answers), or when
        the job is done. Confirm with `sent` once Slack has it. A run that died between its
        claim and that confirmation leaves it unconfirmed, and the run taking over sends it
        again: an answer replaces the "Working on" line, so the person reads it once; what
        is never allowed is a person left with no answer."""
        return bool(
            self._send(
                keys=[self.stream, self._sent + job_id], args=[GROUP, job_id, nth, SEEN_TTL, consumer]
            )
        )

    def sent(self, job_id: str, nth: int) -> None:
        """The `nth` message reached Slack (or Slack refused it): no run sends it again."""
        self._confirm(keys=[self._sent + job_id], args=[nth])

    def done(self, job_id: str, *, also: Callable[[Any], None] | None = None) -> None:
        """The work is done: out of the pending list and the stream, in one step, with
        `also`'s writes (given the transaction's pipeline) in the same step."""
        with self.redis.pipeline(transaction=True) as pipe:
            if also is not None:
                also(pipe)
            pipe.xack(self.stream, GROUP, job_id)
            pipe.xdel(self.stream, job_id)
            pipe.delete(self._sent + job_id)
            pipe.execute()

    def pending(self) -> int:
        """Jobs taken in and not yet done (read or not)."""
        return int(self.redis.xlen(self.stream))

    def parked(self, *, limit: int = 100) -> list[Parked]:
        """The jobs set aside as unreadable, newest first (for `mysafe-bot doctor`)."""
        return [Parked.from_redis(i, f) for i, f in self.redis.xrevrange(self.dead, count=limit)]

    def parked_count(self) -> int:
        return int(self.redis.xlen(self.dead))

    def reseal(self) -> int:
        """Seal every job still waiting to be read with the newest key (`users rotate-keys`);
        returns how many were re-sealed. Jobs a consumer holds keep their seal (it opened
        them already); one no key opens is left for the reader to park."""
        count = 0
        for entry_id, fields in self.redis.xrange(self.stream):
            sealed = fields.get("body")
            if not sealed:
                continue
            try:
                fresh = self.keyring.reseal(sealed)
            except ConfigError:
                continue
            self.ensure_group()
            count += int(self._reseal(keys=[self.stream], args=[GROUP, entry_id, sealed, fresh]))
        return count

    def _jobs(self, entries: Sequence[Any], *, again: bool = False, read_at: float = 0.0) -> list[Job]:
        jobs = []
        for entry_id, fields in entries:
            if not fields:
                continue  # deleted while pending (cannot happen through `done`)
            try:
                jobs.append(self._open(entry_id, fields, again=again, read_at=read_at))
            except Unreadable as error:
                self._set_aside(entry_id, fields, error.why)
        return jobs

    def _open(self, entry_id: str, fields: Mapping[str, str], *, again: bool, read_at: float) -> Job:
        """The job as stored; `Unreadable` when no configured key opens it or it is no job."""
        try:
            text = self.keyring.unseal(fields["body"])
        except ConfigError:
            raise Unreadable("no configured key opens it") from None
        except KeyError:
            raise Unreadable("not a job body") from None
        try:
            body = json.loads(text)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return Job(
                entry_id, fields["kind"], fields["who"], body, float(fields["at"]), again, read_at
            )
        except (ValueError, KeyError):
            raise Unreadable("not a job body") from None

    def _set_aside(self, entry_id: str, fields: Mapping[str, str], why: str) -> None:
        """Park an unreadable job (`_PARK`), logged once, as one line without a traceback:
        the body is never quoted, and there is no bug here to trace."""
        copy = {**fields, "job": entry_id, "why": why, "parked_at": repr(timestamp())}
        flat = [str(x) for pair in copy.items() for x in pair]
        parked = self._park(
            keys=[self.stream, self.dead, self._sent + entry_id],
            args=[GROUP, entry_id, MAX_PARKED, PARKED_TTL, *flat],
        )
        if not parked:
            return  # parked by another reader already
        metrics.JOBS_PARKED.inc()
        log.warning(
            "job parked: it cannot be run",
            extra={
                "event": "jobs.parked",
                "job": entry_id,
                "kind": str(fields.get("kind", ""))[:40],
                "why": why,
            },
        )
