"""The end of time-bound shares: the revoke record, its indexes and its scripts.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`):

    P:req:{R-7K2QF}:revoke   hash   the revoke record, on the request's own slot: what the
                                    share granted (`grant`), when it ends, the owner whose key
                                    takes it back, state (scheduled | revoking | retrying |
                                    done | given_up), attempts, the claim's lease, the outcome
    P:idx:revokes            zset   request id -> next time to look at it   (worker: what is due)
    P:idx:reminders          zset   request id -> when to remind owner and grantees
    P:idx:revokes:user:{U…}  zset   request id -> end, for the owner and each grantee (their
                                    lists of active time-bound shares; pruned when read)

The record is written by apply right after MySafe took the share, before the request is
recorded applied (see `Engine.apply`), and its `ends` never moves once written: a taken-over
apply keeps the first attempt's grant. The index is a hint like the other indexes: a worker
claims a due revoke with one script on the record (`revoke_claim.lua`), so two workers, or a
worker restarted mid-revoke, never both write; a claim whose worker died runs out and the
next sweep takes it. Records are kept `RETENTION` seconds past their end, for the record, and
one still being retried `RETENTION` seconds past its last failed attempt.

The worker's side (claiming, the owner's write, its proof, retries) is `Revoker`'s
(app.approvals.revoker); this module knows the record, its keys and its scripts only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from app.approvals.change_request import ChangeRequest
from app.approvals.grants import Grant, Granted
from app.approvals.scripts import lua
from app.foundations.storage import RedisClient
from app.mysafe.models import Kind

RETENTION = 30 * 86400
#: Seconds of its claim a revoke keeps in hand: no MySafe call may end later than that.
SAFETY = 1.0
#: A worker sending a reminder holds it this long; if it dies first, another sends it after.
REMIND_LEASE = 120.0

#: Owner and grantee are reminded this long before the end, or `REMIND_SHARE` of the period
#: when that is shorter (a 30-minute share is reminded 3 minutes before).
REMIND_BEFORE = 3600.0
REMIND_SHARE = 0.1


class RevokeState(StrEnum):
    """The record's `state`, as the revoke scripts write it (and answer it when they refuse)."""

    SCHEDULED = "scheduled"
    REVOKING = "revoking"  # a worker holds the claim
    RETRYING = "retrying"  # the last attempt failed: tried again at `next`
    DONE = "done"
    GIVEN_UP = "given_up"  # an approver stopped the retries
    EXTENDED = "extended"  # an extension took the end over


ENDED = frozenset({RevokeState.DONE, RevokeState.GIVEN_UP, RevokeState.EXTENDED})


class RevokeOutcome(StrEnum):
    """What the revoke scripts answer (each value is written in a `lua/revoke_*.lua`), and the
    `Revoker`'s own refusals; a script that refuses for the record's state answers that
    state (a `RevokeState`) instead."""

    OK = "ok"
    STALE = "stale"  # the claim named is no longer the caller's
    MISSING = "missing"  # no such record
    NOT_OWNER = "not_owner"  # only the owner ends a share early
    SKIP = "skip"  # nothing to remind of any more
    HELD = "held"  # another worker is sending that reminder
    CLAIMED = "claimed"  # this caller holds the claim now
    LATER = "later"  # not due yet (a retry's time)
    BUSY = "busy"  # another worker's claim still runs
    WAIT = "wait"  # the apply is not recorded yet
    DONE = "done"  # ended already: nothing to claim
    GONE = "gone"  # neither the record nor an apply that could write one
    NOT_APPROVER = "not_approver"  # `Revoker.give_up`: not an approver of the rule
    BENEFICIARY = "beneficiary"  # `Revoker.give_up`: a grantee may not stop the end


class RevokeEvent(StrEnum):
    """What a `RevokeListener` is told about a share's end."""

    REMINDER = "reminder"
    REVOKED = "revoked"
    DRIFT_DETECTED = "drift_detected"
    REVOKE_FAILED = "revoke_failed"
    REVOKE_GIVEN_UP = "revoke_given_up"


def remind_at(ends: float, duration: float) -> float:
    return ends - min(REMIND_BEFORE, REMIND_SHARE * duration)


@dataclass(frozen=True)
class Revoke:
    """One scheduled end of a share, as its record holds it."""

    request_id: str
    kind: Kind
    identifier: int
    entry_name: str
    owner: str
    grant: Grant
    ends: float
    state: RevokeState
    attempts: int = 0
    next: float = 0.0
    notify: tuple[str, ...] = ()
    error: str = ""
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    given_up_by: str = ""
    #: Set a new random password at the end (`rotate-after`), and whether that was done.
    rotate_after: bool = False
    rotated: bool = False
    #: The share's length in seconds (an extension asks for the same again).
    duration: int = 0
    #: The claim holder passed its last check and writes (or wrote): no extension takes over.
    #: It stays set when the claim is taken over: that write may have landed.
    writing: bool = False
    #: The approvers of the rule the share was approved under (who may give up its end),
    #: kept here because a revoke retried for long outlives its request's record.
    approvers: frozenset[str] = frozenset()
    #: The new password its write sets (`rotate-after`), sealed with the keyring before the
    #: write and deleted once recorded: a take-over sends the same one, never a second.
    sealed: str = ""
    #: Scheduled before access records were kept: its grant's `before` stands in for one.
    legacy: bool = False
    #: MySafe username (casefolded) -> Slack ID of the people the request named by mention,
    #: so the notices name them as Slack does (and a grantee's own DM says "you").
    people: Mapping[str, str] = field(default_factory=dict)
    #: What the end took back, and what it left and why (`removed`/`kept` are the same in
    #: words, for the audit and for records ended before these were kept).
    undone: tuple[Granted, ...] = ()
    left: tuple[tuple[Granted, str], ...] = ()
    #: What the entry, read back after the end, still gives a grantee (see `revoke_proof`).
    drift: tuple[str, ...] = ()

    @classmethod
    def from_redis(cls, data: Mapping[str, str]) -> Revoke:
        return cls(
            request_id=data["request"],
            kind=Kind(data["kind"]),
            identifier=int(data["identifier"]),
            entry_name=data.get("entry_name", ""),
            owner=data["owner"],
            grant=Grant.loads(data.get("grant")),
            ends=float(data["ends"]),
            state=RevokeState(data["state"]),
            attempts=int(data.get("attempts") or 0),
            next=float(data.get("next") or 0),
            notify=tuple(json.loads(data.get("notify") or "[]")),
            error=data.get("error", ""),
            removed=tuple(json.loads(data.get("removed") or "[]")),
            kept=tuple(json.loads(data.get("kept") or "[]")),
            given_up_by=data.get("given_up_by", ""),
            rotate_after=bool(data.get("rotate_after")),
            rotated=bool(data.get("rotated")),
            duration=int(data.get("duration") or 0),
            writing=bool(data.get("writing")),
            approvers=frozenset(json.loads(data.get("approvers") or "[]")),
            sealed=data.get("sealed", ""),
            legacy=not data.get("access"),
            people=json.loads(data.get("people") or "{}"),
            undone=Grant.loads(data.get("undone")).items,
            left=tuple((Granted(*g), why) for g, why in json.loads(data.get("left") or "[]")),
            drift=tuple(json.loads(data.get("drift") or "[]")),
        )

    @property
    def supersedable(self) -> bool:
        """An extension may still take over this end (`revoke_supersede.lua` decides)."""
        return self.state in (RevokeState.SCHEDULED, RevokeState.RETRYING) or (
            self.state == RevokeState.REVOKING and not self.writing
        )

    @property
    def entry(self) -> str:
        name = f" “{self.entry_name}”" if self.entry_name else ""
        return f"{self.kind.label} {self.identifier}{name}"


class RevokeListener(Protocol):
    """What `Revoker` tells the fronts of a share's end: one method per kind of news."""

    def reminder(self, revoke: Revoke) -> None:
        """The end is near: owner and grantees may ask to extend it."""

    def revoked(self, revoke: Revoke) -> None:
        """The access was taken back."""

    def drift_detected(self, revoke: Revoke) -> None:
        """The read-back after the end found access the end did not write."""

    def revoke_failed(self, revoke: Revoke) -> None:
        """The end failed; it is retried until it succeeds or an approver gives up."""

    def revoke_given_up(self, revoke: Revoke) -> None:
        """An approver stopped the retries of a failing end."""


class EveryRevokeChange:
    """A `RevokeListener` that treats every kind of news alike: `changed(revoke, event)`."""

    def changed(self, revoke: Revoke, event: RevokeEvent) -> None:
        """Nothing, unless a subclass says."""

    def reminder(self, revoke: Revoke) -> None:
        self.changed(revoke, RevokeEvent.REMINDER)

    def revoked(self, revoke: Revoke) -> None:
        self.changed(revoke, RevokeEvent.REVOKED)

    def drift_detected(self, revoke: Revoke) -> None:
        self.changed(revoke, RevokeEvent.DRIFT_DETECTED)

    def revoke_failed(self, revoke: Revoke) -> None:
        self.changed(revoke, RevokeEvent.REVOKE_FAILED)

    def revoke_given_up(self, revoke: Revoke) -> None:
        self.changed(revoke, RevokeEvent.REVOKE_GIVEN_UP)


@dataclass(frozen=True)
class OnEveryRevoke(EveryRevokeChange):
    """A function of (revoke, event) as a `RevokeListener` (a Home tab's refresh)."""

    hear: Callable[[Revoke, RevokeEvent], None]

    def changed(self, revoke: Revoke, event: RevokeEvent) -> None:
        self.hear(revoke, event)


def tell_revoke(listener: RevokeListener, revoke: Revoke, event: RevokeEvent) -> None:
    """Tell `listener` the news `event` names, by its method for that kind of news."""
    {
        RevokeEvent.REMINDER: listener.reminder,
        RevokeEvent.REVOKED: listener.revoked,
        RevokeEvent.DRIFT_DETECTED: listener.drift_detected,
        RevokeEvent.REVOKE_FAILED: listener.revoke_failed,
        RevokeEvent.REVOKE_GIVEN_UP: listener.revoke_given_up,
    }[event](revoke)


#: A revoke script's answer: one of its outcomes, or the record's state that refused the call.
Answer = RevokeOutcome | RevokeState


def answer(status: str) -> Answer:
    """Read a script's answer (`done` is read as the outcome: the two mean the same)."""
    try:
        return RevokeOutcome(status)
    except ValueError:
        return RevokeState(status)


def revoke_key(prefix: str, request_id: str) -> str:
    """The revoke record: on its request's slot, and kept longer than the request (a failing
    end is retried past the request's retention)."""
    return f"{prefix}:req:{{{request_id}}}:revoke"


class RevokeStore:
    """Redis access for revoke records and their index; knows keys and scripts only."""

    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._schedule = client.register_script(lua("revoke_schedule"))
        self._claim = client.register_script(lua("revoke_claim"))
        self._finish = client.register_script(lua("revoke_finish"))
        self._give_up = client.register_script(lua("revoke_give_up"))
        self._now = client.register_script(lua("revoke_now"))
        self._remind = client.register_script(lua("revoke_remind"))
        self._supersede = client.register_script(lua("revoke_supersede"))
        self._ended = client.register_script(lua("revoke_ended"))
        self._write = client.register_script(lua("revoke_write"))

    def record_key(self, request_id: str) -> str:
        return revoke_key(self.prefix, request_id)

    def request_key(self, request_id: str) -> str:
        return f"{self.prefix}:req:{{{request_id}}}"

    @property
    def index(self) -> str:
        return f"{self.prefix}:idx:revokes"

    @property
    def reminders(self) -> str:
        return f"{self.prefix}:idx:reminders"

    def user_index(self, slack_id: str) -> str:
        return f"{self.prefix}:idx:revokes:user:{slack_id}"

    def schedule(self, request: ChangeRequest, grant: Grant, *, now: float) -> float:
        """Write the record (once) and index it; returns when the share ends. Indexed first,
        so a record never exists that no sweep would find."""
        change = request.change
        assert change.identifier is not None
        ends = now + change.duration
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.index, {request.id: ends}, nx=True)
        pipe.zadd(self.reminders, {request.id: remind_at(ends, change.duration)}, nx=True)
        for person in dict.fromkeys((request.requester, *request.notify)):
            pipe.zadd(self.user_index(person), {request.id: ends}, nx=True)
        pipe.execute()
        fields = {
            "request": request.id,
            "kind": change.kind.value,
            "identifier": str(change.identifier),
            "entry_name": request.entry_name,
            "owner": self._owner(request),
            "grant": grant.dumps(),
            "ends": repr(ends),
            "notify": json.dumps(list(request.notify)),
            "rotate_after": "1" if change.rotate_after else "",
            "remind_at": repr(remind_at(ends, change.duration)),
            "duration": str(change.duration),
            "approvers": json.dumps(sorted(request.approvers)),
            "access": "1",
            "people": json.dumps(dict(request.people)),
        }
        ttl = int(change.duration + RETENTION)
        flat = [str(x) for pair in fields.items() for x in pair]
        return float(self._schedule(keys=[self.record_key(request.id)], args=[ttl, *flat]))

    def _owner(self, request: ChangeRequest) -> str:
        """Whose key takes the share back: its requester, or for an extension the owner of
        the share it extends (an extension filed under a grantee's name before extensions kept
        the original's requester must not hand her the end)."""
        extends = request.change.extends
        earlier = self.redis.hget(self.record_key(extends), "owner") if extends else None
        return earlier or request.requester

    def claim(
        self, request_id: str, *, now: float, lease: str, lease_until: float
    ) -> tuple[RevokeOutcome, str]:
        status, when = self._claim(
            keys=[self.request_key(request_id), self.record_key(request_id)],
            args=[repr(now), lease, repr(lease_until)],
        )
        return RevokeOutcome(status), when

    def finish(
        self, request_id: str, *, lease: str, outcome: str, next_at: float = 0.0, **facts: str
    ) -> bool:
        flat = [str(x) for pair in facts.items() for x in pair]
        return (
            self._finish(
                keys=[self.record_key(request_id)], args=[lease, outcome, repr(next_at), *flat]
            )
            == RevokeOutcome.OK
        )

    def give_up(self, request_id: str, *, actor: str, now: float) -> Answer:
        status = answer(self._give_up(keys=[self.record_key(request_id)], args=[actor, repr(now)]))
        if status is RevokeOutcome.OK:
            self.redis.zrem(self.index, request_id)
        return status

    def mark_ended(self, request_id: str, *, now: float) -> bool:
        """Record the end on the request itself (its message then says so)."""
        return bool(self._ended(keys=[self.request_key(request_id)], args=[repr(now)]))

    def remind(self, request_id: str, *, now: float) -> bool:
        """Claim the reminder for `REMIND_LEASE` seconds; True: send it, then `reminded`."""
        status = self._remind(keys=[self.record_key(request_id)], args=[repr(now), repr(REMIND_LEASE)])
        if status == RevokeOutcome.SKIP:
            self.redis.zrem(self.reminders, request_id)
        return bool(status == RevokeOutcome.OK)

    def reminded(self, request_id: str) -> None:
        """The reminder was sent (a listener that failed has logged why): never again."""
        key = self.record_key(request_id)
        if self.redis.exists(key):
            self.redis.hset(key, "reminded", "1")
        self.redis.zrem(self.reminders, request_id)

    def reminders_due(self, now: float, *, limit: int) -> list[str]:
        return self.redis.zrangebyscore(self.reminders, "-inf", now, start=0, num=limit)

    def supersede(self, request_id: str, *, by: str) -> Answer:
        status = answer(self._supersede(keys=[self.record_key(request_id)], args=[by]))
        if status is RevokeOutcome.OK:
            self.unindex(request_id)
        return status

    def revoke_now(self, request_id: str, *, actor: str, now: float) -> Answer:
        return answer(self._now(keys=[self.record_key(request_id)], args=[actor, repr(now)]))

    def active_for(self, slack_id: str, *, limit: int = 100) -> list[Revoke]:
        """`slack_id`'s time-bound shares not yet ended (as owner or grantee), soonest end
        first; ended ones are dropped from their list as they are found."""
        index = self.user_index(slack_id)
        found = []
        for request_id in self.redis.zrange(index, 0, limit - 1):
            revoke = self.get(request_id)
            if revoke is None or revoke.state in ENDED:
                self.redis.zrem(index, request_id)
                continue
            found.append(revoke)
        return found

    def start_write(self, request_id: str, lease: str, *, now: float, sealed: str = "") -> bool:
        """The holder of `lease` may write now (and is marked as writing, with the `sealed`
        new password it sends, if any); False when its claim was lost, runs out within
        `SAFETY`, or an extension took the end over."""
        args = [lease, repr(now + SAFETY), sealed]
        return self._write(keys=[self.record_key(request_id)], args=args) == RevokeOutcome.OK

    def keep(self, request_id: str) -> None:
        """Keep a record that is still being retried `RETENTION` seconds from now: set once at
        schedule, its expiry would otherwise drop a revoke that keeps failing, silently,
        while the channel still says it is being retried."""
        self.redis.expire(self.record_key(request_id), RETENTION)

    def set_drift(self, request_id: str, found: Sequence[str]) -> None:
        """Keep what the read-back found on the record, for the listeners that tell people."""
        key = self.record_key(request_id)
        if self.redis.exists(key):  # never a partial record (it would have no TTL either)
            self.redis.hset(key, "drift", json.dumps(list(found)))

    def get(self, request_id: str) -> Revoke | None:
        data = self.redis.hgetall(self.record_key(request_id))
        return Revoke.from_redis(data) if data else None

    def due(self, now: float, *, limit: int) -> list[str]:
        return self.redis.zrangebyscore(self.index, "-inf", now, start=0, num=limit)

    def reindex(self, request_id: str, at: float) -> None:
        self.redis.zadd(self.index, {request_id: at})

    def unindex(self, request_id: str) -> None:
        self.redis.zrem(self.index, request_id)

    def active(self, request_ids: Sequence[str]) -> list[Revoke]:
        """The records among `request_ids` still to be revoked (scheduled, retrying, revoking)."""
        found = [self.get(i) for i in request_ids]
        return [r for r in found if r is not None and r.state not in ENDED]

    def scheduled_ids(self) -> list[str]:
        return self.redis.zrange(self.index, 0, -1)
