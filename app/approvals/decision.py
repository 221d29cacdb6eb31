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
from typing import Any

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


Listener = Callable[[ChangeRequest, Event], None]
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
