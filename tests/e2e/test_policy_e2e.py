"""The approval policy end to end: signed Slack commands and clicks, the ticketing webhook and the
MCP front, against the MySafe emulator and the Slack fake, with a policy file in MYSAFE_BOT_POLICY.

Each front meets the same rules: where the request is posted, how many approvals and from whom,
a required reason or ticket (refused at submission, nothing stored), `approvals: 0` applied at
once; approvals count per person, and guests, other organisations, deactivated accounts and bots
take no part.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from app.accounts.mcp_tokens import McpTokens
from app.approvals.machine import State
from app.mcp.server import build_mcp
from app.sandbox.emulator import Emulator
from app.webhooks.signing import signed_headers
from tests.support.processes import free_port
from tests.support.slack_fake import SlackCall, SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient

PROD_CHANNEL = "C0PRODAPPROVALS"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
POLICY = textwrap.dedent("""
    rules:
      - name: production
        match: {tags: [prod]}
        approvals: 2
        approvers: [UAPPROVER1, UAPPROVER2, UAPPROVER3, UAPPROVER4]
        channel: C0PRODAPPROVALS
        reason: required
        max_duration: 7d
      - name: audited
        match: {tags: [audited]}
        ticket: required
      - name: unshare
        match: {verbs: [unshare]}
        approvals: 0
      - name: default
        approvals: 1
        approvers: [UAPPROVER1]
""")


@pytest.fixture
def slack_env(slack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    return {**slack_env, "MYSAFE_BOT_POLICY": str(path), "MYSAFE_BOT_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def entries(bot: Bot, emulator: Emulator, link) -> dict[str, int]:
    """alices' entries: one tagged prod, one audited, one untagged; carol can be shared with."""
    link("UALICE", "alices")
    emulator.add_user("carol")
    bot.services.vault.map_mention("UCAROL", "carol")
    return {
        tag or "plain": emulator.add_password(
            "alices",
            name=f"{tag or 'plain'} db",
            username="db",
            password="pw-Old-1",
            tags=tag,
            # carol has view on the untagged one only: a share that changes nothing is refused.
            users_allowed=[] if tag else [{"username": "carol"}],
        )
        for tag in ("prod", "audited", "")
    }


def ask(user: SlackClient, slack: SlackFake, who: str, text: str) -> str:
    before = len(slack.responses)
    assert user.command(who, text).status_code == 200
    return slack.wait_responses(before + 1)[before]["text"]


def click(
    user: SlackClient, slack: SlackFake, who: str, request_id: str, action: str = "approve"
) -> None:
    assert user.click(who, action, request_id).status_code == 200


def told(slack: SlackFake, words: str) -> str:
    return slack.wait_for(lambda: [r["text"] for r in slack.responses if words in r["text"]])[0]


def posted(slack: SlackFake, channel: str) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]


def readable(call: SlackCall) -> str:
    """A message's text and blocks as a person reads them."""
    return json.dumps(
        {k: v for k, v in call.args.items() if k in ("text", "blocks")}, ensure_ascii=False
    )


def shown(slack: SlackFake, words: str) -> SlackCall:
    return slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if words in readable(c)])[
        -1
    ]


def share_prod(user: SlackClient, slack: SlackFake, entries: dict[str, int]) -> str:
    answer = ask(
        user, slack, "UALICE", f'share password {entries["prod"]} with user:carol edit reason "on call"'
    )
    assert "waiting for approval in <#C0PRODAPPROVALS>" in answer, answer
    return answer.split("*")[1]


def nothing_stored(bot: Bot, slack: SlackFake) -> None:
    assert bot.engine.queue() == []
    assert [c for c in slack.calls_to("chat.postMessage") if c.args["channel"].startswith("C")] == []


# --- the rule decides where, how many and who -------------------------------------------------


def test_a_request_goes_where_its_rule_says_and_shows_the_rule_and_the_count(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int], emulator: Emulator
) -> None:
    request_id = share_prod(user, slack, entries)
    (message,) = slack.wait_for(lambda: posted(slack, PROD_CHANNEL))
    assert "production — 0 of 2 approvals" in readable(message)
    assert "(in 23 h 59 min)" in readable(message)  # time left before expiry
    assert posted(slack, "C0APPROVALS") == []
    stored = bot.engine.get(request_id)
    assert (stored.rule, stored.required) == ("production", 2)

    click(user, slack, "UAPPROVER1", request_id)
    shown(slack, "production — 1 of 2 approvals")
    assert emulator.calls_to("PUT", "/api/mysafe/password/update") == []
    click(user, slack, "UAPPROVER4", request_id)  # an approver of this rule only
    shown(slack, "Applied")
    assert bot.engine.get(request_id).state is State.APPLIED


def test_eligibility_is_checked_against_the_requests_own_rule(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    answer = ask(
        user, slack, "UALICE", f"share password {entries['plain']} with user:carol edit"
    )  # view -> edit
    request_id = answer.split("*")[1]
    click(user, slack, "UAPPROVER4", request_id)  # approves production, not the default rule
    assert "not one of the configured approvers" in told(slack, "approvers")
    assert bot.engine.get(request_id).approvals == frozenset()
    refused = [r for r in bot.engine.audit.read(request=request_id) if r.event == "click.refused"]
    assert refused[0].facts["why"] == "not_approver"


def test_only_the_requests_own_approvers_see_its_change_or_give_up_its_end(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    """UAPPROVER4 approves production only: a default-rule share is none of hers, neither
    its full change nor a failing end that would leave carol her access."""
    answer = ask(
        user, slack, "UALICE", f"share password {entries['plain']} with user:carol edit for 1h"
    )
    request_id = answer.split("*")[1]
    click(user, slack, "UAPPROVER4", request_id, "view_change")
    assert "Only the approvers and the requester" in told(slack, "full change")
    assert slack.calls_to("views.open") == []
    click(user, slack, "UAPPROVER1", request_id)
    shown(slack, "Applied")
    bot.services.vault.unlink("UALICE")  # the owner's key is gone: the end keeps failing
    revoker = bot.runtime.revoker
    assert revoker is not None
    revoker.sweep(now=float(bot.engine.get(request_id).result["ends"]) + 1)
    bot.services.redis.delete(bot.engine.store.request_keys(request_id)[0])  # weeks later
    click(user, slack, "UAPPROVER4", request_id, "revoke_give_up")
    assert "Only approvers of the rule" in told(slack, "give up")
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "retrying"
    click(user, slack, "UAPPROVER1", request_id, "revoke_give_up")
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "gave up" in c.args["text"]])


def test_a_missing_required_reason_is_refused_and_nothing_is_stored(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    answer = ask(user, slack, "UALICE", f"share password {entries['prod']} with user:carol")
    assert "the policy rule “production” requires a reason" in answer
    assert "Nothing was stored." in answer
    nothing_stored(bot, slack)


def test_a_missing_required_ticket_is_refused_and_nothing_is_stored(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    answer = ask(user, slack, "UALICE", f"share password {entries['audited']} with user:carol")
    assert "the policy rule “audited” requires a ticket" in answer
    nothing_stored(bot, slack)

    given = ask(
        user,
        slack,
        "UALICE",
        f"share password {entries['audited']} with user:carol "
        "ticket <https://jira.example.com/browse/SEC-42>",
    )
    request = bot.engine.get(given.split("*")[1])
    assert (request.rule, dict(request.ticket)) == (
        "audited",
        {"key": "SEC-42", "url": "https://jira.example.com/browse/SEC-42"},
    )
    (message,) = slack.wait_for(lambda: posted(slack, "C0APPROVALS"))
    assert "*Ticket:* <https://jira.example.com/browse/SEC-42|SEC-42>" in readable(message)


def test_a_share_longer_than_the_rules_max_duration_is_refused(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    answer = ask(
        user, slack, "UALICE", f'share password {entries["prod"]} with user:carol for 8d reason "audit"'
    )
    assert "the policy rule “production” allows at most 7 days" in answer
    nothing_stored(bot, slack)
    within = ask(
        user, slack, "UALICE", f'share password {entries["prod"]} with user:carol for 7d reason "audit"'
    )
    assert "waiting for approval" in within


def test_approvals_zero_applies_at_once_and_is_audited(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int], emulator: Emulator
) -> None:
    answer = ask(user, slack, "UALICE", f"unshare password {entries['plain']} from user:carol")
    request_id = answer.split("*")[1]
    shown(slack, "Applied")
    assert emulator.get_password(entries["plain"])["users_allowed"] == []
    events = [r.event for r in bot.engine.audit.read(request=request_id)]
    assert "request.auto_approved" in events and "request.applied" in events
    assert bot.engine.get(request_id).approvals == frozenset()


# --- quorum by identity -------------------------------------------------------------------------


def test_two_slack_accounts_of_one_mysafe_user_count_once(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int], emulator: Emulator
) -> None:
    for account in ("UAPPROVER1", "UAPPROVER2"):
        bot.services.vault.map_mention(account, "secops-sam")
    request_id = share_prod(user, slack, entries)
    click(user, slack, "UAPPROVER1", request_id)
    shown(slack, "production — 1 of 2 approvals")
    click(user, slack, "UAPPROVER2", request_id)  # the same person's other account
    assert "your click changed nothing" in told(slack, "changed nothing")
    assert bot.engine.get(request_id).approvals == {"UAPPROVER1"}
    assert emulator.calls_to("PUT", "/api/mysafe/password/update") == []
    click(user, slack, "UAPPROVER3", request_id)  # a second person completes it
    shown(slack, "Applied")


def test_the_requesters_second_account_counts_zero(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    bot.services.vault.map_mention("UAPPROVER3", "alices")  # alice's admin account
    request_id = share_prod(user, slack, entries)
    click(user, slack, "UAPPROVER3", request_id)
    assert "it is your own request" in told(slack, "your own request")
    assert bot.engine.get(request_id).approvals == frozenset()
    refused = [r for r in bot.engine.audit.read(request=request_id) if r.event == "click.refused"]
    assert refused[0].facts["why"] == "self"


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        ({"is_restricted": True}, "Guests cannot"),
        ({"is_ultra_restricted": True}, "Guests cannot"),
        ({"team_id": "T0OTHERORG"}, "another organisation"),
        ({"deleted": True}, "deactivated Slack account"),
        ({"is_bot": True}, "Bots and apps"),
    ],
)
def test_guests_other_organisations_deactivated_accounts_and_bots_cannot_approve(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entries: dict[str, int],
    profile: dict[str, Any],
    words: str,
) -> None:
    slack.profiles["UAPPROVER2"] = profile
    request_id = share_prod(user, slack, entries)
    click(user, slack, "UAPPROVER2", request_id)
    assert words in told(slack, words)
    assert bot.engine.get(request_id).approvals == frozenset()
    refused = [r for r in bot.engine.audit.read(request=request_id) if r.event == "click.refused"]
    assert refused[0].actor == "UAPPROVER2" and words in refused[0].facts["why"]


def test_a_guest_cannot_request(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    slack.profiles["UALICE"] = {"is_restricted": True}
    answer = ask(
        user, slack, "UALICE", f'share password {entries["prod"]} with user:carol reason "on call"'
    )
    assert "Guests cannot request or approve" in answer
    nothing_stored(bot, slack)
    refused = [r for r in bot.engine.audit.read() if r.event == "request.refused"]
    assert refused[0].actor == "UALICE"


# --- the webhook and MCP fronts obey the same rules ---------------------------------------------


def ticket(bot: Bot, entry: int, **overrides: Any) -> requests.Response:
    """A signed ticket asking to share `entry` with carol, for alice."""
    body = {
        "event_id": f"evt-{entry}-{len(overrides)}",
        "ticket": {"key": "SEC-42"},
        "requester": {"slack_id": "UALICE"},
        "action": "share",
        "entry": {"kind": "password", "id": entry},
        "users": [{"username": "carol", "can_edit": True}],
        **overrides,
    }
    raw = json.dumps(body).encode()
    return requests.post(
        f"{bot.url}/webhooks/ticketing",
        data=raw,
        timeout=10,
        headers={"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, raw)},
    )


def test_the_webhook_obeys_the_same_rules(bot: Bot, slack: SlackFake, entries: dict[str, int]) -> None:
    refused = ticket(bot, entries["prod"])
    assert refused.status_code == 400 and "requires a reason" in refused.json()["error"]
    nothing_stored(bot, slack)

    accepted = ticket(bot, entries["prod"], reason="incident INC-7")
    assert accepted.status_code == 202
    request = bot.engine.get(accepted.json()["request_id"])
    assert (request.rule, request.required, request.source) == ("production", 2, "ticket")
    assert slack.wait_for(lambda: posted(slack, PROD_CHANNEL))

    audited = ticket(bot, entries["audited"], reason="audit")  # the webhook carries its ticket
    assert audited.status_code == 202
    assert bot.engine.get(audited.json()["request_id"]).rule == "audited"


@pytest.fixture
def mcp_url(bot: Bot) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            build_mcp(bot.engine, public_url=url).streamable_http_app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.02)
    assert server.started
    yield f"{url}/mcp"
    server.should_exit = True
    thread.join(10)


def propose(url: str, token: str, arguments: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await session.call_tool("propose_share", arguments)

    return asyncio.run(run())


def test_the_mcp_front_obeys_the_same_rules(
    bot: Bot, slack: SlackFake, entries: dict[str, int], mcp_url: str
) -> None:
    token = McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).issue(
        "UALICE", ttl=3600
    )
    share = {"kind": "password", "id": entries["prod"], "users": ["carol"]}
    refused = propose(mcp_url, token, {**share, "reason": ""})
    assert refused.isError and "requires a reason" in refused.content[0].text
    nothing_stored(bot, slack)

    accepted = propose(mcp_url, token, {**share, "reason": "new on-call"})
    assert not accepted.isError, accepted.content
    request = bot.engine.get(accepted.structuredContent["request_id"])
    assert (request.rule, request.required, request.source) == ("production", 2, "mcp")


def test_the_home_queue_lists_only_what_the_viewer_may_decide(
    bot: Bot, user: SlackClient, slack: SlackFake, entries: dict[str, int]
) -> None:
    """An approver's Home shows the requests of the rules that list them, and not one their
    other account already approved."""
    bot.services.vault.map_mention("UAPPROVER2", "secops-sam")
    bot.services.vault.map_mention("UAPPROVER3", "secops-sam")
    prod = share_prod(user, slack, entries)
    plain = ask(
        user, slack, "UALICE", f"share password {entries['audited']} with user:carol ticket SEC-1"
    ).split("*")[1]

    def home(who: str, count: int) -> str:
        user.event({"type": "app_home_opened", "user": who, "channel": "D1", "tab": "home"})
        view = slack.wait_calls("views.publish", count)[count - 1].args["view"]
        text = json.dumps(view)
        return text.split("Waiting for your approval")[1] if "Waiting for your approval" in text else ""

    queue = home("UAPPROVER4", 1)  # production lists them; the audited rule (settings) does not
    assert prod in queue and plain not in queue
    click(user, slack, "UAPPROVER2", prod)
    shown(slack, "production — 1 of 2 approvals")
    queue = home("UAPPROVER3", 2)  # the same person as UAPPROVER2: nothing left for them here
    assert prod not in queue and plain in queue
