"""Races driven over HTTP as Slack and a ticketing system would drive them: signed requests to
the bot served in-process and, once, to `mysafe-bot serve` (gunicorn, 2 workers) beside
`mysafe-bot worker`, with a real Redis (also the 3-node cluster) and the MySafe emulator."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.approvals.machine import State
from app.approvals.store import ApprovalStore
from app.sandbox.emulator import Emulator
from app.webhooks.signing import signed_headers
from tests.support.deployed import deployed as running_as_deployed
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot
from tests.support.slack_requests import SlackClient

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
REQUEST_ID = re.compile(r"R-[2-9A-HJKMNP-Z]{5}")


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    return {
        **slack_env,
        "MYSAFE_BOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MYSAFE_BOT_WEBHOOK_RATE_LIMIT": "0",
        "MYSAFE_BOT_RATE_LIMIT": "0",
    }


def approval_messages(slack: SlackFake) -> dict[str, object]:
    """Request id -> the approval message posted for it."""
    found = {}
    for call in slack.calls_to("chat.postMessage"):
        if call.args.get("channel") == "C0APPROVALS":
            ids = REQUEST_ID.findall(call.blocks_text())
            if ids:
                found[ids[0]] = call
    return found


def last_update(slack: SlackFake, ts: str):
    updates = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == ts]
    return updates[-1] if updates else None


def has_buttons(call) -> bool:
    return any(b["type"] == "actions" for b in call.args.get("blocks", []))


# --- 3. duplicates: every delivery answered alike ----------------------------------------------


@pytest.mark.slow
def test_four_concurrent_deliveries_of_one_ticket_all_get_its_id(
    bot: Bot, emulator: Emulator, link, slack: SlackFake
) -> None:
    link("UPDUARTE", "pduarte")
    emulator.add_user("alices")
    entry = emulator.add_password("pduarte", name="GCP", username="ops", password="pw")
    for trial in range(50):
        raw = json.dumps(
            {
                "event_id": f"jira-{trial}",
                "ticket": {"key": "SEC-42"},
                "requester": {"slack_id": "UPDUARTE"},
                "action": "share",
                "entry": {"kind": "password", "id": entry},
                "users": [{"username": "alices"}],
            }
        ).encode()
        barrier = threading.Barrier(4)

        def deliver(_: int, raw: bytes = raw, barrier: threading.Barrier = barrier):
            barrier.wait()
            return requests.post(
                f"{bot.url}/webhooks/ticketing",
                data=raw,
                timeout=20,
                headers={"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, raw)},
            )

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(deliver, range(4)))
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 202], [
            (a.status_code, a.text) for a in answers
        ]
        assert len({a.json()["request_id"] for a in answers}) == 1


# --- 4. messages never go backwards ----------------------------------------------------------


@pytest.fixture
def two_approvals(slack_env: dict[str, str]) -> dict[str, str]:
    slack_env["MYSAFE_BOT_APPROVALS_REQUIRED"] = "2"
    return slack_env


@pytest.mark.slow
@pytest.mark.usefixtures("two_approvals")
def test_two_approvals_clicked_together_leave_the_message_applied(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, link
) -> None:
    link("UALICE", "alices")
    slack.latency["chat.update"] = (0.0, 0.3)
    for trial in range(20):
        emulator.add_user(f"grantee{trial}")
        entry = emulator.add_password("alices", name=f"E{trial}", username="ops", password="pw")
        known = set(approval_messages(slack))
        user.command("UALICE", f"share password {entry} with user:grantee{trial}")
        (request_id,) = slack.wait_for(lambda k=known: set(approval_messages(slack)) - k)
        barrier = threading.Barrier(2)

        def click(approver: str, rid: str = request_id, barrier=barrier) -> int:
            barrier.wait()
            return user.click(approver, "approve", rid).status_code

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(click, ["UAPPROVER1", "UAPPROVER2"])) == [200, 200]
        slack.wait_for(lambda rid=request_id: bot.engine.get(rid).state is State.APPLIED)
        # The requester's "applied" DM is sent after the Applied render: once it is in and
        # nothing is still on its way to Slack, the message is what people will keep seeing.
        slack.wait_for(
            lambda t=trial: (
                len(
                    [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "UALICE"]
                )
                > t
            )
        )
        slack.wait_landed()
        final = last_update(slack, bot.sent(request_id).ts)
        assert final is not None and "Applied" in final.blocks_text(), (trial, final)
        assert not has_buttons(final), trial


def test_a_message_slack_did_not_update_is_repaired_by_the_worker(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, link
) -> None:
    from app.ops import worker

    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Repair me", username="ops", password="pw")
    user.command("UALICE", f"share password {entry} with user:carol")
    (request_id,) = slack.wait_for(lambda: list(approval_messages(slack)))
    slack.fail("chat.update", times=5)
    user.click("UAPPROVER1", "approve", request_id)
    slack.wait_for(lambda: bot.engine.get(request_id).state is State.APPLIED)
    # The update that says so refused too (the state is stored before it is shown): once
    # failures stop, only the worker's repair brings the message up to date.
    slack.wait_for(lambda: any("Applied" in c.blocks_text() for c in slack.calls_to("chat.update")))
    # The refused update is remembered for repair once Slack's answer is back in the bot.
    slack.wait_for(lambda: request_id in bot.engine.store.due("repair", time.time() + 1, limit=100))
    slack.failures.clear()
    assert worker.repair(bot.runtime) == 1
    final = last_update(slack, bot.sent(request_id).ts)
    assert "Applied" in final.blocks_text() and not has_buttons(final)


# --- 1. as deployed: serve (2 gunicorn workers) + worker, 20 approvals on one entry ------------


@pytest.fixture
def deployed(slack_env: dict[str, str], tmp_path) -> Iterator[str]:
    with running_as_deployed({**slack_env, "MYSAFE_BOT_APPLY_LEASE": "30"}, tmp_path) as bot:
        yield bot.url


pytestmark = pytest.mark.server_and_cluster


@pytest.mark.slow
def test_twenty_approvals_on_one_entry_as_deployed(
    deployed: str, slack: SlackFake, emulator: Emulator, link, redis, key_prefix: str
) -> None:
    link("UALICE", "alices")
    emulator.options.latency = (0.0, 0.03)
    names = [f"person{n}" for n in range(20)]
    for name in names:
        emulator.add_user(name)
    entry = emulator.add_password("alices", name="Prod DB", username="ops", password="pw")
    client = SlackClient(deployed, SIGNING_SECRET, slack.response_url)
    for name in names:
        assert client.command("UALICE", f"share password {entry} with user:{name}").status_code == 200
    ids = slack.wait_for(
        lambda: len(approval_messages(slack)) == 20 and list(approval_messages(slack)), timeout=60
    )
    barrier = threading.Barrier(20)

    def click(rid: str) -> int:
        barrier.wait()
        return client.click("UAPPROVER1", "approve", rid).status_code

    with ThreadPoolExecutor(20) as pool:
        assert set(pool.map(click, ids)) == {200}
    store = ApprovalStore(redis, prefix=key_prefix)
    slack.wait_for(lambda: all(store.get(r).state is State.APPLIED for r in ids), timeout=90)
    shared = {u["username"] for u in emulator.get_password(entry)["users_allowed"]}
    assert shared == set(names)
    assert len(emulator.calls_to("PUT", "/api/mysafe/password/update")) == 20
