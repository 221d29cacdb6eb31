"""`disable` and `enable` from a ticket: the same policy and approval flow as every change, and
MySafe's refusals answered in the bot's words."""

from __future__ import annotations

import pytest

from app.approvals.changes import Verb
from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually
from tests.unit.webhooks import test_webhook as _webhook

# The webhook's fixtures, shared: the bot with the webhook on, alices, pduarte and his entry.
body, post = _webhook.body, _webhook.post
entry, receiver, slack_env, webhook_auth = (
    _webhook.entry,
    _webhook.receiver,
    _webhook.slack_env,
    _webhook.webhook_auth,
)


def state_ticket(entry: int, action: str) -> dict:
    """A ticket that names only the entry, as `disable` and `enable` do."""
    ticket = body(entry, action=action, event_id=f"jira-{action}-1")
    del ticket["users"], ticket["groups"]
    return ticket


@pytest.mark.parametrize(
    ("action", "before", "after"), [("disable", True, False), ("enable", False, True)]
)
def test_a_ticket_disables_or_enables_once_approved(
    bot: Bot,
    entry: int,
    emulator: Emulator,
    slack: SlackFake,
    user: SlackClient,
    action: str,
    before: bool,
    after: bool,
) -> None:
    emulator.set_active("password", entry, before)
    answer = post(bot, state_ticket(entry, action))
    assert answer.status_code == 202, answer.text
    request = bot.engine.get(answer.json()["request_id"])
    assert (request.change.verb, request.source) == (Verb(action), "ticket")
    assert emulator.get_password(entry)["active"] is before
    user.click("UAPPROVER1", "approve", request.id)
    eventually(lambda: bot.engine.get(request.id).state is State.APPLIED, 10, "applied")
    assert emulator.get_password(entry)["active"] is after


def test_a_disable_ticket_naming_people_is_refused(bot: Bot, entry: int, slack: SlackFake) -> None:
    answer = post(bot, body(entry, action="disable"))
    assert answer.status_code == 400
    assert "disable names only the entry, no users or groups" in answer.text
    assert bot.engine.queue() == []


def test_a_change_to_a_disabled_entry_is_422_in_the_bots_words(
    bot: Bot, entry: int, emulator: Emulator, slack: SlackFake
) -> None:
    emulator.set_active("password", entry, False)
    answer = post(bot, body(entry))
    assert answer.status_code == 422 and answer.json()["code"] == 1009
    assert "disabled in MySafe" in answer.json()["error"]
    assert bot.engine.queue() == []
