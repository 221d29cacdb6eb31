"""Apply: the MySafe call of an approved request, made by whoever holds its lease.

The steps, each guarding against a race with another process: hold the entry (one apply per
entry at a time), fence (the lease and the requester's key are still good), write, read back
(what MySafe shows is what counts), create at most once across attempts, and schedule a
time-bound share's end before the request is recorded applied. Split from `Engine`, which
keeps the decisions that lead here and hands this class only what it uses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from app.accounts.linked_keys import Vault
from app.approvals.access import AccessBook
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import (
    Change,
    Verb,
    final_body,
    read_entry,
    spec_of,
    unmet,
    write_entry,
)
from app.approvals.decision import Decision, Event, Steps
from app.approvals.entry_locks import EntryLock, EntryLocks
from app.approvals.given import GivenBook
from app.approvals.grants import Grant, granted, merged, named
from app.approvals.in_force import RulesInForce
from app.approvals.ledger import Ledger, Plan, apply_write
from app.approvals.machine import Action, Outcome
from app.approvals.revokes import RevokeStore
from app.approvals.store import ApprovalStore
from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.crypto import Keyring
from app.foundations.errors import (
    BotError,
    CredentialsMissing,
    EntryBusy,
    LeaseLost,
    MySafeError,
    NotApplied,
    OutcomeNotRecorded,
    PolicyOutOfDate,
)
from app.mysafe.client import UserClient
from app.mysafe.models import Entry, Kind, ListItem, WriteResult
from app.mysafe.transport import deadline

log = logging.getLogger(__name__)

#: Seconds of its lease an apply keeps in hand: no MySafe call may end later than this before
#: the lease does, so a write never lands after a take-over could have started.
LEASE_SAFETY = 1.0
#: The longest an apply waits for another apply on the same entry before handing itself to
#: the worker's next pass (it never fails for that reason).
ENTRY_WAIT = 30.0


class Applier:
    """Makes the MySafe call for a request whose lease its caller holds, and records the end."""

    def __init__(
        self,
        *,
        store: ApprovalStore,
        locks: EntryLocks,
        access: AccessBook,
        given: GivenBook,
        revokes: RevokeStore,
        in_force: RulesInForce,
        vault: Vault,
        keyring: Keyring,
        client_for: Callable[[str], UserClient],
        steps: Steps,
    ) -> None:
        self.store = store
        self.locks = locks
        self.access = access
        self.given = given
        self.revokes = revokes
        self.in_force = in_force
        self.vault = vault
        self.keyring = keyring
        self.client_for = client_for
        self.steps = steps

    def apply(self, request_id: str, lease: str, *, request: ChangeRequest | None = None) -> Decision:
        """Make the MySafe call for a request this caller holds the lease on, record the end.

        `request` is the copy the caller read right after taking the lease, if it has one.
        A process whose rules went out of date meanwhile writes nothing: the lease runs out
        and a process with the rules in force takes the apply over."""
        try:
            self.in_force.check()
        except PolicyOutOfDate:
            return Decision(self.steps.get(request_id), Outcome.APPLY)
        request = request or self.steps.get(request_id)
        try:
            outcome, ended = self._call_mysafe(request, lease)
        except EntryBusy:
            return self._queue(request, lease)
        except LeaseLost as error:
            log.warning(
                "apply stopped before writing: lease lost",
                extra={"event": "apply.stale", "request": request_id, "why": str(error)},
            )
            return Decision(self.steps.get(request_id), Outcome.APPLY)
        except (MySafeError, BotError) as error:
            detail = error.in_words() if isinstance(error, MySafeError) else str(error)
            result = self.steps.audited(
                request_id,
                Action.FINISH,
                actor="bot",
                now=timestamp(),
                facts={"error": detail[:500], **_subject(request.change)},
                lease=lease,
                outcome="failed",
                error=detail[:500],
            )
            event = Event.FAILED
        else:
            summary: dict[str, Any] = {
                "message": outcome.message,
                "shared_error": list(outcome.shared_error),
                "identifier": outcome.entry.identifier if outcome.entry else None,
                **ended,
            }
            facts = {
                "message": outcome.message,
                "shared_error": "; ".join(outcome.shared_error),
                **_subject(request.change),
            }
            try:
                result = self.steps.audited(
                    request_id,
                    Action.FINISH,
                    actor="bot",
                    now=timestamp(),
                    facts=facts,
                    lease=lease,
                    outcome="applied",
                    result=json.dumps(summary),
                )
            except redis.RedisError as error:
                log.error(
                    "applied in MySafe, not recorded",
                    extra={
                        "event": "apply.unrecorded",
                        "request": request_id,
                        "error": type(error).__name__,
                    },
                )
                raise OutcomeNotRecorded(OutcomeNotRecorded.user_message) from error
            event = Event.APPLIED
        request = self.steps.get(request_id)
        decision = Decision(request, result.status)
        if result.status is not Outcome.OK:  # lease taken over meanwhile: the new holder reports
            log.warning(
                "apply result dropped: lease lost",
                extra={"event": "apply.stale", "request": request_id},
            )
            return decision
        self.store.drop_lease(request_id)
        metrics.REQUESTS.labels(verb=request.change.verb.value, outcome=event).inc()
        self.steps.settle(request)
        self.steps.tell(request, event)
        return decision

    def _schedule_end(self, request: ChangeRequest, grant: Grant) -> dict[str, Any]:
        """Schedule a time-bound share's end before the request is recorded applied, so a share
        MySafe took always has one, whatever happens to this process next. An extension
        carries the grant of the share it extends, then takes over its end: in that order, so
        a crash between the two ends the access early, never leaves it without an end.

        Called while the apply still holds the entry: a revoke of the extended share writes
        under the same lock, so it has either written already (this apply read the entry after
        it, and its grant gives back what that revoke took) or will find its end taken over at
        its last check and write nothing."""
        extends = request.change.extends
        earlier = self.revokes.get(extends) if extends else None
        if earlier is not None and earlier.supersedable:
            grant = merged(earlier.grant, grant)
        ends = self.revokes.schedule(request, grant, now=timestamp())
        if earlier is not None:
            self.revokes.supersede(extends, by=request.id)
        return {"ends": ends, "granted": [g.describe() for g in grant.items]}

    def _queue(self, request: ChangeRequest, lease: str) -> Decision:
        """Another apply held the entry too long: hand this one to the sweeper's next pass."""
        self.steps.audited(
            request.id,
            Action.YIELD,
            actor="bot",
            now=timestamp(),
            event="request.queued",
            facts={"why": "another change to the same entry is being applied"},
            lease=lease,
        )
        self.store.track_lease(request.id, timestamp())
        return Decision(self.steps.get(request.id), Outcome.APPLY)

    def _call_mysafe(self, request: ChangeRequest, lease: str) -> tuple[WriteResult, dict[str, Any]]:
        """The MySafe calls of one apply, none of them allowed to end after the lease does;
        with a time-bound share's scheduled end (empty for every other change)."""
        change = request.change
        client = self.client_for(request.requester)
        secrets = self._secrets(request)
        with deadline(self._monotonic(request.lease_until) - LEASE_SAFETY):
            if spec_of(change).creates:
                self._fence(request, lease, client)
                return self._create_once(client, request, secrets), {}
            return self._write_entry(client, request, lease, secrets)

    def _write_entry(
        self, client: UserClient, request: ChangeRequest, lease: str, secrets: Mapping[str, str]
    ) -> tuple[WriteResult, dict[str, Any]]:
        """Read → merge → write → read back, holding the entry, so two applies never overlap.

        An apply that finds its change already there writes nothing (a take-over whose first
        attempt landed); one whose write MySafe does not show is a failure, not "applied".
        Who holds what afterwards is kept in the entry's access records
        (`app.approvals.ledger`): decided here, before the write, from the entry just read,
        and kept only once the write landed; a write an earlier holder decided is settled
        first. A time-bound share holds every principal it names until its own end, even one
        already there (something else gave it, and may end first); a permanent share over a
        running one raises the base, so no earlier end takes it. A time-bound share's grant
        is kept on the request before the write, and its end scheduled before the entry is
        let go (see `_schedule_end`)."""
        change = request.change
        assert change.identifier is not None  # every verb but create names its entry
        left = request.lease_until - timestamp() - LEASE_SAFETY
        with (
            self.locks.hold(
                change.kind,
                change.identifier,
                lease=max(left, 0.0),
                wait=max(min(left / 2, ENTRY_WAIT), 0.0),
            ) as held,
            deadline(held.deadline - LEASE_SAFETY),
        ):
            current = read_entry(client, change)
            read = self.access.read(change.kind, change.identifier, named(change))
            ledger = read.settled(current, rotating=change.verb is Verb.ROTATE)
            plan = ledger.change(change, request.id, current)
            name = apply_write(request.id)
            if unmet(change, current) == []:
                self.access.save(
                    held, change.kind, change.identifier, read, ledger.done(name, plan.records)
                )
                outcome = WriteResult(message=self._in_place(change, plan), entry=current)
                grant = self._grant_kept(request, current) if change.time_bound else None
            else:
                grant = granted(change, current) if change.time_bound else None
                if grant is not None:
                    self.store.keep_grant(request.id, grant.dumps())
                deciding = self._decide_write(held, read, ledger, name, plan, change)
                outcome = self._write(client, request, lease, held, current, secrets)
                landed = deciding.done(name, plan.records)
                self.access.save(held, change.kind, change.identifier, deciding, landed)
            ended = self._schedule_end(request, grant) if grant is not None else {}
            self.given.record(request, at=timestamp(), until=float(ended.get("ends", 0.0)))
            return outcome, ended

    def _decide_write(
        self, held: EntryLock, read: Ledger, ledger: Ledger, name: str, plan: Plan, change: Change
    ) -> Ledger:
        """Keep the write decided before it is sent (one that changes someone's right): if this
        process dies after MySafe took it, the next holder of the entry tells it landed."""
        assert change.identifier is not None
        deciding = ledger.deciding(name, plan.pending()) if plan.moves else ledger
        self.access.save(held, change.kind, change.identifier, read, deciding)
        return deciding

    @staticmethod
    def _in_place(change: Change, plan: Plan) -> str:
        """What an apply that wrote nothing says; a permanent share over a time-bound one is
        the request's own: the access is kept for good when that share ends."""
        if change.verb is Verb.SHARE and not change.time_bound and plan.records:
            names = ", ".join(r.name for r in plan.records)
            return f"Already given in MySafe by a time-bound share; now kept for good: {names}"
        return "Already in place in MySafe; nothing was written"

    def _grant_kept(self, request: ChangeRequest, current: Entry) -> Grant:
        """The grant an earlier attempt kept before its write (what the principals had before
        it), or (none kept: nothing of ours was written) what this share holds from now."""
        kept = self.store.kept_grant(request.id)
        return Grant.loads(kept) if kept is not None else granted(request.change, current)

    def _write(
        self,
        client: UserClient,
        request: ChangeRequest,
        lease: str,
        held: EntryLock,
        current: Entry,
        secrets: Mapping[str, str],
    ) -> WriteResult:
        """The write of `_write_entry` and its read-back: what MySafe shows is what counts."""
        change = request.change
        assert change.identifier is not None
        if not held.still_held():
            raise LeaseLost("the entry lock ran out before the write")
        self._fence(request, lease, client)
        outcome = write_entry(client, change, final_body(change, current, secrets))
        after = read_entry(client, change)
        problems = unmet(change, after, reported=outcome.shared_error)
        if problems:
            raise NotApplied("MySafe accepted the change, but the entry shows: " + "; ".join(problems))
        return outcome

    def _fence(self, request: ChangeRequest, lease: str, client: UserClient) -> None:
        """The last checks before a write: this apply still holds the request's lease, and the
        requester is still linked with the key the call uses (`/mysafe logout` wins)."""
        if not self.store.fence(request.id, lease, now=timestamp(), margin=LEASE_SAFETY):
            raise LeaseLost("the request's lease ran out before the write")
        if self.vault.client_id(request.requester) != client.credentials.client_id:
            raise CredentialsMissing(
                "The requester unlinked their MySafe key before the change "
                "was written; nothing was changed."
            )

    @staticmethod
    def _monotonic(epoch: float) -> float:
        return time.monotonic() + (epoch - timestamp())

    def _create_once(
        self, client: UserClient, request: ChangeRequest, secrets: Mapping[str, str]
    ) -> WriteResult:
        """A create is re-applied only after checking it did not already happen."""
        change = request.change
        if request.attempts > 1:
            existing = self._find_created(client, request)
            if existing is not None:
                return WriteResult(message="Already created by an earlier attempt", entry=existing)
        return client.create(change.kind, final_body(change, None, secrets))

    def _find_created(self, client: UserClient, request: ChangeRequest) -> Entry | None:
        """The entry an earlier attempt of this create made: same name (or identifier code)
        and not among those that already existed when the request was made."""
        ours = [i for i in same_name(client, request.change) if i.identifier not in request.preexisting]
        return client.get(request.change.kind, ours[0].identifier) if ours else None

    def _secrets(self, request: ChangeRequest) -> dict[str, str]:
        if not request.encrypted_secrets:
            return {}
        return json.loads(self.keyring.decrypt(request.encrypted_secrets))


def _subject(change: Change) -> dict[str, str]:
    """What an outcome's record says it was about, for a SIEM (app.audit.sinks.ocsf maps a
    share or a disable by these): the verb, the entry and who gained or lost access."""
    users = [u.username for u in change.add_users] + list(change.remove_users)
    groups = [g.name for g in change.add_groups] + list(change.remove_groups)
    return {
        "verb": change.verb.value,
        "kind": change.kind.value,
        "entry": str(change.identifier or ""),
        "users": ",".join(users),
        "groups": ",".join(groups),
        "edit": "yes"
        if any(u.can_edit for u in change.add_users) or any(g.can_edit for g in change.add_groups)
        else "",
    }


def same_name(client: UserClient, change: Change) -> list[ListItem]:
    """The entries of `change`'s kind that carry its name (or a secret's identifier code):
    what a create must not mistake for its own, at submission and at a retry."""
    code = change.fields.get("identifier_code")
    if change.kind is Kind.SECRET and code:
        return client.list_entries(Kind.SECRET, identifier_code=code)
    name = change.fields.get("name", "")
    return [i for i in client.list_entries(change.kind, name=name) if i.name == name]
