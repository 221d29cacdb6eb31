"""Submit: a change validated, read as the requester, checked against the policy, and stored.

Everything is refused before anything is stored: a change its verb's spec refuses, an entry the
requester's own key cannot read or edit (MySafe's answer is told now, not after an approver's
click), a rule's missing reason or ticket or too long a share, a requester who may not ask, a
diff that changes nothing. A request whose rule needs no approval (or a break-glass one) is
applied at once. Split from `Engine`, the door to it, and handed only what it uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.approvals.access import AccessBook
from app.approvals.applying import same_name
from app.approvals.audit import Audit
from app.approvals.break_glass import BreakGlass, Evidence, ReviewEvent
from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb, check, check_against, diff, read_entry, spec_of
from app.approvals.decision import Decision, Event, Steps
from app.approvals.disabled import DisabledEntries
from app.approvals.grants import RANK, named
from app.approvals.identities import Identities, beneficiaries
from app.approvals.in_force import RulesInForce
from app.approvals.machine import Action, Outcome, State
from app.approvals.reminders import Reminders
from app.approvals.rules import Rule
from app.approvals.store import ApprovalStore
from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.crypto import Keyring
from app.foundations.errors import BotError, Ineligible, MySafeError, NotPosted, ValidationError
from app.foundations.settings import Settings
from app.i18n import _
from app.mysafe.client import UserClient
from app.mysafe.models import Entry, Kind

BREAK_GLASS_WHY = "break-glass: the requester was on call (see break_glass.opened)"

#: `Engine.rule_for`: the policy rule a change meets, as the engine's rules in force say.
RuleFor = Callable[..., Rule]
#: `Engine.refuse_ineligible`: `Ineligible` (audited) for who may not request.
RefuseIneligible = Callable[..., None]
#: `Engine.find`: the request made earlier under an idempotency key, if any.
Find = Callable[[str], ChangeRequest | None]


class Submitter:
    """Turns a change someone asks for into a stored pending request (or refuses it)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: ApprovalStore,
        audit: Audit,
        access: AccessBook,
        disabled: DisabledEntries,
        identities: Identities,
        in_force: RulesInForce,
        reminders: Reminders,
        break_glass: BreakGlass,
        keyring: Keyring,
        client_for: Callable[[str], UserClient],
        rule_for: RuleFor,
        refuse_ineligible: RefuseIneligible,
        find: Find,
        steps: Steps,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.access = access
        self.disabled = disabled
        self.identities = identities
        self.in_force = in_force
        self.reminders = reminders
        self.break_glass = break_glass
        self.keyring = keyring
        self.client_for = client_for
        self.rule_for = rule_for
        self.refuse_ineligible = refuse_ineligible
        self.find = find
        self.steps = steps

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
        person = self.identities.person(requester)
        rule = self.rule_for(change, current, requester=person, source=source)
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
            requester_name=person.display_name,
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
            encrypted_secrets=(self.keyring.encrypt(json.dumps(secrets)).decode() if secrets else ""),
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
            "requester_ids": json.dumps(person.known_as),
            "beneficiaries": json.dumps(beneficiaries(change, notify)),
        }
        request_id, created = self.store.create(
            fields, requester=requester, created=now, expires=expires, idempotency_key=idempotency_key
        )
        request = self.store.as_created(fields, request_id) if created else self.steps.get(request_id)
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
                self.steps.tell(request, Event.CREATED)
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
        self.break_glass.tell(request, review, ReviewEvent.OPENED)

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

    def _apply_at_once(
        self, request: ChangeRequest, rule: Rule, *, why: str = "the policy rule needs no approval"
    ) -> Decision:
        """`approvals: 0` (or break-glass): nobody needs to click; the bot applies it now."""
        lease = self.steps.new_lease()
        self.store.track_lease(request.id, lease["lease_until"])
        result = self.steps.audited(
            request.id,
            Action.AUTO,
            actor="bot",
            now=timestamp(),
            event="request.auto_approved",
            facts={"rule": rule.name, "why": why},
            **lease,
        )
        if result.status is not Outcome.APPLY:
            return Decision(self.steps.get(request.id), result.status)
        applying = self.steps.get(request.id)
        self.steps.tell(applying, Event.APPLYING)
        return self.steps.apply(request.id, str(lease["lease"]), request=applying)

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
        self.steps.audited(
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
        self.steps.settle(self.steps.get(request.id))
