"""The expiry sweep tells Slack about many expired requests at once, not one after another."""

from __future__ import annotations

import time

from app.approvals.changes import Change, Verb
from app.mysafe.models import Kind, UserShare
from app.runtime import assemble
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot

COUNT = 30
#: Each Slack call takes this long (seconds): one after another, 30 expiries would take
#: 30 x (update + DM) x 0.25 = 15 s.
SLOW = 0.25


def test_a_sweep_sends_its_slack_updates_concurrently(bot: Bot, slack: SlackFake,
                                                      emulator: Emulator, link) -> None:
    link("UALICE", "alices")
    entry = emulator.add_password("alices", name="Prod DB", username="ops", password="pw")
    ids = []
    for n in range(COUNT):
        emulator.add_user(f"user{n}")
        change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(f"user{n}"),))
        ids.append(bot.engine.submit(change, requester="UALICE").id)
    slack.latency["chat.update"] = slack.latency["chat.postMessage"] = (SLOW, SLOW)
    worker_engine = assemble(bot.services).engine  # what `mysafe-bot worker` builds

    started = time.monotonic()
    assert worker_engine.sweep(now=time.time() + 86400 + 5) == COUNT
    took = time.monotonic() - started

    expired = {rid for c in slack.calls_to("chat.update") if "Expired" in c.blocks_text()
               for rid in ids if rid in c.args["text"]}
    assert expired == set(ids)  # every message updated before sweep returned
    assert took < COUNT * 2 * SLOW / 3, f"the sweep took {took:.1f} s"
