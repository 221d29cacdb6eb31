"""Every action tried from every state, against a real Redis: the transitions the script makes
are exactly the table `TRANSITIONS` promises, no more and no fewer."""

from __future__ import annotations

import itertools
import json

import pytest

from app.approvals.machine import TRANSITIONS, State
from app.approvals.store import ApprovalStore

NOW = 1_000_000.0
ACTIONS = [
    "approve",
    "deny",
    "cancel",
    "retry",
    "expire",
    "reclaim",
    "finish-applied",
    "finish-failed",
    "fence",
    "yield",
    "reason",
    "withdraw",
]


pytestmark = pytest.mark.server_and_cluster


def seeded(store: ApprovalStore, n: int, state: State, *, expired: bool, lease_passed: bool) -> str:
    request_id = f"R-{'23456789ABCDEFGHJKMNPQRSTUVWXYZ'[n % 31]}{n // 31:04d}"[:7]
    keys = store.request_keys(request_id)
    store.redis.delete(*keys)
    store.redis.hset(
        keys[0],
        mapping={
            "state": state.value,
            "requester": "UREQ",
            "required": "1",
            "decided_by": "UAPP",
            "expires": repr(NOW - 1 if expired else NOW + 3600),
            "lease": "L",
            "lease_until": repr(NOW - 1 if lease_passed else NOW + 60),
            "beneficiaries": "[]",
        },
    )
    return request_id


def attempt(store: ApprovalStore, request_id: str, action: str) -> None:
    base, _, outcome = action.partition("-")
    args: dict[str, object] = {
        "approver": True,
        "lease": "L",
        "lease_until": NOW + 120,
        "reason": "why",
        "why": "gone",
        "identities": ["UAPP"],
        "margin": 0,
    }
    if base in ("approve", "retry", "reclaim"):
        args["lease"] = "NEW"
    if base == "finish":
        args.update(outcome=outcome, result="{}", error="boom")
    actor = "UREQ" if base == "cancel" else "bot" if base in ("withdraw", "finish") else "UAPP"
    store.transition(request_id, base, actor=actor, now=NOW, **args)


def test_every_action_from_every_state_makes_only_the_promised_transitions(redis, key_prefix) -> None:
    store = ApprovalStore(redis, prefix=key_prefix)
    made: set[tuple[State, State]] = set()
    cases = itertools.product(State, ACTIONS, (False, True), (False, True))
    for n, (state, action, expired, lease_passed) in enumerate(cases):
        request_id = seeded(store, n, state, expired=expired, lease_passed=lease_passed)
        attempt(store, request_id, action)
        for event in store.redis.lrange(store.request_keys(request_id)[2], 0, -1):
            step = json.loads(event)
            frm, to = State(step["from"]), State(step["to"])
            if frm != to or frm is State.APPLYING:  # a counted approval or a reason is no move
                made.add((frm, to))
    promised = {(frm, to) for frm, targets in TRANSITIONS.items() for to in targets}
    assert made == promised, {"never made": promised - made, "not promised": made - promised}


def test_every_status_the_script_returns_is_an_outcome_and_every_outcome_is_returned():
    """The script's answers and the `Outcome` enum are one list: a status added to the Lua
    without its enum member (or a member the script never returns) fails here, not in a click."""
    import re
    from importlib.resources import files

    from app.approvals.machine import Outcome

    script = files("app.approvals").joinpath("lua/transition.lua").read_text(encoding="utf-8")
    returned = set(re.findall(r"return \{'([a-z_]+)'", script))
    assert returned == {outcome.value for outcome in Outcome}
