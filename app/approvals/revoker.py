"""The worker's revokes: each time-bound share ended once, with its owner's key, and proven.

The end's write itself (decided from the access records, kept before it is sent, sent once) is
`EndWriter`'s (app.approvals.end_writes). One that cannot be made is retried with backoff, and
listeners are told after each failure, so people see it until it succeeds or an approver gives
up.

Each end is then proven by reading the entry back as the owner (`app.approvals.revoke_proof`):
audited `share.revoke_verified`, or `share.drift_detected` with what the entry still gives a
grantee (access given again by hand meanwhile), kept on the record as `drift` and told to the
listeners. A `rotate-after` write is proven inside the end itself, by SHA-256 digests of the
password before the write, after it and sent: one that did not land is retried like any failed
end, one that did is audited `share.rotate_verified`.

Split from the record and its store (app.approvals.revokes); handed the engine's parts it uses,
never the engine (`Engine.new_revoker` builds one), so nothing here imports the engine.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from secrets import token_hex

from app.accounts.linked_keys import Vault
from app.approvals.access import AccessBook
from app.approvals.approvers import Approvers
from app.approvals.audit import Audit
from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Get
from app.approvals.end_writes import EndWriter
from app.approvals.entry_locks import EntryLocks
from app.approvals.grants import Grant
from app.approvals.ledger import end_write
from app.approvals.revoke_proof import drift
from app.approvals.revokes import (
    ENDED,
    Answer,
    Revoke,
    RevokeEvent,
    RevokeListener,
    RevokeOutcome,
    RevokeStore,
    tell_revoke,
)
from app.approvals.store import ApprovalStore
from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.crypto import Keyring
from app.foundations.errors import (
    ApprovalError,
    BotError,
    CredentialsMissing,
    MySafeError,
)
from app.foundations.settings import Settings
from app.i18n import _
from app.mysafe.client import UserClient

log = logging.getLogger(__name__)

#: Retry backoff: the first retry after `RETRY_BASE` seconds, doubling up to `RETRY_CAP`.
RETRY_BASE = 30.0
RETRY_CAP = 1800.0
#: Seconds a worker waits before looking again at a revoke whose apply is not recorded yet.
WAIT_FOR_APPLY = 30.0
#: `Engine.submit`: a new request (an extension is one), validated and stored.
Submit = Callable[..., ChangeRequest]


class Revoker:
    """Runs due revokes with the owner's key; tells `listeners` (revoked, revoke_failed)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: RevokeStore,
        requests: ApprovalStore,
        access: AccessBook,
        locks: EntryLocks,
        audit: Audit,
        keyring: Keyring,
        vault: Vault,
        client_for: Callable[[str], UserClient],
        get: Get,
        submit: Submit,
        approvers: Approvers,
        listeners: list[RevokeListener] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.store = store
        self.requests = requests
        self.access = access
        self.audit = audit
        self.vault = vault
        self.client_for = client_for
        self.get = get
        self.submit = submit
        self.approvers = approvers
        self.listeners = listeners if listeners is not None else []
        self.jitter = jitter
        #: The end's one write, as the owner (app.approvals.end_writes).
        self.writer = EndWriter(
            settings=settings, store=store, access=access, locks=locks, audit=audit, keyring=keyring
        )

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
                self._tell(request_id, RevokeEvent.REMINDER)
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
        until = now + self.settings.apply_lease
        status, when = self.store.claim(request_id, now=now, lease=lease, lease_until=until)
        if status is RevokeOutcome.CLAIMED:
            self.store.reindex(request_id, until)  # found again if this worker dies
            self.run(request_id, lease, now=now, until=until)
            return 1
        if status in (RevokeOutcome.LATER, RevokeOutcome.BUSY):
            self.store.reindex(request_id, float(when))
        elif status is RevokeOutcome.WAIT:
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
            client = self.client_for(revoke.owner)
            taken = self.writer.take_back(revoke, client, lease, now=now, until=until)
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
        self.access.forget(revoke.kind, revoke.identifier, end_write(request_id))
        self.store.unindex(request_id)
        # The request's version moves on (its message says "ended"): the fronts hear of it as
        # `REVOKED` and bring their messages up to date.
        self.store.mark_ended(request_id, now=now)
        metrics.REVOKES.labels(outcome="done").inc()
        self.audit.record(
            "revoke.done",
            request=request_id,
            actor="worker",
            entry=f"{revoke.kind.value}:{revoke.identifier}",
            removed="; ".join(removed) or "nothing to write",
            kept="; ".join(kept),
            attempts=revoke.attempts,
            rotated="yes" if revoke.rotate_after else "",
        )
        self._tell(request_id, RevokeEvent.REVOKED)
        self._prove(revoke, client)

    def _prove(self, revoke: Revoke, client: UserClient) -> None:
        """Read the entry back after the end and say whether it shows what the end left: an end
        that holds only on the bot's word is not proof. A read that fails is audited too."""
        entry_id = f"{revoke.kind.value}:{revoke.identifier}"
        try:
            entry = client.get(revoke.kind, revoke.identifier)
        except (MySafeError, BotError) as error:
            detail = error.describe() if isinstance(error, MySafeError) else str(error)
            self.audit.record(
                "share.revoke_unverified",
                request=revoke.request_id,
                actor="worker",
                entry=entry_id,
                error=detail[:300],
            )
            return
        keys = [g.key for g in revoke.grant.items]
        ledger = self.access.read(revoke.kind, revoke.identifier, keys).settled(entry)
        found = drift(revoke.request_id, revoke.grant, entry, ledger)
        if not found:
            self.audit.record(
                "share.revoke_verified",
                request=revoke.request_id,
                actor="worker",
                entry=entry_id,
                checked=", ".join(g.describe() for g in revoke.grant.items) or "nobody",
            )
            return
        self.store.set_drift(revoke.request_id, found)
        metrics.REVOKES.labels(outcome="drift").inc()
        self.audit.record(
            "share.drift_detected",
            request=revoke.request_id,
            actor="worker",
            entry=entry_id,
            differs="; ".join(found),
        )
        self._tell(revoke.request_id, RevokeEvent.DRIFT_DETECTED)

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
        self.audit.record(
            "revoke.failed",
            request=revoke.request_id,
            actor="worker",
            attempt=attempt,
            error=detail[:300],
            retry_at=int(next_at),
        )
        self._tell(revoke.request_id, RevokeEvent.REVOKE_FAILED)

    def revoke_now(self, request_id: str, actor: str, *, now: float | None = None) -> Answer:
        """The owner ends the share at once; 'ok' once it ran (or will be retried), else why
        not: 'not_owner', 'missing', or the state it is in."""
        now = timestamp() if now is None else now
        status = self.store.revoke_now(request_id, actor=actor, now=now)
        if status is not RevokeOutcome.OK:
            return status
        self.audit.record("revoke.now", request=request_id, actor=actor)
        self.store.reindex(request_id, now)
        self._one(request_id, now)
        return status

    def end_now(self, request_id: str, actor: str, *, why: str, now: float | None = None) -> Answer:
        """End a share at once on someone else's word than its owner's (a break-glass judged
        not justified): as `revoke_now`, with the owner's key, audited as `actor`'s."""
        now = timestamp() if now is None else now
        revoke = self.store.get(request_id)
        if revoke is None:
            return RevokeOutcome.MISSING
        status = self.store.revoke_now(request_id, actor=revoke.owner, now=now)
        if status is not RevokeOutcome.OK:
            return status
        self.audit.record("revoke.now", request=request_id, actor=actor, why=why)
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
        original = self.get(request_id)
        change = replace(original.change, extends=request_id)
        reason = f"extends {request_id}" + (f": {original.reason}" if original.reason else "")
        try:
            request = self.submit(
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
        self.audit.record("revoke.extend_asked", request=request_id, actor=actor, by=request.id)
        return request

    def give_up(self, request_id: str, actor: str) -> Answer:
        """An approver of the rule the share was approved under stops a failing revoke's
        retries; 'ok', or why not: 'not_approver', 'beneficiary', or the state that refused
        it. A grantee never may: giving up would let her keep the access."""
        if not self.approvers.listed(actor, self._share_approvers(request_id)):
            return RevokeOutcome.NOT_APPROVER
        if self._gains(request_id, actor):
            return RevokeOutcome.BENEFICIARY
        status = self.store.give_up(request_id, actor=actor, now=timestamp())
        if status is RevokeOutcome.OK:
            metrics.REVOKES.labels(outcome="given_up").inc()
            self.audit.record("revoke.given_up", request=request_id, actor=actor)
            self._tell(request_id, RevokeEvent.REVOKE_GIVEN_UP)
        return status

    def _share_approvers(self, request_id: str) -> frozenset[str]:
        """The approvers of the rule a time-bound share was approved under: kept on its revoke
        record (a failing end may outlive the request's own record), else on the request
        (records scheduled before they were kept there), else the settings' one rule."""
        revoke = self.store.get(request_id)
        if revoke is not None and revoke.approvers:
            return revoke.approvers
        request = self.requests.get(request_id)
        return (request.approvers if request else frozenset()) or self.settings.approvers

    def _gains(self, request_id: str, actor: str) -> bool:
        """Whether `actor` is among the share's grantees: mentioned (Slack ID), or given access
        under a MySafe name that is theirs, confirmed or only claimed (a claim may count
        against its claimant)."""
        revoke = self.store.get(request_id)
        if revoke is None:
            return False
        names = {n.casefold() for n in self.vault.usernames(actor) if n}  # one read
        grantees = {g.name.casefold() for g in revoke.grant.items if not g.is_group}
        return actor in revoke.notify or bool(names & grantees)

    def _tell(self, request_id: str, event: RevokeEvent) -> None:
        revoke = self.store.get(request_id)
        if revoke is None:
            return
        for listener in self.listeners:
            try:
                tell_revoke(listener, revoke, event)
            except Exception:  # noqa: BLE001 - Slack being down must not undo a revoke
                log.exception(
                    "revoke listener failed",
                    extra={"event": "listener.error", "request": request_id, "what": event},
                )
