"""The approval engine: submit, decide, apply, expire — the one place change requests move.

Slack, the webhook and the MCP front call these methods and know nothing of Redis. Each
decision is one atomic transition in `ApprovalStore`; the engine adds what needs MySafe
(reading the entry at submission, computing and sending the body at apply time), the audit
trail, and `listeners` — callbacks the Slack side uses to update its message and tell people.

Rules enforced here and in the store's script: only approvers decide; the requester never
approves, denies or retries their own request and alone may cancel it; one person counts once;
exactly one caller wins `approved -> applying` and makes the MySafe call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from secrets import token_hex
from typing import Any

import redis

from app import metrics
from app.accounts.passkeys import Passkeys
from app.approvals.access import AccessBook
from app.approvals.audit import Audit
from app.approvals.break_glass import BreakGlass, Evidence
from app.approvals.changes import (
    Change,
    Verb,
    check,
    check_against,
    diff,
    final_body,
    read_entry,
    spec_of,
    unmet,
    write_entry,
)
from app.approvals.disabled import DisabledEntries
from app.approvals.entry_locks import EntryLock, EntryLocks
from app.approvals.given import GivenBook
from app.approvals.grants import Grant, granted, merged, named
from app.approvals.in_force import RulesInForce
from app.approvals.ledger import Ledger, Plan, apply_write
from app.approvals.outbox import Outbox
from app.approvals.policy import PolicyBook, Rule, Subject
from app.approvals.reminders import Nudge, Reminders
from app.approvals.revokes import Revoke, RevokeStore
from app.approvals.stepup import StepUp
from app.approvals.store import (
    Action,
    ApprovalStore,
    ChangeRequest,
    OpenScan,
    Outcome,
    State,
    Transition,
)
from app.clock import timestamp
from app.durations import describe
from app.errors import (
    ApprovalError,
    Beneficiary,
    BotError,
    CredentialsMissing,
    EntryBusy,
    Ineligible,
    InvalidTransition,
    LeaseLost,
    MySafeError,
    NotAnApprover,
    NotApplied,
    NotPosted,
    NotRequester,
    OutcomeNotRecorded,
    PolicyOutOfDate,
    RequestNotFound,
    SelfApproval,
    StepUpStale,
    ValidationError,
)
from app.mysafe.client import UserClient
from app.mysafe.models import Entry, Kind, ListItem, WriteResult
from app.mysafe.transport import deadline
from app.services import Services

log = logging.getLogger(__name__)

Listener = Callable[[ChangeRequest, str], None]
#: Takes the telling of these expiries (`Engine.tell_expired`) to durable work, or raises.
HandOff = Callable[[Sequence[str]], None]
#: Why a person may neither request nor approve (a guest, another organisation, a deactivated
#: account, a bot), or None when they may: the chat front knows, the engine asks.
Standing = Callable[[str], str | None]

#: Seconds of its lease an apply keeps in hand: no MySafe call may end later than this before
#: the lease does, so a write never lands after a take-over could have started.
LEASE_SAFETY = 1.0
#: The longest an apply waits for another apply on the same entry before handing itself to
#: the worker's next pass (it never fails for that reason).
ENTRY_WAIT = 30.0
#: Expiries whose listeners (Slack's message update, the requester's DM) one `tell_expired`
#: call tells at once: each is a round trip to Slack, so 10,000 expiries one after another
#: took 17 s. Slack's rate-limit answers are waited out by slack-sdk's retry handler.
SWEEP_TELLERS = 4
#: Requests a sweep expires per round trip (see `Engine._expire_due`), and hands off at once.
SWEEP_BATCH = 100
#: Seconds the listeners are given to hear of an expiry once it is handed off, or once a
#: teller claimed it, before the sweep hands it off again (its job or its teller was lost).
TELL_WITHIN = 300.0
#: Claims of an expiry's news after which, no listener having taken it (a message deleted in
#: Slack, a channel archived), it is given up and logged: about an hour of tries.
TELL_TRIES = 10

_REFUSALS: dict[Outcome, type[ApprovalError]] = {
    Outcome.SELF: SelfApproval,
    Outcome.NOT_APPROVER: NotAnApprover,
    Outcome.NOT_REQUESTER: NotRequester,
    Outcome.BENEFICIARY: Beneficiary,
    Outcome.STEP_UP_STALE: StepUpStale,
}
_SECRETS_FIELD = "secrets"
BREAK_GLASS_WHY = "break-glass: the requester was on call (see break_glass.opened)"


@dataclass(frozen=True)
class Decision:
    """What a click did: `changed` is False when it was answered with the current state only."""

    request: ChangeRequest
    status: Outcome

    @property
    def changed(self) -> bool:
        return self.status.changed


def beneficiaries(change: Change, notify: Sequence[str]) -> list[str]:
    """Everyone a request gives access to, as the click check compares them: the MySafe
    usernames it shares with (casefolded) and the Slack IDs of the people mentioned.

    Members of a shared *group* cannot be listed: MySafe's API does not expose membership."""
    if not spec_of(change).grants:
        return []
    return [*(u.username.casefold() for u in change.add_users), *notify]


class Engine:
    def __init__(self, services: Services, *, listeners: list[Listener] | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.store = ApprovalStore(services.redis, prefix=self.settings.key_prefix)
        self.locks = EntryLocks(services.redis, prefix=self.settings.key_prefix)
        self.audit = Audit(services.redis, prefix=self.settings.key_prefix)
        self.outbox = Outbox(services.redis, prefix=self.settings.key_prefix, audit=self.audit)
        self.listeners = listeners if listeners is not None else []
        self.revokes = RevokeStore(services.redis, prefix=self.settings.key_prefix)
        self.access = AccessBook(
            services.redis, prefix=self.settings.key_prefix, longest=self.settings.max_share_duration
        )
        #: Which applied request gave each principal their access (`/mysafe access`).
        self.given = GivenBook(services.redis, prefix=self.settings.key_prefix)
        self.policy = PolicyBook(self.settings, audit=self.audit)
        #: Step-up with a passkey (a rule's `step_up`): links, challenges, verification.
        self.stepup = StepUp(
            services.redis,
            prefix=self.settings.key_prefix,
            public_url=self.settings.public_url,
            passkeys=Passkeys(services.redis, prefix=self.settings.key_prefix),
        )
        #: Whether this process's rules are the deployment's in force: else it decides nothing.
        self.in_force = RulesInForce(services.redis, prefix=self.settings.key_prefix, book=self.policy)
        self.reminders = Reminders(services.redis, prefix=self.settings.key_prefix)
        self.break_glass = BreakGlass(
            services.redis,
            prefix=self.settings.key_prefix,
            per_day=self.settings.break_glass_per_day,
            on_call=services.on_call.on_call if services.on_call is not None else None,
            people=dict(self.settings.on_call_people),
        )
        #: Entries disabled through the bot; the assembly makes it a listener (app.runtime).
        self.disabled = DisabledEntries(services.redis, prefix=self.settings.key_prefix)
        #: Set by the assembly when a chat front can say who someone is (app.runtime).
        self.standing: Standing | None = None
        #: Set by the assembly when durable work (app.slack.front's jobs) tells the listeners
        #: of the sweep's expiries; None: the sweep tells them itself before it returns.
        self.hand_off: HandOff | None = None

    # --- submit ------------------------------------------------------------------------------

    def submit(self, change: Change, **options: Any) -> ChangeRequest:
        """`submit_once`, for callers that do not care whether the request is new."""
        return self.submit_once(change, **options)[0]

    def submit_once(
        self, change: Change, *, requester: str, source: str = "slack", **options: Any
    ) -> tuple[ChangeRequest, bool]:
        """`_submit_once`, with each refusal audited once with its reason: a request refused
        before anything is stored is a security act too (someone asked for what they may not
        have). Ineligible and NotPosted are audited where they are raised."""
        try:
            return self._submit_once(change, requester=requester, source=source, **options)
        except (Ineligible, NotPosted):
            raise
        except BotError as error:
            self._refused(change, requester=requester, source=source, error=error)
            raise

    def _refused(self, change: Change, *, requester: str, source: str, error: BotError) -> None:
        why = error.describe() if isinstance(error, MySafeError) else str(error)
        self.audit.record(
            "request.refused",
            actor=requester,
            verb=change.verb.value,
            kind=change.kind.value,
            entry=change.identifier or "",
            channel=source,
            why=(why or type(error).__name__)[:300],
        )

    def _submit_once(
        self,
        change: Change,
        *,
        requester: str,
        secrets: Mapping[str, str] | None = None,
        reason: str = "",
        ticket: Mapping[str, str] | None = None,
        source: str = "slack",
        idempotency_key: str | None = None,
        notify: Sequence[str] = (),
        people: Mapping[str, str] | None = None,
        emergency: bool = False,
    ) -> tuple[ChangeRequest, bool]:
        """Validate, read the entry as the requester (so 1005/1006/1009 are told now), store.

        Raises `ValidationError`, `CredentialsMissing` or a `MySafeError`; nothing is stored
        then. With an `idempotency_key` seen before, returns that earlier request unchanged
        (and False: nothing new was made).
        `notify` lists Slack IDs to tell when the change is applied (the people shared with);
        `people` maps the MySafe usernames of people named by a mention to their Slack IDs, so
        messages name them as the chat does. `emergency` asks for break-glass: applied at once
        if every guard of `app.approvals.break_glass` lets it through, else refused.
        """
        secrets = dict(secrets or {})
        check(change, secrets, max_duration=self.settings.max_share_duration)
        if idempotency_key:
            earlier = self.find(idempotency_key)
            if earlier is not None:
                return earlier, False
        rules = self.in_force.check()  # the rule chosen below must be the deployment's
        client = self.client_for(requester)
        current = read_entry(client, change) if change.identifier else None
        rule = self.rule_for(change, current, requester=requester, source=source)
        rule.refuse_missing(reason=reason, ticket=ticket)
        evidence = None
        if emergency:
            change, evidence = self.break_glass.admit(
                change, rule, requester=requester, source=source, reason=reason
            )
        else:
            rule.refuse_duration(change.duration or None)
        self.refuse_ineligible(requester, action="request")
        lines = diff(change, current, secrets)
        check_against(change, current, lines)
        if current is not None:
            self._check_may_write(client, current)
        # A create's retry must recognise only the entry *it* made: remember what already
        # carries the same name (or identifier code) now, before anything is created.
        preexisting = (
            [e.identifier for e in self._same_name(client, change)] if spec_of(change).creates else []
        )
        now = timestamp()
        if evidence is not None:  # counted last: a refusal above takes none of today's
            evidence = self.break_glass.count(requester, evidence, now=now)
        expires = now + self.settings.request_ttl
        fields = {
            "change": json.dumps(change.to_json()),
            "diff": json.dumps([line.to_json() for line in lines]),
            "entry_name": self._entry_name(change, current),
            "state": State.PENDING.value,
            "requester": requester,
            "requester_name": self._display_name(requester),
            "reason": reason[:500],
            "ticket": json.dumps(dict(ticket or {})),
            "source": source,
            "created": repr(now),
            "expires": repr(expires),
            "required": str(rule.approvals),
            "rule": rule.name,
            "policy_version": str(rules.version),
            "policy": rules.digest,
            "approvers": json.dumps(sorted(rule.approvers)),
            "rule_channel": rule.channel,
            "remind_after": str(rule.remind_after or 0),
            "escalate_to": json.dumps(list(rule.escalate_to)),
            "step_up": rule.step_up,
            "step_up_max_age": str(rule.step_up_max_age if rule.step_up else 0),
            "requester_ids": json.dumps(self._known_as(requester)),
            "attempts": "0",
            "notify": json.dumps(list(notify)[:50]),
            "people": json.dumps({name.casefold(): who for name, who in (people or {}).items()}),
            "beneficiaries": json.dumps(beneficiaries(change, notify)),
            "preexisting": json.dumps(preexisting),
        }
        if evidence is not None:
            fields["required"] = "0"
            fields["break_glass"] = json.dumps(evidence.to_json())
        if secrets:
            fields[_SECRETS_FIELD] = self.services.keyring.encrypt(json.dumps(secrets)).decode()
        request_id, created = self.store.create(
            fields, requester=requester, created=now, expires=expires, idempotency_key=idempotency_key
        )
        request = self.get(request_id)
        if created:
            if rule.approvals and evidence is None:
                self.reminders.schedule(
                    request_id,
                    created=now,
                    remind_after=rule.remind_after,
                    escalate_after=rule.escalate_after,
                )
            self.audit.record(
                "request.created",
                request=request_id,
                actor=requester,
                verb=change.verb.value,
                kind=change.kind.value,
                entry=change.identifier or "",
                channel=source,
                reason=reason[:200],
                ticket=(ticket or {}).get("key", ""),
            )
            metrics.REQUESTS.labels(verb=change.verb.value, outcome="created").inc()
            if evidence is not None:
                self._open_break_glass(request, evidence)
            try:
                self._tell(request, "created")
            except NotPosted as error:
                self._withdraw(request, idempotency_key, str(error))
                raise
            if evidence is not None:
                request = self._apply_at_once(request, rule, why=BREAK_GLASS_WHY).request
                self._review_break_glass(request, rule, now=now)
            elif rule.approvals == 0:
                request = self._apply_at_once(request, rule).request
        return request, created

    def _open_break_glass(self, request: ChangeRequest, evidence: Evidence) -> None:
        """Audited apart from every other request, with the on-call evidence."""
        self.audit.record(
            "break_glass.opened",
            request=request.id,
            actor=request.requester,
            rule=evidence.rule,
            provider=evidence.provider,
            schedule=evidence.schedule,
            on_call=",".join(evidence.on_call),
            matched=evidence.matched,
            checked=datetime.fromtimestamp(evidence.checked, UTC).isoformat(timespec="seconds"),
            today=evidence.count,
            duration=request.change.duration,
            reason=request.reason[:200],
        )

    def _review_break_glass(self, request: ChangeRequest, rule: Rule, *, now: float) -> None:
        """Open the review the rule's approvers owe, and tell (loudly) that it was opened."""
        assert rule.break_glass is not None
        review = self.break_glass.open_review(request.id, rule.break_glass, rule, now=now)
        self.break_glass.tell(request, review, "opened")

    def _entry_name(self, change: Change, current: Entry | None) -> str:
        """The name approvers read: MySafe shows nothing of a disabled entry, not even that,
        so it comes from what the bot remembered when it disabled it (`self.disabled`)."""
        if current is None:
            return change.fields.get("name", "")
        if current.active:
            return current.name
        known = self.disabled.get(current.kind, current.identifier)
        return known.name if known else ""

    def rule_for(self, change: Change, current: Entry | None, *, requester: str, source: str) -> Rule:
        """The policy rule this change meets (the first that matches, see app.approvals.policy)."""
        return self.policy.current.choose(
            self.subject(change, current, requester=requester, source=source)
        ).rule

    def subject(self, change: Change, current: Entry | None, *, requester: str, source: str) -> Subject:
        """What rules match on: the entry's tags as MySafe holds them (a create's own), the
        verb, kind and front, and who asks (Slack ID and trusted MySafe username)."""
        tags = current.tags if current is not None else change.fields.get("tags", "")
        name = self.services.vault.mysafe_username(requester)
        return Subject(
            verb=change.verb.value,
            kind=change.kind.value,
            source=source,
            tags=frozenset(t.strip().casefold() for t in tags.split(",") if t.strip()),
            requester=frozenset(filter(None, (requester, name and name.casefold()))),
        )

    def _apply_at_once(
        self, request: ChangeRequest, rule: Rule, *, why: str = "the policy rule needs no approval"
    ) -> Decision:
        """`approvals: 0` (or break-glass): nobody needs to click; the bot applies it now."""
        lease = self._new_lease()
        self.store.track_lease(request.id, lease["lease_until"])
        result = self._audited(
            request.id,
            Action.AUTO,
            actor="bot",
            now=timestamp(),
            event="request.auto_approved",
            facts={"rule": rule.name, "why": why},
            **lease,
        )
        if result.status is not Outcome.APPLY:
            return Decision(self.get(request.id), result.status)
        self.outbox.move(request.id)
        applying = self.get(request.id)
        self._tell(applying, "applying")
        return self.apply(request.id, str(lease["lease"]), request=applying)

    def refuse_ineligible(self, slack_id: str, *, action: str, request_id: str = "") -> None:
        """Guests, other organisations, deactivated accounts and bots neither request nor
        decide: `Ineligible` (audited), before anything is stored or counted."""
        why = self.standing(slack_id) if self.standing is not None else None
        if why is None:
            return
        self.audit.record(
            "click.refused" if request_id else "request.refused",
            request=request_id,
            actor=slack_id,
            action=action,
            why=why,
        )
        raise Ineligible(why)

    @staticmethod
    def _check_may_write(client: UserClient, current: Entry) -> None:
        """Refuse now what MySafe would refuse after the approver's click (1006): the entry is
        read with the requester's own key, and its list item says whether that key may edit.
        An entry the list does not show (filters differ between versions) is not refused here;
        MySafe still refuses it at apply."""
        filters = {"name": current.name} if current.kind is Kind.PASSWORD else {}
        items = client.list_entries(current.kind, **filters)
        item = next((i for i in items if i.identifier == current.identifier), None)
        if item is not None and not item.can_write:
            raise ValidationError(
                {
                    "entry": (
                        f"You can only view {current.kind.label} {current.identifier} in MySafe, so "
                        "MySafe would refuse this change after an approver's click: ask its owner, or "
                        "someone with edit access, to request it"
                    )
                }
            )

    def _withdraw(self, request: ChangeRequest, idempotency_key: str | None, why: str) -> None:
        """Take back a request no approver can see: final at once, its key free for a retry."""
        self._audited(
            request.id,
            Action.WITHDRAW,
            actor="bot",
            now=timestamp(),
            event="request.not_posted",
            facts={"why": why[:300]},
            why=why[:300],
        )
        if idempotency_key:
            self.store.release_claim(idempotency_key, request.id)
        self.outbox.move(request.id)
        self._settle(self.get(request.id))

    def find(self, key: str) -> ChangeRequest | None:
        """The request made earlier under this idempotency key, if any (a duplicate arriving
        while the first delivery is being stored waits for it)."""
        request_id = self.store.lookup(key)
        return self.store.get(request_id) if request_id else None

    # --- decisions ---------------------------------------------------------------------------

    def approve(self, request_id: str, actor: str, *, is_approver: bool) -> Decision:
        """Count one approval; the click that completes the count applies the change."""
        return self._decide_then_apply(request_id, Action.APPROVE, actor, is_approver=is_approver)

    def confirm(
        self,
        request_id: str,
        actor: str,
        *,
        clicked: str,
        is_approver: bool,
        credential: str,
        method: str = "passkey",
    ) -> Decision:
        """Count the approval of a click (`clicked`: its time, as the request records it)
        whose step-up the caller has verified; the script refuses a click no longer waited
        for (`StepUpStale`) and checks the approver again, as at the click. The audit record
        names the method, the credential's id and the time; never key material."""
        self.audit.record(
            "request.step_up_verified",
            request=request_id,
            actor=actor,
            method=method,
            credential=credential,
            clicked=clicked,
            at=repr(timestamp()),
        )
        return self._decide_then_apply(
            request_id, Action.CONFIRM, actor, is_approver=is_approver, clicked=clicked
        )

    def step_up_link(self, request: ChangeRequest, actor: str) -> str:
        """The one-time link on which `actor` confirms their click of `request` (see
        app.approvals.stepup): only for the click the request records as waiting."""
        clicked = request.confirming.get(actor)
        if not clicked:
            raise StepUpStale()
        return self.stepup.confirm_link(
            request=request.id, user=actor, clicked=clicked, max_age=request.step_up_max_age
        )

    def deny(self, request_id: str, actor: str, *, is_approver: bool, reason: str = "") -> Decision:
        """Settle the request as denied at once (the click itself decides; see `explain`)."""
        self._under_rules_in_force(request_id)
        return self._decide(
            request_id,
            Action.DENY,
            actor,
            approver=is_approver,
            ids=self._identities(actor)[1],
            reason=reason[:500],
        )

    def explain(self, request_id: str, actor: str, reason: str) -> Decision:
        """The denier's reason, added after their click denied the request."""
        result = self._audited(
            request_id,
            Action.REASON,
            actor=actor,
            now=timestamp(),
            event="request.deny_reason",
            facts={"reason": reason[:500]},
            reason=reason[:500],
        )
        if result.status is Outcome.MISSING:
            raise RequestNotFound(f"There is no change request {request_id}.")
        request = self.get(request_id)
        if result.status is Outcome.OK:
            self.outbox.move(request_id)
            self._tell(request, "reason")
        return Decision(request, result.status)

    def nudge(self, request_id: str, actor: str, *, again: bool = False) -> ChangeRequest:
        """The requester reminds the approvers now: at most once per the rule's `remind_after`
        (a Redis key set only if absent, expiring by itself, decides; several clicks, one
        reminder). `again`: the same click run again after a crash, which may have come
        between the key and the reminder; the reminder is sent again rather than lost."""
        request = self.get(request_id)
        if actor != request.requester:
            raise NotRequester("Only the person who asked can nudge the approvers.")
        if request.state is not State.PENDING:
            raise InvalidTransition(
                f"{request_id} is {request.state.value}; there is nobody left to nudge.",
                state=request.state.value,
            )
        if not request.remind_after:
            raise ApprovalError(f"The policy rule of {request_id} sets no reminders.")
        key = self.store.nudge_key(request_id)
        if again and self.services.redis.get(key) == actor:
            self._tell(request, Nudge.REMIND.value)
            return request
        if not self.services.redis.set(key, actor, nx=True, ex=request.remind_after):
            wait = max(int(self.services.redis.ttl(key)), 1)
            raise ApprovalError(
                f"You nudged the approvers of {request_id} recently; you can "
                f"again in {describe(max(wait - wait % 60, 60))}."
            )
        self.audit.record("request.nudged", request=request_id, actor=actor)
        self._tell(request, Nudge.REMIND.value)
        return request

    def cancel(self, request_id: str, actor: str) -> Decision:
        return self._decide(request_id, Action.CANCEL, actor)

    def retry(self, request_id: str, actor: str, *, is_approver: bool) -> Decision:
        """`failed -> applying` once per click, by an approver who is not the requester."""
        return self._decide_then_apply(request_id, Action.RETRY, actor, is_approver=is_approver)

    def _display_name(self, slack_id: str) -> str:
        """The requester's MySafe name for the message; a claimed one is marked as such."""
        vault = self.services.vault
        confirmed = vault.mysafe_username(slack_id)
        if confirmed:
            return confirmed
        claimed = vault.claimed_username(slack_id)
        return f"{claimed}, unconfirmed" if claimed else ""

    def _identities(self, actor: str) -> tuple[list[str], list[str]]:
        """Who the clicker is: as `beneficiaries` names people (Slack ID, MySafe usernames),
        and as the checks compare them (`slack:U…`, `mysafe:name`): two Slack accounts linked
        to one MySafe user are one person.

        A claimed name counts here as if it were confirmed, and also as a claim: it can only
        make its claimant refused or counted once with someone else (`_known_as` keeps it a
        claim in what is stored), never let them approve something they could not otherwise."""
        vault = self.services.vault
        names = [
            n.casefold() for n in (vault.mysafe_username(actor), vault.claimed_username(actor)) if n
        ]
        claimed = vault.claimed_username(actor)
        return [actor, *names], [
            *self._known_as(actor),
            *([f"mysafe:{claimed.casefold()}"] if claimed else []),
        ]

    def _known_as(self, person: str) -> list[str]:
        """What is stored of a person for later clicks to be compared with (a requester's ids,
        an approval's voters): the Slack ID, the confirmed MySafe name, and a claimed name only
        as a claim (`claim:name`). A clicker's claim matches a confirmed name here, but a
        stored claim never matches someone else's confirmed name: a requester typing Carol's
        name at login must not make Carol unable to decide on the request."""
        vault = self.services.vault
        confirmed, claimed = vault.mysafe_username(person), vault.claimed_username(person)
        return [
            f"slack:{person}",
            *([f"mysafe:{confirmed.casefold()}"] if confirmed else []),
            *([f"claim:{claimed.casefold()}"] if claimed else []),
        ]

    def gains_access(self, request: ChangeRequest, slack_id: str) -> bool:
        """Whether `request` gives `slack_id` access, as any of their identities: such a person
        may never approve it, so nobody asks them to."""
        names, _ = self._identities(slack_id)
        return bool(set(names) & set(beneficiaries(request.change, request.notify)))

    def _decide_then_apply(
        self, request_id: str, action: Action, actor: str, *, is_approver: bool, **extra: object
    ) -> Decision:
        """The one caller the script hands the lease to makes the MySafe call, at once.

        The lease is indexed *before* the script may grant it: a process that dies between
        the two steps leaves an index entry the sweeper prunes, never a lease nobody sees."""
        self._under_rules_in_force(request_id)
        lease = self._new_lease()
        self.store.track_lease(request_id, lease["lease_until"])
        names, ids = self._identities(actor)
        decision = self._decide(
            request_id,
            action,
            actor,
            approver=is_approver,
            identities=names,
            ids=ids,
            marks=self._known_as(actor),
            **lease,
            **extra,
        )
        if decision.status is Outcome.APPLY:
            return self.apply(request_id, str(lease["lease"]), request=decision.request)
        return decision

    def _under_rules_in_force(self, request_id: str) -> None:
        """Refuse the decision in a process whose rules are out of date (`PolicyOutOfDate`);
        else note on a request made under other rules that they changed since (its message
        says so). It is still decided under the rule it recorded, as every process would."""
        rules = self.in_force.check()
        self.store.note_rules_in_force(request_id, version=rules.version, digest=rules.digest)

    def _audited(
        self,
        request_id: str,
        action: Action,
        *,
        actor: str,
        now: float,
        event: str = "",
        facts: Mapping[str, object] | None = None,
        **arg: Any,
    ) -> Transition:
        """A transition whose record its own script writes to the request's outbox (named
        `event`, or as the script names the transition), so no kill can separate the two.
        The caller moves it into the log (`self.outbox.move`); a worker does if it dies."""
        audit = self.audit.fields(event, request=request_id, actor=actor, **(facts or {}))
        self.outbox.mark(request_id)
        return self.store.transition(request_id, action, actor=actor, now=now, audit=audit, **arg)

    def _decide(self, request_id: str, action: Action, actor: str, **arg: Any) -> Decision:
        """One click's transition, its record written by the same script (`_after` moves it)."""
        reason = str(arg.get("reason", "")) if action is Action.DENY else ""
        result = self._audited(
            request_id, action, actor=actor, now=timestamp(), facts={"reason": reason}, **arg
        )
        if result.status is Outcome.MISSING:
            raise RequestNotFound(f"There is no change request {request_id}.")
        if result.status in _REFUSALS:
            self.audit.record(
                "click.refused", request=request_id, actor=actor, action=action, why=result.status
            )
            raise _REFUSALS[result.status]()
        request = self.get(request_id)
        decision = Decision(request, result.status)
        self._after(decision, action, actor)
        return decision

    def _after(self, decision: Decision, action: Action, actor: str) -> None:
        request = decision.request
        if not decision.changed:
            self.audit.record(
                "click.ignored",
                request=request.id,
                actor=actor,
                action=action,
                state=request.state.value,
                why=decision.status,
            )
            return
        event = {
            Outcome.OK: action,
            Outcome.APPLY: "applying",
            Outcome.EXPIRED: "expired",
            Outcome.STEP_UP: "step_up_pending",
        }[decision.status]
        self.outbox.move(request.id)  # the transition wrote its record: into the log now
        self._settle(request)
        self._tell(request, event)

    # --- apply -------------------------------------------------------------------------------

    def _new_lease(self, now: float | None = None) -> dict[str, Any]:
        return {
            "lease": token_hex(8),
            "lease_until": (timestamp() if now is None else now) + self.settings.apply_lease,
        }

    def apply(self, request_id: str, lease: str, *, request: ChangeRequest | None = None) -> Decision:
        """Make the MySafe call for a request this caller holds the lease on, record the end.

        `request` is the copy the caller read right after taking the lease, if it has one.
        A process whose rules went out of date meanwhile writes nothing: the lease runs out
        and a process with the rules in force takes the apply over."""
        try:
            self.in_force.check()
        except PolicyOutOfDate:
            return Decision(self.get(request_id), Outcome.APPLY)
        request = request or self.get(request_id)
        try:
            outcome, ended = self._call_mysafe(request, lease)
        except EntryBusy:
            return self._queue(request, lease)
        except LeaseLost as error:
            log.warning(
                "apply stopped before writing: lease lost",
                extra={"event": "apply.stale", "request": request_id, "why": str(error)},
            )
            return Decision(self.get(request_id), Outcome.APPLY)
        except (MySafeError, BotError) as error:
            detail = error.in_words() if isinstance(error, MySafeError) else str(error)
            result = self._audited(
                request_id,
                Action.FINISH,
                actor="bot",
                now=timestamp(),
                facts={"error": detail[:500], **_subject(request.change)},
                lease=lease,
                outcome="failed",
                error=detail[:500],
            )
            event = "failed"
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
                result = self._audited(
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
            event = "applied"
        request = self.get(request_id)
        decision = Decision(request, result.status)
        if result.status is not Outcome.OK:  # lease taken over meanwhile: the new holder reports
            log.warning(
                "apply result dropped: lease lost",
                extra={"event": "apply.stale", "request": request_id},
            )
            return decision
        self.store.drop_lease(request_id)
        self.outbox.move(request_id)  # the outcome's record, written by the finish itself
        metrics.REQUESTS.labels(verb=request.change.verb.value, outcome=event).inc()
        self._settle(request)
        self._tell(request, event)
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
        self._audited(
            request.id,
            Action.YIELD,
            actor="bot",
            now=timestamp(),
            event="request.queued",
            facts={"why": "another change to the same entry is being applied"},
            lease=lease,
        )
        self.store.track_lease(request.id, timestamp())
        self.outbox.move(request.id)
        return Decision(self.get(request.id), Outcome.APPLY)

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
        if self.services.vault.client_id(request.requester) != client.credentials.client_id:
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
        ours = [
            i
            for i in self._same_name(client, request.change)
            if i.identifier not in request.preexisting
        ]
        return client.get(request.change.kind, ours[0].identifier) if ours else None

    @staticmethod
    def _same_name(client: UserClient, change: Change) -> list[ListItem]:
        code = change.fields.get("identifier_code")
        if change.kind is Kind.SECRET and code:
            return client.list_entries(Kind.SECRET, identifier_code=code)
        name = change.fields.get("name", "")
        return [i for i in client.list_entries(change.kind, name=name) if i.name == name]

    def _secrets(self, request: ChangeRequest) -> dict[str, str]:
        if not request.encrypted_secrets:
            return {}
        return json.loads(self.services.keyring.decrypt(request.encrypted_secrets))

    # --- worker ------------------------------------------------------------------------------

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
            lease = self._new_lease(now)
            result = self._audited(
                request_id, Action.RECLAIM, actor="worker", now=now, event="request.reclaimed", **lease
            )
            if result.status is Outcome.APPLY:
                handled += 1
                self.store.track_lease(request_id, lease["lease_until"])
                self.outbox.move(request_id)
                self.apply(request_id, str(lease["lease"]))
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
        pipe = self.services.redis.pipeline(transaction=False)
        for request in expired:
            self.audit.record(
                "request.expired", request=request.id, actor="worker", state="expired", pipe=pipe
            )
            metrics.REQUESTS.labels(verb=request.change.verb.value, outcome="expired").inc()
            self._settle(request, pipe=pipe)
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
        if self._tell(request, "expired"):
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
                    listener(request, kind.value)
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

    def rescue(self, now: float | None = None) -> OpenScan:
        """Read every open request itself: index each `applying` one whose lease passed (the
        next sweep takes it over); the scan also says which messages need Slack's attention."""
        now = timestamp() if now is None else now
        scan = self.store.stale_open(now)
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
        redis = self.services.redis
        metrics.PENDING.set(redis.zcard(self.store.index("open")))
        oldest = [
            score
            for name in ("due", "leases")
            for _, score in redis.zrange(self.store.index(name), 0, 0, withscores=True)
        ]
        metrics.SWEEP_LAG.set(max([now - s for s in oldest if s <= now], default=0.0))

    def _prune(self, request_id: str) -> None:
        request = self.store.get(request_id)
        self.store.unindex(request_id, request.requester if request else "")

    # --- queries -----------------------------------------------------------------------------

    def get(self, request_id: str) -> ChangeRequest:
        request = self.store.get(request_id)
        if request is None:
            raise RequestNotFound(f"There is no change request {request_id}.")
        return request

    def open_for(self, requester: str) -> list[ChangeRequest]:
        return self.store.open_requests(requester=requester)

    def time_bound_for(self, slack_id: str) -> list[Revoke]:
        """`slack_id`'s time-bound shares still running, as owner or grantee."""
        return self.revokes.active_for(slack_id)

    def queue(self) -> list[ChangeRequest]:
        return self.store.open_requests()

    def waiting_for(
        self,
        approver: str,
        *,
        start: int = 0,
        count: int = 20,
        may_decide: Callable[[frozenset[str]], bool] | None = None,
    ) -> tuple[list[ChangeRequest], int]:
        """`count` of the requests `approver` can act on from `start`, newest first, and how
        many there are in all (see `ApprovalStore.waiting_for`; `may_decide` says whether
        they are among a rule's approvers, an empty set meaning the settings')."""
        names, identities = self._identities(approver)
        ids = self.store.waiting_for(approver, names, ids=identities, may_decide=may_decide)
        chosen = ids[start : start + count]
        found = [self.store.get(i) for i in chosen]
        return [r for r in found if r is not None], len(ids)

    def client_for(self, slack_id: str) -> UserClient:
        credentials = self.services.vault.credentials(slack_id)
        return self.services.mysafe.session_for(slack_id, credentials)

    # --- plumbing ----------------------------------------------------------------------------

    def _settle(self, request: ChangeRequest, *, pipe: Any = None) -> None:
        """A final request leaves the indexes and the reminders (in `pipe` when given)."""
        if request.state.final:
            self.store.unindex(request.id, request.requester, pipe=pipe)
            self.reminders.forget(request.id, pipe=pipe)
            metrics.APPROVAL_LATENCY.labels(outcome=request.state.value).observe(
                max(0.0, timestamp() - request.created)
            )

    def _tell(self, request: ChangeRequest, event: str) -> bool:
        """Hand the change to every listener; a failing listener never undoes a transition.
        True when none failed."""
        heard = True
        for listener in self.listeners:
            try:
                listener(request, event)
            except NotPosted:
                if event == "created":
                    raise  # nobody can approve it: the caller withdraws it
                heard = False
            except Exception:  # noqa: BLE001 - a Slack outage must not lose the state change
                log.exception(
                    "listener failed",
                    extra={"event": "listener.error", "request": request.id, "what": event},
                )
                heard = False
        return heard


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
