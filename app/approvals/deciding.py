"""Decisions: the clicks that move a request — approve, confirm (step-up), deny and its reason,
cancel, retry — and the requester's nudge.

Each click is one atomic transition of the request's script, its audit record written by the
same script to the request's outbox (`Engine._audited`), then moved into the log and told to
the listeners. The click that brings the last approval (or a retry) is handed the lease and
makes the MySafe call at once (`Engine.apply`). A process whose rules are out of date decides
nothing. Split from `Engine`, which keeps thin methods for each and hands this class only
what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.approvals.audit import Audit
from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Decision, Event, Steps
from app.approvals.identities import Identities
from app.approvals.in_force import RulesInForce
from app.approvals.machine import Action, Outcome, State
from app.approvals.stepup import StepUp
from app.approvals.store import ApprovalStore
from app.foundations.clock import timestamp
from app.foundations.durations import describe
from app.foundations.errors import (
    ApprovalError,
    Beneficiary,
    InvalidTransition,
    NotAnApprover,
    NotRequester,
    RequestNotFound,
    SelfApproval,
    StepUpStale,
)
from app.foundations.storage import RedisClient
from app.i18n import _

#: `Engine.may_decide`: whether `actor` is an approver of the request (raises `Ineligible`
#: for a guest, a bot… and `RequestNotFound`), asked before the click's transition.
MayDecide = Callable[[str, str, Action], bool]

_REFUSALS: dict[Outcome, type[ApprovalError]] = {
    Outcome.SELF: SelfApproval,
    Outcome.NOT_APPROVER: NotAnApprover,
    Outcome.NOT_REQUESTER: NotRequester,
    Outcome.BENEFICIARY: Beneficiary,
    Outcome.STEP_UP_STALE: StepUpStale,
}


class Decider:
    """Runs one person's click on a request: the transition, its record, the listeners."""

    def __init__(
        self,
        *,
        redis: RedisClient,
        store: ApprovalStore,
        audit: Audit,
        identities: Identities,
        in_force: RulesInForce,
        stepup: StepUp,
        steps: Steps,
        may_decide: MayDecide,
    ) -> None:
        self.redis = redis
        self.store = store
        self.audit = audit
        self.identities = identities
        self.in_force = in_force
        self.stepup = stepup
        self.steps = steps
        self.may_decide = may_decide

    def approve(self, request_id: str, actor: str) -> Decision:
        """Count one approval; the click that completes the count applies the change."""
        return self._decide_then_apply(request_id, Action.APPROVE, actor)

    def confirm(
        self,
        request_id: str,
        actor: str,
        *,
        clicked: str,
        credential: str,
        method: str = "passkey",
    ) -> Decision:
        """Count the approval of a click (`clicked`: its time, as the request records it)
        whose step-up the caller has verified; the script refuses a click no longer waited
        for (`StepUpStale`) and checks the approver again, as at the click. The audit record
        names the method, the credential's id and the time; never key material."""
        approver = self.may_decide(request_id, actor, Action.APPROVE)
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
            request_id, Action.CONFIRM, actor, approver=approver, clicked=clicked
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

    def deny(self, request_id: str, actor: str, *, reason: str = "") -> Decision:
        """Settle the request as denied at once (the click itself decides; see `explain`)."""
        approver = self.may_decide(request_id, actor, Action.DENY)
        self._under_rules_in_force(request_id)
        return self._decide(
            request_id,
            Action.DENY,
            actor,
            approver=approver,
            ids=self.identities.of(actor)[1],
            reason=reason[:500],
        )

    def explain(self, request_id: str, actor: str, reason: str) -> Decision:
        """The denier's reason, added after their click denied the request."""
        result = self.steps.audited(
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
        request = self.steps.get(request_id)
        if result.status is Outcome.OK:
            self.steps.tell(request, Event.REASON)
        return Decision(request, result.status)

    def nudge(self, request_id: str, actor: str, *, again: bool = False) -> ChangeRequest:
        """The requester reminds the approvers now: at most once per the rule's `remind_after`
        (a Redis key set only if absent, expiring by itself, decides; several clicks, one
        reminder). `again`: the same click run again after a crash, which may have come
        between the key and the reminder; the reminder is sent again rather than lost."""
        request = self.steps.get(request_id)
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
        if again and self.redis.get(key) == actor:
            self.steps.tell(request, Event.REMIND)
            return request
        if not self.redis.set(key, actor, nx=True, ex=request.remind_after):
            wait = max(int(self.redis.ttl(key)), 1)
            raise ApprovalError(
                _("You nudged the approvers of {id} recently; you can again in {left}.").format(
                    id=request_id, left=describe(-(-wait // 60) * 60)
                )
            )
        self.audit.record("request.nudged", request=request_id, actor=actor)
        self.steps.tell(request, Event.REMIND)
        return request

    def cancel(self, request_id: str, actor: str) -> Decision:
        return self._decide(request_id, Action.CANCEL, actor)

    def retry(self, request_id: str, actor: str) -> Decision:
        """`failed -> applying` once per click, by an approver who is not the requester."""
        return self._decide_then_apply(request_id, Action.RETRY, actor)

    def _decide_then_apply(
        self,
        request_id: str,
        action: Action,
        actor: str,
        *,
        approver: bool | None = None,
        **extra: object,
    ) -> Decision:
        """The one caller the script hands the lease to makes the MySafe call, at once.

        The lease is indexed *before* the script may grant it: a process that dies between
        the two steps leaves an index entry the sweeper prunes, never a lease nobody sees.
        `approver`: already asked (a step-up's confirmation asks before its audit record)."""
        if approver is None:
            approver = self.may_decide(request_id, actor, action)
        self._under_rules_in_force(request_id)
        lease = self.steps.new_lease()
        self.store.track_lease(request_id, lease["lease_until"])
        person = self.identities.person(actor)
        decision = self._decide(
            request_id,
            action,
            actor,
            approver=approver,
            identities=person.names,
            ids=person.ids,
            marks=person.known_as,
            **lease,
            **extra,
        )
        if decision.status is Outcome.APPLY:
            return self.steps.apply(request_id, str(lease["lease"]), request=decision.request)
        return decision

    def _under_rules_in_force(self, request_id: str) -> None:
        """Refuse the decision in a process whose rules are out of date (`PolicyOutOfDate`);
        else note on a request made under other rules that they changed since (its message
        says so). It is still decided under the rule it recorded, as every process would."""
        rules = self.in_force.check()
        self.store.note_rules_in_force(request_id, version=rules.version, digest=rules.digest)

    def _decide(self, request_id: str, action: Action, actor: str, **arg: Any) -> Decision:
        """One click's transition, its record written by the same script (`_audited` appends it)."""
        reason = str(arg.get("reason", "")) if action is Action.DENY else ""
        result = self.steps.audited(
            request_id, action, actor=actor, now=timestamp(), facts={"reason": reason}, **arg
        )
        if result.status is Outcome.MISSING:
            raise RequestNotFound(f"There is no change request {request_id}.")
        if result.status in _REFUSALS:
            self.audit.record(
                "click.refused", request=request_id, actor=actor, action=action, why=result.status
            )
            raise _REFUSALS[result.status]()
        request = self.steps.get(request_id)
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
            Outcome.OK: Event.of(action),
            Outcome.APPLY: Event.APPLYING,
            Outcome.EXPIRED: Event.EXPIRED,
            Outcome.STEP_UP: Event.STEP_UP_PENDING,
        }[decision.status]
        self.steps.settle(request)
        self.steps.tell(request, event)
