"""What listeners are told is one enum: every click that can move a request, and every kind of
reminder, has its event, so a new action or nudge without one fails here, not at a click."""

from __future__ import annotations

from app.approvals.decision import Event
from app.approvals.machine import Action
from app.approvals.reminders import Nudge

#: The actions a person's click runs through `Engine._decide`, told as themselves when they
#: move the request without settling it.
CLICKS = (Action.APPROVE, Action.CONFIRM, Action.DENY, Action.CANCEL, Action.RETRY)


def test_every_click_that_moves_a_request_is_told_by_its_own_name():
    assert [Event.of(action).value for action in CLICKS] == [action.value for action in CLICKS]


def test_every_reminder_kind_is_an_event():
    assert {Event(kind.value) for kind in Nudge} == {Event.REMIND, Event.ESCALATE}
