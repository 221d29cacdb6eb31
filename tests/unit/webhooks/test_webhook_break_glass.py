"""Break-glass opened by an incident tool through the ticketing webhook: the same guards as
from Slack (on call now, a period within the rule's longest), then applied at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sandbox.emulator import Emulator
from tests.support.on_call_fakes import TOKEN, OnCallFake
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.unit.webhooks import test_webhook as _webhook

# The webhook's fixtures, shared: the bot with the webhook on, alices, pduarte and his entry.
body, post, receiver, webhook_auth = (
    _webhook.body,
    _webhook.post,
    _webhook.receiver,
    _webhook.webhook_auth,
)
POLICY = """
rules:
  - name: incident
    match: {verbs: [share], sources: [webhook]}
    approvals: 1
    escalate_after: 1h
    escalate_to: [U0DUTYMGR]
    break_glass: {max_duration: 1h, on_call: OPS-PRIMARY, review_within: 24h}
"""


@pytest.fixture
def opsgenie() -> Iterator[OnCallFake]:
    fake = OnCallFake("opsgenie", on_call={"OPS-PRIMARY": ["pduarte@example.com"]}).start()
    yield fake
    fake.stop()


@pytest.fixture
def slack_env(
    slack_env: dict[str, str], webhook_auth: str, receiver, opsgenie: OnCallFake, tmp_path: Path
) -> dict[str, str]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return {
        **slack_env,
        "MYSAFE_BOT_WEBHOOK_SECRET": _webhook.SECRET,
        "MYSAFE_BOT_WEBHOOK_AUTH": webhook_auth,
        "MYSAFE_BOT_CALLBACK_HOSTS": f"{receiver.origin}, {_webhook.ALLOWED_HOST}",
        "MYSAFE_BOT_POLICY": str(policy),
        "MYSAFE_BOT_ON_CALL_PROVIDER": "opsgenie",
        "MYSAFE_BOT_ON_CALL_URL": opsgenie.url,
        "MYSAFE_BOT_ON_CALL_TOKEN": TOKEN,
    }


@pytest.fixture
def entry(bot: Bot, emulator: Emulator, link, slack: SlackFake) -> int:
    """pduarte owns it, and is on call; the ticket shares it with alices."""
    link("UPDUARTE", "pduarte")
    emulator.add_user("alices")
    slack.users_by_email["pduarte@example.com"] = "UPDUARTE"
    slack.profiles["UPDUARTE"] = {"profile": {"email": "pduarte@example.com"}}
    return emulator.add_password("pduarte", name="orders db", username="app", password="pw-Old-1")


def emergency(entry: int, **overrides) -> dict:
    ticket = body(entry, emergency=True, duration_seconds=3600, reason="INC-7 orders down")
    ticket["groups"] = []
    ticket.update(overrides)
    return ticket


def test_an_incident_tool_opens_break_glass_for_the_person_on_call(
    bot: Bot, entry: int, emulator: Emulator, opsgenie: OnCallFake
) -> None:
    answer = post(bot, emergency(entry))
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "applied"
    request = bot.engine.get(answer.json()["request_id"])
    assert request.source == "ticket" and request.break_glass["schedule"] == "OPS-PRIMARY"
    assert request.change.rotate_after
    assert "alices" in {u["username"] for u in emulator.get_password(entry)["users_allowed"]}
    assert bot.engine.break_glass.review(request.id).open


def test_the_webhook_refuses_someone_not_on_call_and_a_share_for_good(
    bot: Bot, entry: int, emulator: Emulator, opsgenie: OnCallFake
) -> None:
    opsgenie.on_call["OPS-PRIMARY"] = ["someone-else@example.com"]
    refused = post(bot, emergency(entry))
    assert refused.status_code == 400 and "not on call on schedule OPS-PRIMARY" in refused.text
    forever = emergency(entry, event_id="jira-2")
    del forever["duration_seconds"]
    assert post(bot, forever).status_code == 400
    assert bot.engine.queue() == []
    assert emulator.get_password(entry)["users_allowed"] == []
