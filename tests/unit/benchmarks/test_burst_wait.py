"""The share burst waits for its approval messages by a count the bench's Slack fake keeps as
calls arrive, not by a walk over every post the run recorded: after the ack rows (some
100,000 posts) that walk, at every call of the burst, ran on the bot's cores."""

from __future__ import annotations

from types import SimpleNamespace

from benchmarks.harness import APPROVAL_CHANNEL, TimedSlackFake
from benchmarks.share_burst import _approval_posts
from tests.support.slack_fake import SlackCall


def test_the_burst_counts_its_approval_posts_as_they_arrive() -> None:
    slack = TimedSlackFake()
    bench = SimpleNamespace(slack=slack)
    for n in range(1_000):  # the rows before it: DMs and other channels
        slack._record(SlackCall("chat.postMessage", {"channel": f"D{n % 50}", "text": "hi"}))
    for request in ("R-1", "R-2"):
        slack._record(SlackCall("chat.postMessage", {"channel": APPROVAL_CHANNEL, "text": request}))
    slack._record(SlackCall("chat.update", {"channel": APPROVAL_CHANNEL, "text": "R-1"}))
    assert _approval_posts(bench) == 2

    slack.by_method.clear()  # what a walk would read: the count does not come from there
    slack.calls.clear()
    assert _approval_posts(bench) == 2
