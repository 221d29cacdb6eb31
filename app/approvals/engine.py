"""The approval engine: submit, decide, apply, expire — the one place change requests move.

Slack, the webhook and the MCP front call these methods and know nothing of Redis. Each
decision is one atomic transition in `ApprovalStore`; the engine adds what needs MySafe
(reading the entry at submission, computing and sending the body at apply time), the audit
trail, and `listeners` — callbacks the Slack side uses to update its message and tell people.
The engine keeps submission and decisions; the apply is `Applier`'s (app.approvals.applying)
and the worker's passes `Sweeper`'s (app.approvals.sweeping), behind thin methods here.

Rules enforced here and in the store's script: only approvers decide; the requester never
approves, denies or retries their own request and alone may cancel it; one person counts once;
exactly one caller wins `approved -> applying` and makes the MySafe call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from secrets import token_hex
from typing import Any

from app import metrics
from app.accounts.passkeys import Passkeys
from app.approvals.access import AccessBook
from app.approvals.applying import ENTRY_WAIT, LEASE_SAFETY, Applier, same_name
from app.approvals.audit import Audit
from app.approvals.break_glass import BreakGlass, Evidence
from app.approvals.changes import (
    Change,
    DiffLine,
    Verb,
    check,
    check_against,
    diff,
    read_entry,
    spec_of,
)
from app.approvals.decision import Decision, HandOff, Listener
from app.approvals.disabled import DisabledEntries
from app.approvals.entry_locks import EntryLocks
from app.approvals.given import GivenBook
from app.approvals.grants import RANK, named
from app.approvals.identities import Identities, beneficiaries
from app.approvals.in_force import RulesInForce
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
from app.approvals.sweeping import SWEEP_BATCH, SWEEP_TELLERS, TELL_TRIES, TELL_WITHIN, Sweeper
from app.clock import timestamp
from app.durations import describe
from app.errors import (
    ApprovalError,
    Beneficiary,
    BotError,
    Ineligible,
    InvalidTransition,
    MySafeError,
    NotAnApprover,
    NotPosted,
    NotRequester,
    RequestNotFound,
    SelfApproval,
    StepUpStale,
    ValidationError,
)
from app.i18n import _
from app.mysafe.client import UserClient
from app.mysafe.models import Entry, Kind
from app.services import Services

log = logging.getLogger(__name__)

# Re-exported: callers and tests name these as the engine's.
__all__ = [
    "ENTRY_WAIT",
    "LEASE_SAFETY",
    "SWEEP_BATCH",
    "SWEEP_TELLERS",
    "TELL_TRIES",
    "TELL_WITHIN",
    "Decision",
    "Engine",
    "HandOff",
    "Listener",
    "Standing",
    "beneficiaries",
]

#: Why a person may neither request nor approve (a guest, another organisation, a deactivated
#: account, a bot), or None when they may: the chat front knows, the engine asks.
Standing = Callable[[str], str | None]

_REFUSALS: dict[Outcome, type[ApprovalError]] = {
    Outcome.SELF: SelfApproval,
    Outcome.NOT_APPROVER: NotAnApprover,
    Outcome.NOT_REQUESTER: NotRequester,
    Outcome.BENEFICIARY: Beneficiary,
    Outcome.STEP_UP_STALE: StepUpStale,
}
BREAK_GLASS_WHY = "break-glass: the requester was on call (see break_glass.opened)"


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
        #: Who a person is to the checks: Slack ID, MySafe names (app.approvals.identities).
        self.identities = Identities(services.vault)
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
        #: The MySafe call of an approved request (app.approvals.applying).
        self.applier = Applier(
            store=self.store,
            locks=self.locks,
            access=self.access,
            given=self.given,
            revokes=self.revokes,
            outbox=self.outbox,
            in_force=self.in_force,
            vault=services.vault,
            keyring=services.keyring,
            client_for=self.client_for,
            audited=self._audited,
            get=self.get,
            settle=self._settle,
            tell=self._tell,
        )
        #: The worker's passes: expiries, take-overs, reminders (app.approvals.sweeping).
        self.sweeper = Sweeper(
            redis=services.redis,
            store=self.store,
            audit=self.audit,
            outbox=self.outbox,
            reminders=self.reminders,
            in_force=self.in_force,
            listeners=self.listeners,
            audited=self._audited,
            apply=self.apply,
            new_lease=self._new_lease,
            settle=self._settle,
            tell=self._tell,
        )

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
        lines = self._beyond_running_shares(change, current, diff(change, current, secrets))
        check_against(change, current, lines)
        if current is not None:
            self._check_may_write(client, current)
        # A create's retry must recognise only the entry *it* made: remember what already
        # carries the same name (or identifier code) now, before anything is created.
        preexisting = (
            [e.identifier for e in same_name(client, change)] if spec_of(change).creates else []
        )
        now = timestamp()
        if evidence is not None:  # counted last: a refusal above takes none of today's
            evidence = self.break_glass.count(requester, evidence, now=now)
        expires = now + self.settings.request_ttl
        record = ChangeRequest(
            id="",
            change=change,
            state=State.PENDING,
            requester=requester,
            requester_name=self.identities.display_name(requester),
            created=now,
            expires=expires,
            required=0 if evidence is not None else rule.approvals,
            diff=tuple(lines),
            entry_name=self._entry_name(change, current),
            reason=reason[:500],
            ticket=dict(ticket or {}),
            source=source,
            notify=tuple(list(notify)[:50]),
            people={name.casefold(): who for name, who in (people or {}).items()},
            encrypted_secrets=(
                self.services.keyring.encrypt(json.dumps(secrets)).decode() if secrets else ""
            ),
            preexisting=frozenset(preexisting),
            rule=rule.name,
            approvers=frozenset(rule.approvers),
            rule_channel=rule.channel,
            policy_version=rules.version,
            policy=rules.digest,
            remind_after=rule.remind_after or 0,
            escalate_to=tuple(rule.escalate_to),
            step_up=rule.step_up,
            step_up_max_age=rule.step_up_max_age if rule.step_up else 0,
            break_glass=evidence.to_json() if evidence is not None else {},
        )
        fields = {
            **record.to_redis(),
            "requester_ids": json.dumps(self.identities.known_as(requester)),
            "beneficiaries": json.dumps(beneficiaries(change, notify)),
        }
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

    def _beyond_running_shares(
        self, change: Change, current: Entry | None, lines: list[DiffLine]
    ) -> list[DiffLine]:
        """A permanent share of a right someone has now only through running time-bound shares
        changes something: they keep it when those end. Its line starts from the access they
        keep outside those shares (their record's base), so it is not refused as changing
        nothing, and the apply raises that base ("now kept for good")."""
        if current is None or change.verb is not Verb.SHARE or change.time_bound:
            return lines
        assert change.identifier is not None
        ledger = self.access.read(change.kind, change.identifier, named(change)).settled(current)
        kept = []
        for line in lines:
            record = ledger.records.get((line.field, line.principal.casefold()))
            only_while_shares_run = record is not None and RANK[record.base] < RANK[line.after]
            if line.before == line.after and record is not None and only_while_shares_run:
                line = DiffLine(line.field, record.base, line.after, line.principal)
            kept.append(line)
        return kept

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
                    "entry": _(
                        "You can only view {entry} in MySafe, so MySafe would refuse this change "
                        "after an approver's click: ask its owner, or someone with edit access, "
                        "to request it"
                    ).format(entry=f"{_(current.kind.label)} {current.identifier}")
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
            ids=self.identities.of(actor)[1],
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
            raise NotRequester(_("Only the person who asked can nudge the approvers."))
        if request.state is not State.PENDING:
            raise InvalidTransition(
                _("{id} is {state}; there is nobody left to nudge.").format(
                    id=request_id, state=_(request.state.value)
                ),
                state=request.state.value,
            )
        if not request.remind_after:
            raise ApprovalError(_("The policy rule of {id} sets no reminders.").format(id=request_id))
        key = self.store.nudge_key(request_id)
        if again and self.services.redis.get(key) == actor:
            self._tell(request, Nudge.REMIND.value)
            return request
        if not self.services.redis.set(key, actor, nx=True, ex=request.remind_after):
            wait = max(int(self.services.redis.ttl(key)), 1)
            raise ApprovalError(
                _("You nudged the approvers of {id} recently; you can again in {left}.").format(
                    id=request_id, left=describe(max(wait - wait % 60, 60))
                )
            )
        self.audit.record("request.nudged", request=request_id, actor=actor)
        self._tell(request, Nudge.REMIND.value)
        return request

    def cancel(self, request_id: str, actor: str) -> Decision:
        return self._decide(request_id, Action.CANCEL, actor)

    def retry(self, request_id: str, actor: str, *, is_approver: bool) -> Decision:
        """`failed -> applying` once per click, by an approver who is not the requester."""
        return self._decide_then_apply(request_id, Action.RETRY, actor, is_approver=is_approver)

    def gains_access(self, request: ChangeRequest, slack_id: str) -> bool:
        """Whether `request` gives `slack_id` access, as any of their identities: such a person
        may never approve it, so nobody asks them to."""
        names, _ = self.identities.of(slack_id)
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
        names, ids = self.identities.of(actor)
        decision = self._decide(
            request_id,
            action,
            actor,
            approver=is_approver,
            identities=names,
            ids=ids,
            marks=self.identities.known_as(actor),
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

    # --- apply and worker: app.approvals.applying, app.approvals.sweeping ------------------

    def _new_lease(self, now: float | None = None) -> dict[str, Any]:
        return {
            "lease": token_hex(8),
            "lease_until": (timestamp() if now is None else now) + self.settings.apply_lease,
        }

    def apply(self, request_id: str, lease: str, *, request: ChangeRequest | None = None) -> Decision:
        """`Applier.apply`: the MySafe call of a request this caller holds the lease on."""
        return self.applier.apply(request_id, lease, request=request)

    def sweep(
        self,
        *,
        now: float | None = None,
        limit: int = 500,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """`Sweeper.sweep`: expire what is due and take over stuck applies."""
        return self.sweeper.sweep(now=now, limit=limit, stopping=stopping)

    def tell_expired(
        self, request_ids: Sequence[str], *, teller: str = "", now: float | None = None
    ) -> int:
        """`Sweeper.tell_expired`: tell the listeners of expiries whose news is still owed."""
        return self.sweeper.tell_expired(request_ids, teller=teller, now=now)

    def send_nudges(
        self, now: float | None = None, *, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """`Sweeper.send_nudges`: the reminders and escalations that are due, each once."""
        return self.sweeper.send_nudges(now, stopping=stopping)

    def rescue(self, now: float | None = None) -> OpenScan:
        """`Sweeper.rescue`: index each stuck apply found outside the lease index."""
        return self.sweeper.rescue(now)

    def measure(self, now: float | None = None) -> None:
        """`Sweeper.measure`: pending count and sweep lag for the dashboard."""
        self.sweeper.measure(now)

    @property
    def hand_off(self) -> HandOff | None:
        """Set by the assembly when durable work (app.slack.front's jobs) tells the listeners
        of the sweep's expiries; None: the sweep tells them itself before it returns."""
        return self.sweeper.hand_off

    @hand_off.setter
    def hand_off(self, hand_off: HandOff | None) -> None:
        self.sweeper.hand_off = hand_off

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
        names, identities = self.identities.of(approver)
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
