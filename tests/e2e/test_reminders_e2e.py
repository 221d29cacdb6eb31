"""Requests that never hang, end to end: a reminder in the request's thread after the rule's
`remind_after`, an escalated copy (no buttons) after `escalate_after`, *Nudge* for the
requester, all stopping the moment the request is final. Time is moved by passing `now` to the
worker's sweep, as the clock would move it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackCall, SlackFake, dm_channel
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient

MINUTE = 60
POLICY = textwrap.dedent("""
    rules:
      - name: production
        match: {tags: [prod]}
        approvals: 2
        approvers: [UAPPROVER1, UAPPROVER2, SAPPROVERS]
        remind_after: 30m
        escalate_after: 2h
        escalate_to: [UDUTYMGR, C0ESCALATE]
      - name: default
        approvals: 1
""")


@pytest.fixture
def slack_env(slack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    return {**slack_env, "MYSAFE_BOT_POLICY": str(path)}


@pytest.fixture
def request_id(bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, link) -> str:
    """alices asks to share her prod entry; the approval message is posted."""
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password(
        "alices", name="prod db", username="db", password="pw-Old-1", tags="prod"
    )
    before = len(slack.responses)
    user.command("UALICE", f"share password {entry} with user:carol")
    answer = slack.wait_responses(before + 1)[before]["text"]
    rid = answer.split("*")[1]
    slack.wait_for(lambda: bot.sent(rid).ts)
    return rid


def readable(call: SlackCall) -> str:
    return json.dumps(
        {k: v for k, v in call.args.items() if k in ("text", "blocks")}, ensure_ascii=False
    )


def in_thread(slack: SlackFake, bot: Bot, request_id: str) -> list[SlackCall]:
    ts = bot.sent(request_id).ts
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == ts]


def posted_to(slack: SlackFake, channel: str) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]


def actions_of(call: SlackCall) -> list[str]:
    return [
        e["action_id"] for b in call.args["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


def later(bot: Bot, request_id: str, minutes: float) -> float:
    return bot.engine.get(request_id).created + minutes * MINUTE


def test_one_reminder_after_remind_after_names_who_has_not_acted(
    bot: Bot, user: SlackClient, slack: SlackFake, request_id: str
) -> None:
    assert user.click("UAPPROVER1", "approve", request_id).status_code == 200
    slack.wait_for(lambda: bot.engine.get(request_id).approvals)
    bot.engine.sweep(now=later(bot, request_id, 29))
    assert in_thread(slack, bot, request_id) == []

    bot.engine.sweep(now=later(bot, request_id, 31))
    (reminder,) = in_thread(slack, bot, request_id)
    text = reminder.args["text"]
    assert "Reminder" in text and "production — 1 of 2 approvals" in text
    assert "<@UAPPROVER2>" in text and "<@UGROUPAPPROVER>" in text  # a group member too
    assert "<@UAPPROVER1>" not in text and "<@UALICE>" not in text  # acted / asked
    assert reminder.args["channel"] == bot.sent(request_id).channel

    bot.engine.sweep(now=later(bot, request_id, 45))
    assert len(in_thread(slack, bot, request_id)) == 1  # one reminder, not one per pass
    events = [r.event for r in bot.engine.audit.read(request=request_id)]
    assert events.count("request.reminded") == 1


def test_escalation_posts_a_copy_without_buttons_that_says_where_to_decide(
    bot: Bot, user: SlackClient, slack: SlackFake, request_id: str
) -> None:
    """`escalate_to` people are told, not made approvers: their copy has no buttons that
    would refuse them, says where the approvers decide, and is kept in step."""
    bot.engine.sweep(now=later(bot, request_id, 119))
    assert posted_to(slack, "UDUTYMGR") == [] and posted_to(slack, "C0ESCALATE") == []

    bot.engine.sweep(now=later(bot, request_id, 121))
    (dm,) = posted_to(slack, "UDUTYMGR")
    (channel,) = posted_to(slack, "C0ESCALATE")
    assert "Escalated" in readable(dm) and readable(dm) == readable(channel)
    assert actions_of(dm) == [] and actions_of(channel) == []
    assert f"approvers decide in <#{bot.sent(request_id).channel}>" in readable(dm)
    assert len(in_thread(slack, bot, request_id)) == 1  # the reminder came first, once

    for approver in ("UAPPROVER1", "UAPPROVER2"):  # on the request's own message
        assert user.click(approver, "approve", request_id).status_code == 200
    slack.wait_for(lambda: bot.engine.get(request_id).state is State.APPLIED)
    for copy in (dm, channel):  # the escalated copies are kept in step with the request
        slack.wait_for(
            lambda copy=copy: [
                c
                for c in slack.calls_to("chat.update")
                if c.args["channel"] in (copy.args["channel"], dm_channel(copy.args["channel"]))
                and "Applied" in readable(c)
                and "approve" not in actions_of(c)
            ]
        )


def test_nothing_more_is_sent_once_the_request_is_final(
    bot: Bot, user: SlackClient, slack: SlackFake, request_id: str
) -> None:
    assert user.command("UALICE", f"cancel {request_id}").status_code == 200
    slack.wait_for(lambda: bot.engine.get(request_id).state is State.CANCELLED)
    # The schedule is let go just after the final transition (a claim checks the state anyway).
    slack.wait_for(lambda: bot.engine.reminders.pending() == [])
    bot.engine.sweep(now=later(bot, request_id, 180))
    assert in_thread(slack, bot, request_id) == [] and posted_to(slack, "UDUTYMGR") == []


def test_the_requester_can_nudge_at_most_once_per_remind_after(
    bot: Bot, user: SlackClient, slack: SlackFake, request_id: str
) -> None:
    message = slack.calls_to("chat.postMessage")[0]
    labels = [
        e["text"]["text"]
        for b in message.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert "Nudge approvers" in labels

    assert user.click("UAPPROVER1", "nudge", request_id).status_code == 200
    slack.wait_for(lambda: [r for r in slack.responses if "Only the person who asked" in r["text"]])

    assert user.click("UALICE", "nudge", request_id).status_code == 200
    slack.wait_for(lambda: [r for r in slack.responses if "were reminded" in r["text"]])
    (reminder,) = slack.wait_for(lambda: in_thread(slack, bot, request_id))
    assert "<@UAPPROVER2>" in reminder.args["text"]

    assert user.click("UALICE", "nudge", request_id).status_code == 200
    again = slack.wait_for(lambda: [r["text"] for r in slack.responses if "recently" in r["text"]])
    assert "you can again in 30 min" in again[0]
    assert len(in_thread(slack, bot, request_id)) == 1


def test_the_wait_before_nudging_again_is_never_said_shorter_than_it_is(
    bot: Bot, user: SlackClient, slack: SlackFake, request_id: str
) -> None:
    """29 min 1 s left is said as 30 min: told 29, the requester would try then and be refused."""
    assert user.click("UALICE", "nudge", request_id).status_code == 200
    slack.wait_for(lambda: [r for r in slack.responses if "were reminded" in r["text"]])
    bot.services.redis.expire(bot.engine.store.nudge_key(request_id), 29 * MINUTE + 1)

    assert user.click("UALICE", "nudge", request_id).status_code == 200
    again = slack.wait_for(lambda: [r["text"] for r in slack.responses if "recently" in r["text"]])
    assert "you can again in 30 min" in again[0]
