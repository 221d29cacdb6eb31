"""A mass expiry: the sweep expires the requests and hands their Slack news (the message
update, the requester's DM) to durable work; consumers tell Slack, several at once. Nothing is
lost when the sweep dies before handing it off, and nobody is told twice."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from app.approvals.changes import Change, Verb
from app.approvals.decision import HandOff
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.approvals.sweeping import SWEEP_TELLERS, TELL_WITHIN
from app.mysafe.models import Kind, UserShare
from app.ops.runtime import assemble
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.waiting import eventually

#: The approvals channel (the approvers' DMs are updated too, each in its own DM).
APPROVALS = "C0APPROVALS"

COUNT = 30
#: Seconds each Slack call takes in the concurrency test.
SLOW = 0.2


@pytest.fixture
def due(bot: Bot, emulator: Emulator, link) -> list[str]:
    """COUNT pending requests of alice's, each posted in the approvals channel."""
    link("UALICE", "alices")
    entry = emulator.add_password("alices", name="Prod DB", username="ops", password="pw")
    ids = []
    for n in range(COUNT):
        emulator.add_user(f"user{n}")
        change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(f"user{n}"),))
        ids.append(bot.engine.submit(change, requester="UALICE").id)
    return ids


def worker_engine(bot: Bot) -> Engine:
    """What `mysafe-bot worker` builds: its sweep hands the news to the front's jobs, which
    the bot's own consumer runs here."""
    return assemble(bot.services).engine


def dying_engine(bot: Bot, hand_off: HandOff) -> Engine:
    """`worker_engine`'s, whose sweep hands its news off to `hand_off` instead."""
    worker = worker_engine(bot)
    return Engine(
        bot.services,
        listeners=worker.listeners,
        standing=worker.standing,
        approvers=worker.approvers,
        policy=worker.policy,
        hand_off=hand_off,
    )


def after_expiry(bot: Bot, ids: list[str]) -> float:
    return max(bot.engine.get(i).expires for i in ids) + 1


def expired_updates(slack: SlackFake, ids: list[str]) -> set[str]:
    return {
        rid
        for c in slack.calls_to("chat.update")
        if "Expired" in c.blocks_text()
        for rid in ids
        if rid in c.args["text"]
    }


def expiry_dms(slack: SlackFake, ids: list[str]) -> Counter[str]:
    """How many times the requester was told each request expired."""
    return Counter(
        rid
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == "UALICE" and "expired" in c.args["text"].lower()
        for rid in ids
        if rid in c.args["text"]
    )


def told_all(bot: Bot, slack: SlackFake, ids: list[str], *, within: float = 10.0) -> None:
    """Wait until Slack has every update and DM (for `within` seconds), then until no job and
    no news is left (so a DM sent twice would have arrived by now)."""
    slack.wait_for(
        lambda: expired_updates(slack, ids) == set(ids) and set(expiry_dms(slack, ids)) == set(ids),
        timeout=within,
    )
    # The consumer marks them told right after its last Slack call.
    eventually(
        lambda: (
            not bot.runtime.front.jobs.pending()
            and all(r.untold is None for r in bot.engine.store.get_many(ids))
        ),
        10,
        "the sweep's news all told",
    )


@pytest.mark.slow
def test_the_sweep_returns_before_slack_is_told_then_every_message_and_dm_arrives_once(
    bot: Bot, slack: SlackFake, due: list[str]
) -> None:
    held = slack.hold("chat.update")
    try:
        assert worker_engine(bot).sweep(now=after_expiry(bot, due)) == COUNT
        assert all(r.state is State.EXPIRED for r in bot.engine.store.get_many(due))
        assert expired_updates(slack, due) == set()  # Slack is still answering the first
    finally:
        held.set()
    told_all(bot, slack, due)
    assert expiry_dms(slack, due) == Counter(dict.fromkeys(due, 1))


@pytest.mark.slow
def test_the_updates_go_out_several_at_once_and_bounded(
    bot: Bot, slack: SlackFake, due: list[str]
) -> None:
    slack.latency["chat.update"] = slack.latency["chat.postMessage"] = (SLOW, SLOW)
    assert worker_engine(bot).sweep(now=after_expiry(bot, due)) == COUNT
    # 60 calls of SLOW seconds, two at a time (one person's bound): 6 s at the least, which
    # left a loaded host too little of the usual 10.
    told_all(bot, slack, due, within=30)
    # One consumer (the bot's) runs at most MYSAFE_BOT_JOB_PER_PERSON of the sweep's jobs.
    assert 2 <= slack.most_in_flight <= bot.runtime.settings.job_per_person * SWEEP_TELLERS


class Killed(BaseException):
    """The worker process dying (SIGKILL) at that point: nothing after it runs."""


@pytest.mark.slow
def test_a_sweep_killed_before_handing_its_news_off_loses_nothing(
    bot: Bot, slack: SlackFake, due: list[str]
) -> None:
    def killed(request_ids: object) -> None:
        raise Killed

    dying = dying_engine(bot, killed)
    now = after_expiry(bot, due)
    with pytest.raises(Killed):
        dying.sweep(now=now)
    assert all(r.state is State.EXPIRED and r.untold == 0 for r in bot.engine.store.get_many(due))
    restarted = worker_engine(bot)
    assert restarted.sweep(now=now + 1) == 0  # handed off, for all it knows: not yet again
    assert bot.runtime.front.jobs.pending() == 0
    assert restarted.sweep(now=now + TELL_WITHIN + 1) == 0  # not told by then: again
    told_all(bot, slack, due)
    assert expiry_dms(slack, due) == Counter(dict.fromkeys(due, 1))


@pytest.mark.slow
def test_a_job_whose_teller_died_mid_way_is_told_by_the_consumer_taking_it_over(
    bot: Bot, slack: SlackFake, due: list[str]
) -> None:
    """The job was running when its process died: it had claimed its expiries and told
    none. The job queue hands it to another consumer, whose run of it takes the claims back."""
    jobs: list[dict[str, object]] = []
    dying = dying_engine(
        bot, lambda request_ids: jobs.append({"requests": list(request_ids), "teller": "job-1"})
    )  # put, and taken by the teller
    assert dying.sweep(now=after_expiry(bot, due)) == COUNT
    now = time.time()
    assert (
        bot.engine.store.claim_untold(due, now=now, until=now + TELL_WITHIN, teller="job-1") == due
    )  # then SIGKILL
    assert (
        bot.engine.store.claim_untold(due, now=now, until=now + TELL_WITHIN, teller="another") == []
    )  # nobody else tells them
    assert bot.runtime.front is not None
    bot.runtime.jobs.registry["tell_expired"](jobs[0])  # the job, taken over
    told_all(bot, slack, due)
    assert expiry_dms(slack, due) == Counter(dict.fromkeys(due, 1))


@pytest.mark.slow
def test_news_whose_job_was_lost_is_handed_off_again_once_its_claim_ran_out(
    bot: Bot, slack: SlackFake, due: list[str]
) -> None:
    # a job that never ran to its end, and is gone
    dying = dying_engine(bot, lambda request_ids: None)
    now = after_expiry(bot, due)
    assert dying.sweep(now=now) == COUNT
    died = time.time() - 2 * TELL_WITHIN
    assert bot.engine.store.claim_untold(due, now=died, until=died + TELL_WITHIN, teller="lost") == due
    worker_engine(bot).sweep(now=now + TELL_WITHIN + 1)
    told_all(bot, slack, due)
    assert expiry_dms(slack, due) == Counter(dict.fromkeys(due, 1))


@pytest.mark.slow
def test_news_handed_off_twice_is_told_once(bot: Bot, slack: SlackFake, due: list[str]) -> None:
    """Two jobs with the same expiries (a batch handed off again while its first job still
    waited), run by two consumer threads at once: each message and DM goes out once."""
    slack.latency["chat.update"] = (SLOW / 4, SLOW / 4)
    worker = worker_engine(bot)
    assert worker.sweep(now=after_expiry(bot, due)) == COUNT
    assert bot.runtime.front is not None
    bot.runtime.engine.hand_off(due)
    told_all(bot, slack, due)
    assert expiry_dms(slack, due) == Counter(dict.fromkeys(due, 1))
    channel_updates = [c for c in slack.calls_to("chat.update") if c.args["channel"] == APPROVALS]
    assert len([c for c in channel_updates if "Expired" in c.blocks_text()]) == COUNT
