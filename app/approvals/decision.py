"""What a decision did, what listeners are told, and the engine's parts its collaborators get.

`Engine` is the door; `Submitter` (app.approvals.submitting), `Decider` (app.approvals.deciding),
`Applier` (app.approvals.applying) and `Sweeper` (app.approvals.sweeping) submit, decide, make
the MySafe call and run the worker's passes. They share the engine's audited transition, its
settling of a final request and its telling of listeners, passed to them as these callables
rather than the engine itself, so none of them imports the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from app.approvals.change_request import ChangeRequest
from app.approvals.machine import Action, Outcome, Transition


class Event(StrEnum):
    """What a `Listener` is told about a request (its values are those the fronts compare)."""

    CREATED = "created"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    EXPIRED = "expired"
    STEP_UP_PENDING = "step_up_pending"
    #: The denier's reason, added after the click.
    REASON = "reason"
    #: The approvers reminded (the requester's nudge, or the rule's `remind_after`), or the
    #: request escalated to the rule's `escalate_to`: `Nudge`'s values.
    REMIND = "remind"
    ESCALATE = "escalate"
    #: A click that moved the request without settling it, named by its `Action`.
    APPROVE = "approve"
    CONFIRM = "confirm"
    DENY = "deny"
    CANCEL = "cancel"
    RETRY = "retry"

    @classmethod
    def of(cls, action: Action) -> Event:
        """The event a click's `action` is told as when it moved the request."""
        return cls(action.value)


#: Takes the telling of these expiries (`Engine.tell_expired`) to durable work, or raises.
HandOff = Callable[[Sequence[str]], None]
#: `Engine._audited`: a transition whose audit record its own script writes to the outbox.
Audited = Callable[..., Transition]
#: `Engine._settle`: a final request leaves the indexes and the reminders.
Settle = Callable[..., None]
#: `Engine._tell`: every listener hears of the change; True when none failed.
Tell = Callable[[ChangeRequest, Event], bool]
#: `Engine.get`: the request, or `RequestNotFound`.
Get = Callable[[str], ChangeRequest]
#: `Engine._new_lease`: a fresh lease token and its end, from `now` or the clock.
NewLease = Callable[..., dict[str, Any]]
#: `Engine.apply`: the MySafe call of a request whose lease the caller holds.
Apply = Callable[..., "Decision"]


#: The clicks that moved a request without settling it, told to `Listener.decided`.
CLICKS = frozenset(
    {Event.STEP_UP_PENDING, Event.APPROVE, Event.CONFIRM, Event.DENY, Event.CANCEL, Event.RETRY}
)


class Listener(Protocol):
    """What the engine tells a front, or any part that follows requests: one method for each
    kind of news, so a front says what it does with each (app.slack.notifier) and a part that
    treats every change alike says so too (`EveryChange`)."""

    def created(self, request: ChangeRequest) -> None:
        """A new request waits for its approvers; `NotPosted`: nobody could be shown it (the
        engine withdraws it)."""

    def decided(self, request: ChangeRequest, event: Event) -> None:
        """A click moved it (one of `CLICKS`: approve, confirm, deny, cancel, retry, or a
        click that waits for its step-up)."""

    def applying(self, request: ChangeRequest) -> None:
        """The last approval (or a retry) took the lease: the MySafe call is under way."""

    def applied(self, request: ChangeRequest) -> None:
        """MySafe shows the change."""

    def failed(self, request: ChangeRequest) -> None:
        """The MySafe call failed; an approver may retry."""

    def expired(self, request: ChangeRequest) -> None:
        """Nobody decided in time (the sweep's news, told once)."""

    def reason_given(self, request: ChangeRequest) -> None:
        """The denier added their reason after the click."""

    def remind_approvers(self, request: ChangeRequest) -> None:
        """Remind its approvers (the requester's nudge, or the rule's `remind_after`)."""

    def escalate_to(self, request: ChangeRequest) -> None:
        """Show it where the rule escalates it (`escalate_to`)."""


class EveryChange:
    """A `Listener` that treats every kind of news alike: `changed(request, event)`."""

    def changed(self, request: ChangeRequest, event: Event) -> None:
        """Nothing, unless a subclass says (one that hears a single kind of news overrides
        that method alone)."""

    def created(self, request: ChangeRequest) -> None:
        self.changed(request, Event.CREATED)

    def decided(self, request: ChangeRequest, event: Event) -> None:
        self.changed(request, event)

    def applying(self, request: ChangeRequest) -> None:
        self.changed(request, Event.APPLYING)

    def applied(self, request: ChangeRequest) -> None:
        self.changed(request, Event.APPLIED)

    def failed(self, request: ChangeRequest) -> None:
        self.changed(request, Event.FAILED)

    def expired(self, request: ChangeRequest) -> None:
        self.changed(request, Event.EXPIRED)

    def reason_given(self, request: ChangeRequest) -> None:
        self.changed(request, Event.REASON)

    def remind_approvers(self, request: ChangeRequest) -> None:
        self.changed(request, Event.REMIND)

    def escalate_to(self, request: ChangeRequest) -> None:
        self.changed(request, Event.ESCALATE)


def hear(listener: Listener, request: ChangeRequest, event: Event) -> None:
    """Tell `listener` the news `event` names, by its method for that kind of news."""
    if event in CLICKS:
        listener.decided(request, event)
        return
    {
        Event.CREATED: listener.created,
        Event.APPLYING: listener.applying,
        Event.APPLIED: listener.applied,
        Event.FAILED: listener.failed,
        Event.EXPIRED: listener.expired,
        Event.REASON: listener.reason_given,
        Event.REMIND: listener.remind_approvers,
        Event.ESCALATE: listener.escalate_to,
    }[event](request)


@dataclass(frozen=True)
class Steps:
    """The engine's own steps its parts call back (applying, sweeping, deciding, submitting):
    handed over once, so each part's constructor names only what is its own."""

    get: Get
    audited: Audited
    settle: Settle
    tell: Tell
    new_lease: NewLease
    apply: Apply


@dataclass(frozen=True)
class Decision:
    """What a click did: `changed` is False when it was answered with the current state only."""

    request: ChangeRequest
    status: Outcome

    @property
    def changed(self) -> bool:
        return self.status.changed
