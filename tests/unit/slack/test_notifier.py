"""What bringing an approval message up to date costs in Redis round trips (app/slack/notifier.py):
the render lock, one read of the request under it, one step that records what Slack now shows,
the lock's release. On one Redis server and on a 3-node Cluster, with the Slack fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.approvals.changes import Change, Verb
from app.approvals.machine import State
from app.mysafe.models import Kind, UserShare
from app.sandbox.emulator import Emulator
from app.slack.notifier import SlackNotifier
from tests.support.redis_wire import Wire
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot, served_bot

pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def bot(slack_env: dict[str, str], redis) -> Iterator[Bot]:
    """The bot, its approvers told nothing (their DMs are not what is counted here)."""
    with served_bot({**slack_env, "MYSAFE_BOT_TELL_APPROVERS": "off"}, redis, consume=False) as bot:
        yield bot


@pytest.fixture
def notifier(bot: Bot) -> SlackNotifier:
    assert bot.runtime.notifier is not None
    return bot.runtime.notifier


@pytest.fixture
def request_id(bot: Bot, emulator: Emulator, link, slack: SlackFake) -> str:
    """alices asks to share her entry with carol while Slack is down: no message yet. (Her
    request before it was posted, as a running bot's are: Redis knows the bot's scripts.)"""
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="GCP console", username="ops", password="pw-1")
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),))
    assert bot.sent(bot.engine.submit(change, requester="UALICE", reason="before").id).ts
    slack.fail("chat.postMessage", error="service_unavailable", status=503)
    request_id = bot.engine.submit(change, requester="UALICE", reason="on-call").id
    slack.failures.clear()
    assert bot.sent(request_id).ts == ""
    return request_id


def repairs(notifier: SlackNotifier) -> list[str]:
    return notifier.sent.repairs_due(float("inf"))


def test_a_new_requests_message_is_posted_in_four_round_trips(
    bot: Bot, notifier: SlackNotifier, request_id: str, slack: SlackFake
) -> None:
    """As the engine tells the front of a new request: take the render lock, read the request
    and where its message is in one go, post, record where it is and what it shows (and that
    nothing needs repair) in one go, release the lock."""
    assert repairs(notifier) == [request_id]  # the refused post, remembered
    request = bot.engine.get(request_id)
    with Wire() as wire:
        notifier.created(request)
    assert len(wire.trips) == 4, wire.trips
    post = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "C0APPROVALS"]
    assert request_id in post[-1].blocks_text()
    assert bot.sent(request_id).ts and bot.sent(request_id).shown == request.version
    assert repairs(notifier) == []


def test_a_message_behind_its_request_is_updated_in_five_round_trips(
    bot: Bot, notifier: SlackNotifier, request_id: str, slack: SlackFake
) -> None:
    """An approval Slack did not show (its updates refused): `show` looks first, then renders
    under the lock as `created` does, with `chat.update`."""
    notifier.created(bot.engine.get(request_id))
    slack.fail("chat.update", error="service_unavailable", status=503, times=10)
    bot.engine.approve(request_id, "UAPPROVER1")
    slack.failures.clear()
    request = bot.engine.get(request_id)
    assert request.state is State.APPLIED and bot.sent(request_id).shown < request.version
    with Wire() as wire:
        notifier.show(request)
    assert len(wire.trips) == 5, wire.trips
    assert "Applied" in slack.calls_to("chat.update")[-1].blocks_text()
    assert bot.sent(request_id).shown == request.version
    assert repairs(notifier) == []
    with Wire() as wire:
        notifier.show(request)  # nothing to do: one look, no lock
    assert len(wire.trips) == 1
