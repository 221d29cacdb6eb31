"""Break-glass end to end: a signed slash command and clicks in, the MySafe emulator and a
PagerDuty protocol fake behind, the Slack fake recording what security sees. The on-call
person is matched by the e-mail Slack's users.info gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.approvals.machine import State
from app.approvals.reminders import CLAIM_LEASE
from app.foundations.clock import timestamp
from app.ops.runtime import assemble
from app.ops.worker import repair
from app.sandbox.emulator import Emulator
from app.slack.break_glass import JUSTIFIED, NOT_JUSTIFIED
from tests.e2e.test_slack_verbs import ask, buttons, readable, request_id_in
from tests.support.on_call_fakes import TOKEN, OnCallFake
from tests.support.slack_fake import SlackCall, SlackFake
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


def nothing_owed(bot: Bot) -> bool:
    """No telling of a break-glass event is left for the sweep (the click's job is done)."""
    book = bot.engine.break_glass
    return book.redis.zcard(book.owed_key) == 0


def card_updates(slack: SlackFake, since: int = 0) -> list[SlackCall]:
    return [
        c for c in slack.calls[since:] if c.method == "chat.update" and "Break-glass" in readable(c)
    ]


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
    # The card now says who judged it and how, and has no button left to click.
    (updated,) = slack.wait_for(lambda: card_updates(slack))
    assert "reviewed: *not justified*, by <@UAPPROVER1>" in readable(updated)
    assert buttons(updated) == [] and "INC-123 db down" in readable(updated)


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
    (updated,) = slack.wait_for(lambda: card_updates(slack))
    assert "reviewed: *justified*, by <@UAPPROVER2>" in readable(updated) and buttons(updated) == []
    assert bot.engine.break_glass.review(request_id).state == "justified"
    eventually(lambda: nothing_owed(bot), 10, "the verdict's telling done")
    assert reviewer.sweep(now=deadline + 2 * 3600) == 0
    assert len(posts_to(slack, "U0DUTYMGR")) == 1


def test_slack_down_at_the_emergency_and_at_the_verdict_loses_no_notice_and_repeats_none(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    """Slack refuses every post while the share is applied: the worker's sweep sends the 🚨
    notices and the card once Slack is back, each exactly once however often it runs. Slack
    refuses again at the verdict: the sweep posts it under the card, then redraws the card."""
    reviewer = bot.runtime.reviewer
    assert reviewer is not None
    slack.fail("chat.postMessage", error="service_unavailable", status=503, times=1000)
    request_id = request_id_in(ask(user, slack, "UALICE", EMERGENCY.format(entry=entry)))
    assert bot.engine.get(request_id).state is State.APPLIED  # applied, Slack or not
    slack.failures.clear()  # Slack is back
    back = len(slack.calls)
    assert reviewer.sweep(now=timestamp() - 1) == 0  # the web process's own try is not over

    def delivered() -> dict[str, list[str]]:
        posts = [c for c in slack.calls[back:] if c.method == "chat.postMessage"]
        return {
            where: [readable(c) for c in posts if c.args["channel"] == where and "🚨" in readable(c)]
            for where in ("C0APPROVALS", "C0SECURITY", "UBOB")
        }

    later = timestamp() + CLAIM_LEASE + 1
    assert reviewer.sweep(now=later) == 1
    for _ in range(2):  # told already: told never again
        later += CLAIM_LEASE + 1
        assert reviewer.sweep(now=later) == 0
    got = delivered()
    assert [len(got[w]) for w in ("C0SECURITY", "UBOB")] == [1, 1]
    (alarm, card) = got["C0APPROVALS"]
    assert "INC-123 db down" in alarm and "was it justified" in card
    # The request's own message, refused too, is posted by the worker's repair pass.
    assert repair(assemble(bot.services)) == 1
    assert bot.sent(request_id).ts

    # Slack refuses the verdict's post, then the card's redraw: each is retried, once.
    slack.fail("chat.postMessage", error="service_unavailable", status=503)
    slack.fail("chat.update", error="service_unavailable", status=503)
    before = len(slack.responses)
    user.click("UAPPROVER1", JUSTIFIED, request_id)
    assert "Recorded: justified" in slack.wait_responses(before + 1)[before]["text"]
    assert not nothing_owed(bot)
    assert slack.failures["chat.postMessage"] == []  # the verdict's post was refused
    back = len(slack.calls)
    for _ in range(3):
        later += CLAIM_LEASE + 1
        reviewer.sweep(now=later)
    verdicts = [c for c in slack.calls[back:] if c.method == "chat.postMessage"]
    assert len(verdicts) == 1 and ": justified." in readable(verdicts[0])
    assert verdicts[0].args["thread_ts"]  # under the card
    updates = [c for c in card_updates(slack, back) if "reviewed" in readable(c)]
    assert len(updates) == 2 and buttons(updates[-1]) == []  # refused once, then taken
    assert "by <@UAPPROVER1>" in readable(updates[-1])
