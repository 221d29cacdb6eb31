"""The worker's pass: expiries, take-overs of stuck applies, the outbox, reminders.

Each pass costs what is due, not what is stored: the store keeps due times in sorted sets.
Expiries are told to the listeners (round trips to Slack) by durable work when the assembly
gives a `hand_off`, so a slow Slack never holds up the sweep. Split from `Engine`, which
keeps thin delegates (`Engine.sweep`, `Engine.tell_expired`, …) and hands this class only
what it uses.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from secrets import token_hex

import redis

from app.approvals.audit import Audit
from app.approvals.change_request import ChangeRequest
from app.approvals.decision import (
    Event,
    HandOff,
    Listener,
    Steps,
    hear,
)
from app.approvals.fronts import Shows
from app.approvals.in_force import RulesInForce
from app.approvals.machine import Action, Outcome, State
from app.approvals.open_scan import OpenScan
from app.approvals.outbox import Outbox
from app.approvals.reminders import Nudge, Reminders
from app.approvals.store import ApprovalStore
from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.storage import RedisClient

log = logging.getLogger(__name__)

#: Expiries whose listeners (Slack's message update, the requester's DM) one `tell_expired`
#: call tells at once: each is a round trip to Slack, so 10,000 expiries one after another
#: took 17 s. Slack's rate-limit answers are waited out by slack-sdk's retry handler.
SWEEP_TELLERS = 4
#: Requests a sweep expires per round trip (see `Sweeper._expire_due`), and hands off at once.
SWEEP_BATCH = 100
#: Seconds the listeners are given to hear of an expiry once it is handed off, or once a
#: teller claimed it, before the sweep hands it off again (its job or its teller was lost).
TELL_WITHIN = 300.0
#: Claims of an expiry's news after which, no listener having taken it (a message deleted in
#: Slack, a channel archived), it is given up and logged: about an hour of tries.
TELL_TRIES = 10


class Sweeper:
    """Expires what is due, takes over stuck applies and sends the reminders that are due."""

    def __init__(
        self,
        *,
        redis: RedisClient,
        store: ApprovalStore,
        audit: Audit,
        outbox: Outbox,
        reminders: Reminders,
        in_force: RulesInForce,
        listeners: Collection[Listener],
        steps: Steps,
        hand_off: HandOff | None = None,
        fronts: Collection[Shows] = (),
    ) -> None:
        self.redis = redis
        self.store = store
        self.audit = audit
        self.outbox = outbox
        self.reminders = reminders
        self.in_force = in_force
        self.listeners = listeners
        self.steps = steps
        #: Given by the assembly when durable work (app.ops.expiry_jobs) tells the listeners
        #: of the sweep's expiries; None: the sweep tells them itself before it returns.
        self.hand_off = hand_off
        #: The fronts that show each open request: the rescue pass asks them what they missed.
        self.fronts = fronts

    def sweep(
        self,
        *,
        now: float | None = None,
        limit: int = 500,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """Expire what is due and take over stuck applies; cost follows what is due.
        `stopping` is asked between two items, so a worker told to stop does so promptly."""
        now = timestamp() if now is None else now
        self.measure(now)
        self.outbox.sweep(now=now, limit=limit)  # records a process that died left unmoved
        if self.in_force.not_in_force() is not None:
            return 0  # expiries, take-overs and reminders wait for a process in force (logged)
        handled = self._expire_due(now, limit=limit, stopping=stopping)
        if stopping():
            return handled
        for request_id in self.store.due("leases", now, limit=limit):
            if stopping():
                return handled
            lease = self.steps.new_lease(now)
            result = self.steps.audited(
                request_id, Action.RECLAIM, actor="worker", now=now, event="request.reclaimed", **lease
            )
            if result.status is Outcome.APPLY:
                handled += 1
                self.store.track_lease(request_id, lease["lease_until"])
                self.steps.apply(request_id, str(lease["lease"]))
            elif result.status is not Outcome.NOOP or result.state is not State.APPLYING:
                self.store.drop_lease(request_id)
        return handled + self.send_nudges(now, stopping=stopping)

    def _expire_due(self, now: float, *, limit: int, stopping: Callable[[], bool]) -> int:
        """Expire what is due, `SWEEP_BATCH` at a time: each request's own atomic transition,
        the batch's transitions sent in one round trip, then its reads, and its audit and
        index updates in one more each. The listeners' news (Slack's message update, the
        requester's DM: round trips to Slack) is then handed off (`_pass_on`)."""
        handled = 0
        due = self.store.due("due", now, limit=limit)
        for start in range(0, len(due), SWEEP_BATCH):
            if stopping():
                break
            expired, untold = self._expire_batch(due[start : start + SWEEP_BATCH], now)
            handled += expired
            self._pass_on(untold, now)
        return handled

    def _expire_batch(self, request_ids: Sequence[str], now: float) -> tuple[int, list[str]]:
        """Expire these (those still pending); settle, audit and count what expired, and
        drop from the indexes what was already final or gone. Returns how many expired and
        whose news is owed: those, and those expired earlier whose news was lost on the way
        (a sweep or a teller that died). Each stays due `TELL_WITHIN` from now until told,
        so news that never arrives is handed off again (the transition set `untold`
        atomically with the state: the state cannot change without the news being owed)."""
        results = self.store.transition_many(request_ids, Action.EXPIRE, actor="worker", now=now)
        expired_ids = [
            rid
            for rid, result in zip(request_ids, results, strict=True)
            if result.status is Outcome.EXPIRED
        ]
        stale = [
            rid
            for rid, result in zip(request_ids, results, strict=True)
            if result.status in (Outcome.FINAL, Outcome.MISSING)
        ]
        found = self.store.get_many([*expired_ids, *stale])
        expired = [r for r in found[: len(expired_ids)] if r is not None]
        owed = {request.id: now + TELL_WITHIN for request in expired}
        pipe = self.redis.pipeline(transaction=False)
        for request in expired:
            self.audit.record(
                "request.expired", request=request.id, actor="worker", state="expired", pipe=pipe
            )
            metrics.REQUESTS.labels(verb=request.change.verb.value, outcome="expired").inc()
            self.steps.settle(request, pipe=pipe)
        for request_id, gone in zip(stale, found[len(expired_ids) :], strict=True):
            self.store.unindex(request_id, gone.requester if gone else "", pipe=pipe)
            if gone is not None and gone.untold is not None:  # its news is still owed
                owed[request_id] = now + TELL_WITHIN  # a teller's claim ends before that
        self.store.keep_due(owed, pipe=pipe)
        pipe.execute()
        untold = [
            *(r.id for r in expired),
            *(
                r.id
                for r in found[len(expired_ids) :]
                if r is not None and r.untold is not None and r.untold <= now
            ),
        ]
        return len(expired), untold

    def _pass_on(self, request_ids: Sequence[str], now: float) -> None:
        """Have the listeners told of these expiries: by durable work when the assembly set
        `hand_off` (the sweep does not wait for Slack), else here, before the sweep goes on.
        Not handed off (Redis refused the job), they are due again at once."""
        if not request_ids:
            return
        if self.hand_off is None:
            self.tell_expired(request_ids, now=now)
            return
        try:
            self.hand_off(request_ids)
        except redis.RedisError:
            with contextlib.suppress(redis.RedisError):  # else due again in TELL_WITHIN
                self.store.keep_due(dict.fromkeys(request_ids, now))
            raise

    def tell_expired(
        self, request_ids: Sequence[str], *, teller: str = "", now: float | None = None
    ) -> int:
        """Tell every listener (the Slack message, the requester, a ticket, the Home tab) of
        each of these expiries whose news is still owed, `SWEEP_TELLERS` at a time, marking
        each told once it was; returns how many were told. Run by the job the sweep hands
        them to (its `teller` names that hand-off), or by the sweep itself.

        Each is claimed first, for `TELL_WITHIN` seconds, so two hand-offs of one expiry
        (a batch handed off again) never both tell it, and one told is not told again. The
        same job run again after its consumer died takes its own claims back and tells what
        it had not marked told; a teller lost otherwise leaves its claims to run out, and the
        sweep hands them off again. So after a crash a requester may hear of an expiry twice
        (told, not yet marked), never not at all; the message update is idempotent (it
        renders the request as it is). One a listener failed to take (Slack away) stays
        owed and is tried again the same way, `TELL_TRIES` times at most."""
        if not self.listeners:
            self.store.told(request_ids)  # nobody to tell
            return 0
        now = timestamp() if now is None else now
        claimed = self.store.claim_untold(
            request_ids, now=now, until=now + TELL_WITHIN, teller=teller or token_hex(8)
        )
        found = self.store.get_many(claimed)
        self.store.told(
            [rid for rid, request in zip(claimed, found, strict=True) if request is None]
        )  # gone: nothing to tell
        requests = [request for request in found if request is not None]
        with ThreadPoolExecutor(
            max_workers=SWEEP_TELLERS, thread_name_prefix="tell-expired"
        ) as telling:
            for request in requests:
                telling.submit(self._tell_expired, request)
        return len(requests)

    def _tell_expired(self, request: ChangeRequest) -> None:
        """Marked told only if every listener took it: else (Slack timed out or refused)
        its claim runs out and the sweep hands it off again, up to `TELL_TRIES` claims."""
        if self.steps.tell(request, Event.EXPIRED):
            self.store.told([request.id])
        elif request.tell_tries >= TELL_TRIES:
            log.error(
                "expiry news given up",
                extra={"event": "request.untold", "request": request.id, "tries": request.tell_tries},
            )
            self.store.told([request.id])

    def send_nudges(
        self, now: float | None = None, *, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """The reminders and escalations that are due, each sent once (app.approvals.reminders);
        one whose request is no longer pending is dropped unsent."""
        now = timestamp() if now is None else now
        sent = 0
        for request_id, kind in self.reminders.claim(now):
            if stopping():
                return sent  # what is claimed comes due again when its claim runs out
            request = self.store.get(request_id)
            if request is None or request.state is not State.PENDING:
                self.reminders.done(request_id, kind)
                continue
            try:
                for listener in self.listeners:
                    hear(listener, request, Event(kind.value))
            except Exception:  # noqa: BLE001 - Slack may be away: the claim runs out, it is retried
                log.warning(
                    "reminder not sent; retried later",
                    exc_info=True,
                    extra={"event": "request.nudge_error", "request": request_id, "kind": kind.value},
                )
                continue
            self.reminders.done(request_id, kind)
            self.audit.record(
                "request.reminded" if kind is Nudge.REMIND else "request.escalated",
                request=request_id,
                actor="worker",
                to=",".join(request.escalate_to) if kind is Nudge.ESCALATE else "",
            )
            sent += 1
        return sent

    def rescue(self, now: float | None = None, *, ids: Sequence[str] | None = None) -> OpenScan:
        """Read every open request (or only those of `ids`, a slice of them) itself: index
        each `applying` one whose lease passed (the next sweep takes it over), and ask each
        front which of them it has not shown as they are (the scan carries its answers: the
        worker posts or repairs those messages)."""
        now = timestamp() if now is None else now
        scan = self.store.stale_open(now) if ids is None else self.store.read_open(ids, now)
        for front in self.fronts:
            scan.heard(front.unshown(scan.open))
        for request_id in scan.stuck:
            log.warning(
                "stuck apply found outside the lease index",
                extra={"event": "apply.rescued", "request": request_id},
            )
            self.store.track_lease(request_id, now)
        return scan

    def measure(self, now: float | None = None) -> None:
        """Pending count and sweep lag, for the on-call engineer's dashboard (set by the worker
        on each sweep and by the web app on each scrape, so /metrics has them either way)."""
        now = timestamp() if now is None else now
        redis = self.redis
        metrics.PENDING.set(redis.zcard(self.store.index("open")))
        oldest = [
            score
            for name in ("due", "leases")
            for _, score in redis.zrange(self.store.index(name), 0, 0, withscores=True)
        ]
        metrics.SWEEP_LAG.set(max([now - s for s in oldest if s <= now], default=0.0))
