"""Reduce to view (an access review's decision) as the engine's specs and ledger read it."""

from __future__ import annotations

import pytest

from app.approvals.changes import Change, Verb, check, check_against, diff, final_body
from app.approvals.grants import Grant, Granted
from app.approvals.ledger import Access, Ledger
from app.foundations.errors import ValidationError
from app.mysafe.models import Entry, GroupShare, Kind, UserShare

ENTRY = Entry(
    Kind.PASSWORD,
    312,
    "GCP",
    users_allowed=(UserShare("carol", True), UserShare("bobm", False)),
    groups_allowed=(GroupShare("Ops", True),),
)
REDUCE_CAROL = Change(Verb.REDUCE, Kind.PASSWORD, 312, add_users=(UserShare("Carol", False),))


def test_a_reduction_lowers_only_whom_it_names_and_keeps_the_whole_lists() -> None:
    assert final_body(REDUCE_CAROL, ENTRY, {}) == {
        "users_allowed": [
            {"username": "carol", "can_edit": False},
            {"username": "bobm", "can_edit": False},
        ]
    }
    (line,) = diff(REDUCE_CAROL, ENTRY, {})
    assert (line.principal, line.before, line.after, line.action) == ("carol", "edit", "view", "lower")


def test_a_reduction_never_asks_for_edit_and_is_refused_when_nothing_changes() -> None:
    with pytest.raises(ValidationError):
        check(Change(Verb.REDUCE, Kind.PASSWORD, 312, add_users=(UserShare("carol", True),)), {})
    bobm = Change(Verb.REDUCE, Kind.PASSWORD, 312, add_users=(UserShare("bobm", False),))
    with pytest.raises(ValidationError, match="no more than view"):
        check_against(bobm, ENTRY, diff(bobm, ENTRY, {}))


def test_a_reduction_over_a_running_share_outlives_it() -> None:
    """carol has view, and edit from time-bound R-1: reduced to view by R-2, R-1's end takes
    nothing (what a reduction leaves outlives every running share, as an unshare's does)."""
    running = Access("users_allowed", "carol", base="view", shares={"R-1": "edit"})
    ledger = Ledger({running.key: running}, {})
    plan = ledger.change(REDUCE_CAROL, "R-2", ENTRY)
    assert [(m.name, m.before, m.after) for m in plan.moves] == [("carol", "edit", "view")]
    assert [r.idle for r in plan.records] == [True]
    after = Entry(Kind.PASSWORD, 312, "GCP", users_allowed=(UserShare("carol", False),))
    done = ledger.done("apply:R-2", plan.records)
    end = done.end("R-1", Grant((Granted("users_allowed", "carol", "view", "edit"),)), after)
    assert end.moves == ()
