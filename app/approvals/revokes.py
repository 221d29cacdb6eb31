"""The end of time-bound shares: a schedule in Redis and the worker's revokes, exactly once.

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

A revoke reads the entry as the owner under the entry lock and leaves each principal what
their access record says outlives this share: their base and the highest share still running
(`app.approvals.ledger`). It keeps that decision (and, for `rotate-after`, the new password,
sealed) before it writes, so a worker taking it over after a kill finishes that write rather
than deciding again from an entry that already shows it. One that cannot be made is retried
with backoff, and listeners are told after each failure, so people see it until it succeeds
or an approver gives up.

Each end is then proven by reading the entry back as the owner (`app.approvals.revoke_proof`):
audited `share.revoke_verified`, or `share.drift_detected` with what the entry still gives a
grantee (access given again by hand meanwhile), kept on the record as `drift` and told to the
listeners. A `rotate-after` write is proven inside the end itself, by SHA-256 digests of the
password before the write, after it and sent: one that did not land is retried like any failed
end, one that did is audited `share.rotate_verified`.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from secrets import token_hex
from typing import TYPE_CHECKING

from app import metrics
from app.approvals.entry_locks import EntryLock
from app.approvals.grants import Grant, Granted, TakeBack
from app.approvals.ledger import Ledger, Pending, Plan, end_write, taken_by
from app.approvals.passwords import new_password
from app.approvals.revoke_proof import drift, old_compared, rotation_proven
from app.approvals.scripts import lua
from app.approvals.store import ChangeRequest
from app.clock import timestamp
from app.errors import (
    ApprovalError,
    BotError,
    CredentialsMissing,
    LeaseLost,
    MySafeError,
    NotApplied,
)
from app.i18n import _
from app.mysafe.client import UserClient, digest
from app.mysafe.models import Entry, Kind
from app.mysafe.transport import deadline
from app.storage import RedisClient

if TYPE_CHECKING:
    from app.approvals.engine import Engine

log = logging.getLogger(__name__)

RETENTION = 30 * 86400
#: Retry backoff: the first retry after `RETRY_BASE` seconds, doubling up to `RETRY_CAP`.
RETRY_BASE = 30.0
RETRY_CAP = 1800.0
#: Seconds a worker waits before looking again at a revoke whose apply is not recorded yet.
WAIT_FOR_APPLY = 30.0
#: Seconds of its claim a revoke keeps in hand: no MySafe call may end later than that.
SAFETY = 1.0
#: A worker sending a reminder holds it this long; if it dies first, another sends it after.
REMIND_LEASE = 120.0

#: Owner and grantee are reminded this long before the end, or `REMIND_SHARE` of the period
#: when that is shorter (a 30-minute share is reminded 3 minutes before).
REMIND_BEFORE = 3600.0
REMIND_SHARE = 0.1
ENDED = frozenset({"done", "given_up", "extended"})


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
    state: str
    attempts: int = 0
    next: float = 0.0
    notify: tuple[str, ...] = ()
    channel: str = ""
    ts: str = ""
    error: str = ""
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    #: Where the "could not be removed" notice is, once one was posted.
    alert_channel: str = ""
    alert_ts: str = ""
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
            state=data["state"],
            attempts=int(data.get("attempts") or 0),
            next=float(data.get("next") or 0),
            notify=tuple(json.loads(data.get("notify") or "[]")),
            channel=data.get("channel", ""),
            ts=data.get("ts", ""),
            error=data.get("error", ""),
            removed=tuple(json.loads(data.get("removed") or "[]")),
            kept=tuple(json.loads(data.get("kept") or "[]")),
            alert_channel=data.get("alert_channel", ""),
            alert_ts=data.get("alert_ts", ""),
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
        return self.state in ("scheduled", "retrying") or (
            self.state == "revoking" and not self.writing
        )

    @property
    def entry(self) -> str:
        name = f" “{self.entry_name}”" if self.entry_name else ""
        return f"{self.kind.label} {self.identifier}{name}"


RevokeListener = Callable[[Revoke, str], None]


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
        return f"{self.prefix}:req:{{{request_id}}}:revoke"

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
            "channel": request.channel,
            "ts": request.ts,
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

    def claim(self, request_id: str, *, now: float, lease: str, lease_until: float) -> tuple[str, str]:
        status, when = self._claim(
            keys=[self.request_key(request_id), self.record_key(request_id)],
            args=[repr(now), lease, repr(lease_until)],
        )
        return status, when

    def finish(
        self, request_id: str, *, lease: str, outcome: str, next_at: float = 0.0, **facts: str
    ) -> bool:
        flat = [str(x) for pair in facts.items() for x in pair]
        return (
            self._finish(
                keys=[self.record_key(request_id)], args=[lease, outcome, repr(next_at), *flat]
            )
            == "ok"
        )

    def give_up(self, request_id: str, *, actor: str, now: float) -> str:
        status = self._give_up(keys=[self.record_key(request_id)], args=[actor, repr(now)])
        if status == "ok":
            self.redis.zrem(self.index, request_id)
        return str(status)

    def mark_ended(self, request_id: str, *, now: float) -> bool:
        """Record the end on the request itself (its message then says so)."""
        return bool(self._ended(keys=[self.request_key(request_id)], args=[repr(now)]))

    def remind(self, request_id: str, *, now: float) -> bool:
        """Claim the reminder for `REMIND_LEASE` seconds; True: send it, then `reminded`."""
        status = self._remind(keys=[self.record_key(request_id)], args=[repr(now), repr(REMIND_LEASE)])
        if status == "skip":
            self.redis.zrem(self.reminders, request_id)
        return bool(status == "ok")

    def reminded(self, request_id: str) -> None:
        """The reminder was sent (a listener that failed has logged why): never again."""
        key = self.record_key(request_id)
        if self.redis.exists(key):
            self.redis.hset(key, "reminded", "1")
        self.redis.zrem(self.reminders, request_id)

    def reminders_due(self, now: float, *, limit: int) -> list[str]:
        return self.redis.zrangebyscore(self.reminders, "-inf", now, start=0, num=limit)

    def supersede(self, request_id: str, *, by: str) -> str:
        status = str(self._supersede(keys=[self.record_key(request_id)], args=[by]))
        if status == "ok":
            self.unindex(request_id)
        return status

    def revoke_now(self, request_id: str, *, actor: str, now: float) -> str:
        return str(self._now(keys=[self.record_key(request_id)], args=[actor, repr(now)]))

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
        return self._write(keys=[self.record_key(request_id)], args=args) == "ok"

    def keep(self, request_id: str) -> None:
        """Keep a record that is still being retried `RETENTION` seconds from now: set once at
        schedule, its expiry would otherwise drop a revoke that keeps failing, silently,
        while the channel still says it is being retried."""
        self.redis.expire(self.record_key(request_id), RETENTION)

    def set_alert(self, request_id: str, *, channel: str, ts: str) -> None:
        key = self.record_key(request_id)
        if self.redis.exists(key):  # never a partial record (it would have no TTL either)
            self.redis.hset(key, mapping={"alert_channel": channel, "alert_ts": ts})

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


class Revoker:
    """Runs due revokes with the owner's key; tells `listeners` (revoked, revoke_failed)."""

    def __init__(
        self,
        engine: Engine,
        *,
        listeners: list[RevokeListener] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.store = RevokeStore(engine.services.redis, prefix=engine.settings.key_prefix)
        self.listeners = listeners if listeners is not None else []
        self.jitter = jitter

    def sweep(
        self,
        *,
        now: float | None = None,
        limit: int = 500,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """Run every revoke due at `now`; returns how many this caller ran."""
        now = timestamp() if now is None else now
        for request_id in self.store.reminders_due(now, limit=limit):
            if stopping():
                return 0
            if self.store.remind(request_id, now=now):
                self._tell(request_id, "reminder")
                self.store.reminded(request_id)
        ran = 0
        for request_id in self.store.due(now, limit=limit):
            if stopping():
                break
            try:
                ran += self._one(request_id, now)
            except (KeyError, ValueError, TypeError):
                # A record this code cannot read must not stop every other revoke: it is
                # logged loudly and looked at again later (a person must see to it).
                log.exception(
                    "revoke record unreadable",
                    extra={"event": "revoke.unreadable", "request": request_id},
                )
                self.store.reindex(request_id, now + RETRY_CAP)
        return ran

    def _one(self, request_id: str, now: float) -> int:
        lease = token_hex(8)
        until = now + self.engine.settings.apply_lease
        status, when = self.store.claim(request_id, now=now, lease=lease, lease_until=until)
        if status == "claimed":
            self.store.reindex(request_id, until)  # found again if this worker dies
            self.run(request_id, lease, now=now, until=until)
            return 1
        if status in ("later", "busy"):
            self.store.reindex(request_id, float(when))
        elif status == "wait":
            self.store.reindex(request_id, now + WAIT_FOR_APPLY)
        else:
            self.store.unindex(request_id)
        return 0

    def run(self, request_id: str, lease: str, *, now: float, until: float) -> None:
        """Take the grant back (or record why not yet) for the holder of `lease`."""
        revoke = self.store.get(request_id)
        if revoke is None:
            return
        try:
            client = self.engine.client_for(revoke.owner)
            taken = self._take_back(revoke, client, lease, now=now, until=until)
        except (MySafeError, BotError) as error:
            self._failed(revoke, lease, error, now=now)
            return
        removed = [g.describe() for g in taken.undone]
        kept = [f"{g.describe()}: {why}" for g, why in taken.kept]
        if not self.store.finish(
            request_id,
            lease=lease,
            outcome="done",
            removed=json.dumps(removed),
            kept=json.dumps(kept),
            undone=Grant(taken.undone).dumps(),
            left=json.dumps([[g.to_json(), why] for g, why in taken.kept]),
            error="",
            done_at=repr(now),
            rotated="1" if revoke.rotate_after else "",
        ):
            return  # the claim ran out meanwhile: whoever holds it now reports
        self.engine.access.forget(revoke.kind, revoke.identifier, end_write(request_id))
        self.store.unindex(request_id)
        if self.store.mark_ended(request_id, now=now):
            # The worker's next pass re-renders the approval message (it says "ended").
            self.engine.store.needs_repair(request_id, timestamp())
        metrics.REVOKES.labels(outcome="done").inc()
        self.engine.audit.record(
            "revoke.done",
            request=request_id,
            actor="worker",
            entry=f"{revoke.kind.value}:{revoke.identifier}",
            removed="; ".join(removed) or "nothing to write",
            kept="; ".join(kept),
            attempts=revoke.attempts,
            rotated="yes" if revoke.rotate_after else "",
        )
        self._tell(request_id, "revoked")
        self._prove(revoke, client)

    def _prove(self, revoke: Revoke, client: UserClient) -> None:
        """Read the entry back after the end and say whether it shows what the end left: an end
        that holds only on the bot's word is not proof. A read that fails is audited too."""
        entry_id = f"{revoke.kind.value}:{revoke.identifier}"
        try:
            entry = client.get(revoke.kind, revoke.identifier)
        except (MySafeError, BotError) as error:
            detail = error.describe() if isinstance(error, MySafeError) else str(error)
            self.engine.audit.record(
                "share.revoke_unverified",
                request=revoke.request_id,
                actor="worker",
                entry=entry_id,
                error=detail[:300],
            )
            return
        keys = [g.key for g in revoke.grant.items]
        ledger = self.engine.access.read(revoke.kind, revoke.identifier, keys).settled(entry)
        found = drift(revoke.request_id, revoke.grant, entry, ledger)
        if not found:
            self.engine.audit.record(
                "share.revoke_verified",
                request=revoke.request_id,
                actor="worker",
                entry=entry_id,
                checked=", ".join(g.describe() for g in revoke.grant.items) or "nobody",
            )
            return
        self.store.set_drift(revoke.request_id, found)
        metrics.REVOKES.labels(outcome="drift").inc()
        self.engine.audit.record(
            "share.drift_detected",
            request=revoke.request_id,
            actor="worker",
            entry=entry_id,
            differs="; ".join(found),
        )
        self._tell(revoke.request_id, "drift_detected")

    def _take_back(
        self, revoke: Revoke, client: UserClient, lease: str, *, now: float, until: float
    ) -> TakeBack:
        """Read as the owner, holding the entry, and finish this end once: a write an earlier
        attempt decided and the entry shows is only reported; one the entry cannot tell (a new
        password alone) is sent again as it was decided; otherwise the end is decided from the
        access records (`Ledger.end`), kept before the write, and written once. For
        `rotate-after` the write carries a new password even when nothing else is left to
        undo: the grantee saw the old one, and it is proven changed before the end is done."""
        left = until - now - SAFETY
        with (
            self.engine.locks.hold(
                revoke.kind, revoke.identifier, lease=max(left, 0.0), wait=max(min(left / 2, 30.0), 0.0)
            ) as held,
            deadline(time.monotonic() + left),
        ):
            current = client.get(revoke.kind, revoke.identifier)
            keys = [g.key for g in revoke.grant.items]
            read = self.engine.access.read(revoke.kind, revoke.identifier, keys)
            ledger = read.settled(current)
            name = end_write(revoke.request_id)
            earlier = ledger.pending.get(name)
            if earlier is not None and earlier.landed:
                self._save(held, revoke, read, ledger.done(name, ()))
                if earlier.rotate:
                    self._confirm_rotation(client, revoke, revoke.sealed, before="")
                return taken_by(earlier)
            plan = self._plan(revoke, ledger, earlier, current)
            assert plan.taken is not None
            sealed = self._sealed(revoke) if revoke.rotate_after else ""
            if plan.taken.body is None and not sealed:
                self._save(held, revoke, read, ledger.done(name, plan.records))
                return plan.taken  # nothing left of the grant: nothing to write
            if not held.still_held() or not self.store.start_write(
                revoke.request_id, lease, now=timestamp(), sealed=sealed
            ):
                raise LeaseLost("the revoke's claim ran out before the write")
            decided = ledger.deciding(name, plan.pending(rotate=bool(sealed)))
            self._save(held, revoke, read, decided)
            before = client.secret_digest(revoke.kind, revoke.identifier) if sealed else ""
            self._send(client, revoke, plan.taken.body or {}, sealed)
            self._save(held, revoke, decided, decided.landed(name))
            after = client.get(revoke.kind, revoke.identifier)
        problems = plan.taken.still_there(after)
        if sealed:
            self._confirm_rotation(client, revoke, sealed, before=before)
        if problems:
            raise NotApplied("MySafe accepted the revoke, but the entry shows: " + "; ".join(problems))
        return plan.taken

    def _confirm_rotation(
        self, client: UserClient, revoke: Revoke, sealed: str, *, before: str
    ) -> None:
        """Prove the new password landed by reading it back as a digest (the value is hashed
        in the client and compared here only as digests), or raise so the end is retried."""
        sent = digest(self.engine.services.keyring.decrypt(sealed)) if sealed else ""
        after = client.secret_digest(revoke.kind, revoke.identifier)
        if not rotation_proven(after=after, sent=sent):
            raise NotApplied("MySafe accepted the revoke, but the password it holds is not the new one")
        self.engine.audit.record(
            "share.rotate_verified",
            request=revoke.request_id,
            actor="worker",
            entry=f"{revoke.kind.value}:{revoke.identifier}",
            compared="sha256",
            old=old_compared(before, sent),
        )

    def _send(
        self, client: UserClient, revoke: Revoke, body: Mapping[str, object], sealed: str
    ) -> None:
        """The end's one write; the new password is opened only for it, and is MySafe's alone
        (and sealed on the record until the end is recorded) from here."""
        sent = {**body, "password": self.engine.services.keyring.decrypt(sealed)} if sealed else body
        client.update(revoke.kind, revoke.identifier, sent)

    @staticmethod
    def _plan(revoke: Revoke, ledger: Ledger, earlier: Pending | None, current: Entry) -> Plan:
        """This end decided now, or as an earlier attempt decided it when its write (a new
        password alone, which the entry cannot show) may have landed: sent again as it was."""
        if earlier is not None:
            return Plan(earlier.moves, earlier.records, TakeBack(None, (), ()))
        return ledger.end(revoke.request_id, revoke.grant, current, legacy=revoke.legacy)

    def _sealed(self, revoke: Revoke) -> str:
        """The new password of this end, sealed: the one an earlier attempt may have sent, or a
        new one (made here, never shown or kept in clear)."""
        if revoke.sealed:
            return revoke.sealed
        settings = self.engine.settings
        password = new_password(settings.rotate_length, settings.rotate_classes)
        return self.engine.services.keyring.encrypt(password).decode()

    def _save(self, held: EntryLock, revoke: Revoke, old: Ledger, new: Ledger) -> None:
        self.engine.access.save(held, revoke.kind, revoke.identifier, old, new)

    def _failed(self, revoke: Revoke, lease: str, error: BotError, *, now: float) -> None:
        detail = error.describe() if isinstance(error, MySafeError) else str(error)
        attempt = revoke.attempts
        wait = min(RETRY_CAP, RETRY_BASE * 2 ** max(attempt - 1, 0))
        next_at = now + wait * (0.5 + self.jitter() / 2)
        if not self.store.finish(
            revoke.request_id, lease=lease, outcome="retry", next_at=next_at, error=detail[:500]
        ):
            return
        self.store.reindex(revoke.request_id, next_at)
        self.store.keep(revoke.request_id)
        metrics.REVOKES.labels(outcome="failed").inc()
        log.warning(
            "revoke failed; will retry",
            extra={
                "event": "revoke.retry",
                "request": revoke.request_id,
                "attempt": attempt,
                "error": type(error).__name__,
            },
        )
        self.engine.audit.record(
            "revoke.failed",
            request=revoke.request_id,
            actor="worker",
            attempt=attempt,
            error=detail[:300],
            retry_at=int(next_at),
        )
        self._tell(revoke.request_id, "revoke_failed")

    def revoke_now(self, request_id: str, actor: str, *, now: float | None = None) -> str:
        """The owner ends the share at once; 'ok' once it ran (or will be retried), else why
        not: 'not_owner', 'missing', or the state it is in."""
        now = timestamp() if now is None else now
        status = self.store.revoke_now(request_id, actor=actor, now=now)
        if status != "ok":
            return status
        self.engine.audit.record("revoke.now", request=request_id, actor=actor)
        self.store.reindex(request_id, now)
        self._one(request_id, now)
        return status

    def end_now(self, request_id: str, actor: str, *, why: str, now: float | None = None) -> str:
        """End a share at once on someone else's word than its owner's (a break-glass judged
        not justified): as `revoke_now`, with the owner's key, audited as `actor`'s."""
        now = timestamp() if now is None else now
        revoke = self.store.get(request_id)
        if revoke is None:
            return "missing"
        status = self.store.revoke_now(request_id, actor=revoke.owner, now=now)
        if status != "ok":
            return status
        self.engine.audit.record("revoke.now", request=request_id, actor=actor, why=why)
        self.store.reindex(request_id, now)
        self._one(request_id, now)
        return status

    def extend(
        self, request_id: str, actor: str, *, idempotency_key: str | None = None
    ) -> ChangeRequest:
        """A new request for the same share and a new period of the same length, asked by the
        owner or a grantee; it needs approval like any share and says what it extends. Once
        applied it takes over this share's end (see `Engine.apply`). The same
        `idempotency_key` (one click, run again after a crash) makes no second request.

        The extension is the original's, whoever asks: its requester (whose key grants and
        later takes back), ticket and source. Filed as the grantee's, her logout would leave
        the end without a key, and a ticket rule would refuse every extension."""
        revoke = self.store.get(request_id)
        if revoke is None or revoke.state in ENDED:
            raise ApprovalError(
                _("{id} has already ended: ask for a new share instead.").format(id=request_id)
            )
        if actor not in (revoke.owner, *revoke.notify):
            raise ApprovalError(_("Only the owner and the people it was shared with can extend it."))
        original = self.engine.get(request_id)
        change = replace(original.change, extends=request_id)
        reason = f"extends {request_id}" + (f": {original.reason}" if original.reason else "")
        try:
            request = self.engine.submit(
                change,
                requester=original.requester,
                reason=reason[:500],
                ticket=original.ticket,
                source=original.source,
                notify=original.notify,
                people=original.people,
                idempotency_key=idempotency_key,
            )
        except CredentialsMissing:
            if actor == original.requester:
                raise
            raise ApprovalError(
                _("The owner who shared it has unlinked their MySafe key: ask them to share it again.")
            ) from None
        self.engine.audit.record("revoke.extend_asked", request=request_id, actor=actor, by=request.id)
        return request

    def give_up(self, request_id: str, actor: str, *, is_approver: bool) -> str:
        """An approver of the rule the share was approved under (`is_approver`, the front's
        answer) stops a failing revoke's retries; 'ok', or why not: 'not_approver',
        'beneficiary', or the state that refused it. A grantee never may: giving up would
        let her keep the access."""
        if not is_approver:
            return "not_approver"
        if self._gains(request_id, actor):
            return "beneficiary"
        status = self.store.give_up(request_id, actor=actor, now=timestamp())
        if status == "ok":
            metrics.REVOKES.labels(outcome="given_up").inc()
            self.engine.audit.record("revoke.given_up", request=request_id, actor=actor)
            self._tell(request_id, "revoke_given_up")
        return status

    def _gains(self, request_id: str, actor: str) -> bool:
        """Whether `actor` is among the share's grantees: mentioned (Slack ID), or given access
        under a MySafe name that is theirs, confirmed or only claimed (a claim may count
        against its claimant)."""
        revoke = self.store.get(request_id)
        if revoke is None:
            return False
        vault = self.engine.services.vault
        names = {
            n.casefold() for n in (vault.mysafe_username(actor), vault.claimed_username(actor)) if n
        }
        grantees = {g.name.casefold() for g in revoke.grant.items if not g.is_group}
        return actor in revoke.notify or bool(names & grantees)

    def _tell(self, request_id: str, event: str) -> None:
        revoke = self.store.get(request_id)
        if revoke is None:
            return
        for listener in self.listeners:
            try:
                listener(revoke, event)
            except Exception:  # noqa: BLE001 - Slack being down must not undo a revoke
                log.exception(
                    "revoke listener failed",
                    extra={"event": "listener.error", "request": request_id, "what": event},
                )
