"""The request machine: its states, the actions its script is asked for, and what it answers.

One Lua script (`lua/transition.lua`) makes every transition of a request, atomically on the
request's hash slot; this module is that script's vocabulary in Python. `TRANSITIONS` is the
table of moves the script may make (tested against the script itself), `Outcome` the list of
its answers (likewise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any


class State(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({State.APPLIED, State.DENIED, State.EXPIRED, State.CANCELLED})


class Action(StrEnum):
    """What the transition script is asked to do (its ARGV[1]); the script refuses any other."""

    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"
    RETRY = "retry"
    EXPIRE = "expire"
    RECLAIM = "reclaim"
    FINISH = "finish"
    FENCE = "fence"
    YIELD = "yield"
    REASON = "reason"
    WITHDRAW = "withdraw"
    #: A rule that needs no approval: pending -> applying at once, by the bot (audited).
    AUTO = "auto"
    #: Count an approval whose click the approver has confirmed with a passkey (step-up).
    CONFIRM = "confirm"


class Outcome(StrEnum):
    """What the transition script answers (the first item it returns): each value is written
    in `lua/transition.lua`, and the script returns no other."""

    OK = "ok"  # the action moved the request (or, for `fence`, the lease holder may write)
    APPLY = "apply"  # the last approval or a retry: the caller holds the lease and must apply
    EXPIRED = "expired"  # its time had passed: this call expired it
    FINAL = "final"  # already applied, denied, expired or cancelled
    NOOP = "noop"  # not possible from its state: answered with the state only
    ALREADY = "already"  # this approver's approval was counted before
    SELF = "self"  # the requester may not approve or deny their own request
    NOT_APPROVER = "not_approver"
    NOT_REQUESTER = "not_requester"  # only the requester may cancel
    BENEFICIARY = "beneficiary"  # someone who gains access through it may not approve it
    STALE = "stale"  # the lease named is no longer the holder's
    MISSING = "missing"  # no such request
    STEP_UP = "step_up"  # recorded as confirming: counts only once the passkey is verified
    STEP_UP_STALE = "step_up_stale"  # no click of this approver waits, or it is too old

    @property
    def changed(self) -> bool:
        """Whether the call moved the request (the rest answer with its state)."""
        return self in CHANGED


#: Outcomes that mean the click moved the request.
CHANGED = frozenset({Outcome.OK, Outcome.APPLY, Outcome.EXPIRED, Outcome.STEP_UP})

#: Every transition the script may make. `approved` is passed through within one script call:
#: the click that brings the last approval also wins `approved -> applying`.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.APPROVED, State.DENIED, State.EXPIRED, State.CANCELLED}),
    State.APPROVED: frozenset({State.APPLYING}),
    State.APPLYING: frozenset({State.APPLYING, State.APPLIED, State.FAILED}),
    State.FAILED: frozenset({State.APPLYING, State.DENIED, State.EXPIRED, State.CANCELLED}),
    State.APPLIED: frozenset(),
    State.DENIED: frozenset(),
    State.EXPIRED: frozenset(),
    State.CANCELLED: frozenset(),
}

# One script for every transition (app/approvals/lua/transition.lua). Returns
# {status, state, approvals}; the status is an `Outcome`.
# Every change a person could see bumps `version`, which a front compares with the version
# its message shows (app.approvals.fronts): a render older than that is never sent.
# `fence` asks, without changing anything, whether a lease holder may still write; `yield`
# hands a request whose holder could not get its entry in time to the sweeper's next pass.


@dataclass(frozen=True)
class Transition:
    status: Outcome
    state: State | None
    approvals: int
    #: The audit record the script wrote to the request's outbox, as written (app.approvals.outbox).
    written: str = ""

    @classmethod
    def of(cls, answer: Sequence[Any]) -> Transition:
        """From transition.lua's reply: {status, state, approvals[, outbox item]}."""
        status, state, count, *written = answer
        return cls(Outcome(status), State(state) if state else None, int(count), *written[:1])
