"""Break-glass end to end: a signed slash command and clicks in, the MySafe emulator and a
PagerDuty protocol fake behind, the Slack fake recording what security sees. The on-call
person is matched by the e-mail Slack's users.info gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from app.slack.break_glass import JUSTIFIED, NOT_JUSTIFIED
from tests.e2e.test_slack_verbs import ask, readable, request_id_in
from tests.support.on_call_fakes import TOKEN, OnCallFake
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually

POLICY = """
rules:
  - name: break-glass-db
    match: {verbs: [share]}
    approvals: 2
    approvers: [UAPPROVER1, UAPPROVER2, UALICE]
    escalate_after: 2h
    escalate_to: [U0DUTYMGR]
    break_glass:
      max_duration: 1h
      on_call: PSCHED01
      notify: [C0SECURITY]
      review_within: 24h
"""
EMERGENCY = 'share password {entry} with user:carol edit for 1h emergency reason "INC-123 db down"'


@pytest.fixture
def pagerduty() -> Iterator[OnCallFake]:
    fake = OnCallFake("pagerduty", on_call={"PSCHED01": ["alice@example.com"]}).start()
    yield fake
    fake.stop()


@pytest.fixture
def slack_env(slack_env: dict[str, str], pagerduty: OnCallFake, tmp_path: Path) -> dict[str, str]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return {
        **slack_env,
        "MYSAFE_BOT_POLICY": str(policy),
        "MYSAFE_BOT_ON_CALL_PROVIDER": "pagerduty",
        "MYSAFE_BOT_ON_CALL_URL": pagerduty.url,
        "MYSAFE_BOT_ON_CALL_TOKEN": TOKEN,
    }


@pytest.fixture
def entry(bot: Bot, emulator: Emulator, link, slack: SlackFake) -> int:
    """alices owns it; bobm may edit it too (an editor the bot knows in Slack)."""
    link("UALICE", "alices")
    link("UBOB", "bobm")
    emulator.add_user("carol")
    slack.profiles["UALICE"] = {"profile": {"email": "Alice@example.com"}}
    return emulator.add_password(
        "alices",
        name="orders db",
        username="app",
        password="pw-Old-1",
        users_allowed=[{"username": "bobm", "can_edit": True}],
    )


def posts_to(slack: SlackFake, channel: str) -> list[str]:
    return [readable(c) for c in slack.calls_to("chat.postMessage") if c.args["channel"] == channel]


def test_an_on_call_emergency_is_applied_loudly_then_judged_not_justified(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    answer = ask(user, slack, "UALICE", EMERGENCY.format(entry=entry))
    assert "applied at once (🚨 break-glass: you are on call" in answer
    request_id = request_id_in(answer)
    assert bot.engine.get(request_id).state is State.APPLIED
    assert "carol" in {u["username"] for u in emulator.get_password(entry)["users_allowed"]}

    # Loud: the security channel, the approvals channel and the entry's other editor.
    for channel in ("C0SECURITY", "C0APPROVALS", "UBOB"):
        alarms = slack.wait_for(lambda c=channel: [p for p in posts_to(slack, c) if "🚨" in p])
        assert "<@UALICE>" in alarms[0] and "INC-123 db down" in alarms[0]
        assert "until" in alarms[0] and "alice@example.com" in alarms[0]
        assert "used it to give *carol edit* access" in alarms[0]
    card = slack.wait_for(
        lambda: [p for p in posts_to(slack, "C0APPROVALS") if "was it justified" in p]
    )[0]
    assert JUSTIFIED in card and NOT_JUSTIFIED in card
    assert "<@UAPPROVER1>" in card and "<@UALICE> cannot review it" in card

    # The requester is an approver of the rule, and still cannot review her own break-glass.
    before = len(slack.responses)
    user.click("UALICE", NOT_JUSTIFIED, request_id)
    refused = slack.wait_responses(before + 1)[before]
    assert "someone else must review it" in refused["text"]
    assert bot.runtime.reviewer is not None
    assert bot.engine.break_glass.review(request_id).open

    user.click("UAPPROVER1", NOT_JUSTIFIED, request_id)
    eventually(lambda: not bot.engine.break_glass.review(request_id).open, 10, "the verdict recorded")
    eventually(
        lambda: "carol" not in {u["username"] for u in emulator.get_password(entry)["users_allowed"]},
        10,
        "the access ended",
    )
    assert emulator.get_password(entry)["password"] != "pw-Old-1"
    slack.wait_for(lambda: [p for p in posts_to(slack, "C0APPROVALS") if "not justified" in p])


def test_someone_not_on_call_is_told_why_and_nothing_is_applied(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entry: int,
    pagerduty: OnCallFake,
) -> None:
    pagerduty.on_call["PSCHED01"] = ["bob@example.com"]
    answer = ask(user, slack, "UALICE", EMERGENCY.format(entry=entry))
    assert "not on call on schedule PSCHED01" in answer
    assert bot.engine.queue() == []
    assert "carol" not in {u["username"] for u in emulator.get_password(entry)["users_allowed"]}


def test_an_unreviewed_break_glass_is_escalated_until_an_approver_says_justified(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    request_id = request_id_in(ask(user, slack, "UALICE", EMERGENCY.format(entry=entry)))
    reviewer = bot.runtime.reviewer
    assert reviewer is not None
    deadline = bot.engine.break_glass.review(request_id).deadline
    assert reviewer.sweep(now=deadline + 1) == 1
    escalation = slack.wait_for(lambda: posts_to(slack, "U0DUTYMGR"))[0]
    assert "⏫" in escalation and request_id in escalation and "every hour" in escalation

    user.click("UAPPROVER2", JUSTIFIED, request_id)
    slack.wait_for(lambda: [p for p in posts_to(slack, "C0APPROVALS") if ": justified." in p])
    assert bot.engine.break_glass.review(request_id).state == "justified"
    assert reviewer.sweep(now=deadline + 2 * 3600) == 0
    assert len(posts_to(slack, "U0DUTYMGR")) == 1
