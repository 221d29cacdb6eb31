"""Step-up end to end over HTTP: signed Slack commands and clicks, the bot's passkey pages as
a browser calls them, real WebAuthn payloads from a software authenticator, the recording
Slack fake and the MySafe emulator. (The same in a real Chromium: test_step_up_browser.py.)"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import requests

from app.approvals.machine import State
from app.approvals.stepup import b64url
from app.sandbox.emulator import Emulator
from tests.support.authenticator import SoftAuthenticator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually

ORIGIN = "http://localhost:8765"  # the origin browsers would use; requests go to bot.url
POLICY = textwrap.dedent("""
    rules:
      - name: production
        approvals: 2
        approvers: [UAPPROVER1, UAPPROVER2, UAPPROVER3]
        step_up: passkey
""")
LINK = re.compile(r"<(http://localhost:8765/(?:passkeys|step-up)/([A-Za-z0-9_-]+))\|")


@pytest.fixture
def slack_env(slack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    return {**slack_env, "MYSAFE_BOT_POLICY": str(path), "MYSAFE_BOT_PUBLIC_URL": ORIGIN}


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    return emulator.add_password("alices", name="<b>db</b>", username="db", password="pw-Old-1")


def answer(slack: SlackFake, before: int, words: str) -> str:
    return slack.wait_for(lambda: [r["text"] for r in slack.responses[before:] if words in r["text"]])[
        0
    ]


def token_in(text: str) -> str:
    match = LINK.search(text)
    assert match, text
    return match.group(2)


def ceremony(bot: Bot, page: str, token: str, make) -> requests.Response:
    """What the page's script does: options, then the browser's answer to them."""
    base = f"{bot.url}/{page}/{token}"
    options = requests.post(f"{base}/options", json={}, timeout=5)
    assert options.status_code == 200, options.text
    return requests.post(f"{base}/verify", json={"credential": make(options.text)}, timeout=5)


def register(bot: Bot, user: SlackClient, slack: SlackFake, who: str) -> SoftAuthenticator:
    before = len(slack.responses)
    assert user.command(who, "passkey").status_code == 200
    token = token_in(answer(slack, before, "Register a passkey"))
    auth = SoftAuthenticator(origin=ORIGIN, rp_id="localhost")
    done = ceremony(bot, "passkeys", token, auth.register)
    assert done.json() == {
        "ok": True,
        "message": "Your passkey is registered. You can close this page and go back to Slack.",
    }
    return auth


def approve(user: SlackClient, slack: SlackFake, who: str, request_id: str) -> str:
    """Click Approve; the token of the link the approver alone is sent."""
    before = len(slack.responses)
    assert user.click(who, "approve", request_id).status_code == 200
    return token_in(answer(slack, before, "confirm your approval"))


def test_the_passkey_command_registers_through_a_one_time_page(
    bot: Bot, user: SlackClient, slack: SlackFake
) -> None:
    before = len(slack.responses)
    assert user.command("UAPPROVER1", "passkey").status_code == 200
    token = token_in(answer(slack, before, "Register a passkey"))
    page = requests.get(f"{bot.url}/passkeys/{token}", timeout=5)
    assert page.status_code == 200 and "Register a passkey" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in page.text and token not in page.text  # no inline script, no secret
    ceremony(bot, "passkeys", token, SoftAuthenticator(origin=ORIGIN, rp_id="localhost").register)
    assert len(bot.engine.stepup.passkeys.of("UAPPROVER1")) == 1
    assert requests.get(f"{bot.url}/passkeys/{token}", timeout=5).status_code == 410  # used


def test_an_approval_counts_once_confirmed_on_the_page(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int, emulator: Emulator
) -> None:
    one = register(bot, user, slack, "UAPPROVER1")
    two = register(bot, user, slack, "UAPPROVER2")
    before = len(slack.responses)
    assert user.command("UALICE", f"share password {entry} with user:carol").status_code == 200
    request_id = answer(slack, before, "waiting for approval").split("*")[1]

    token = approve(user, slack, "UAPPROVER1", request_id)
    slack.wait_for(
        lambda: [
            c
            for c in slack.calls_to("chat.update")
            if "0 of 2 approvals, <@UAPPROVER1> confirming" in str(c.args)
        ]
    )
    assert bot.engine.get(request_id).approvals == frozenset()
    sent = eventually(
        lambda: [
            r for r in bot.engine.audit.read(request=request_id) if r.event == "passkey.link_sent"
        ],
        10,
        "the link's record",
    )
    assert [r.actor for r in sent] == ["UAPPROVER1"] and token not in str(sent[0].to_json())
    page = requests.get(f"{bot.url}/step-up/{token}", timeout=5)
    assert f"Confirm your approval of {request_id} with your passkey" in page.text
    assert "&lt;b&gt;db&lt;/b&gt;" in page.text and "<b>db</b>" not in page.text  # escaped

    done = ceremony(bot, "step-up", token, one.assert_)
    assert done.json()["ok"] is True, done.text
    assert bot.engine.get(request_id).approvals == {"UAPPROVER1"}
    assert requests.get(f"{bot.url}/step-up/{token}", timeout=5).status_code == 410  # once

    ceremony(bot, "step-up", approve(user, slack, "UAPPROVER2", request_id), two.assert_)
    assert bot.engine.get(request_id).state is State.APPLIED
    assert len(emulator.calls_to("PUT", "/api/mysafe/password/update")) == 1


def test_a_link_used_by_someone_else_counts_nothing(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    register(bot, user, slack, "UAPPROVER1")
    mallory = register(bot, user, slack, "UAPPROVER2")
    before = len(slack.responses)
    assert user.command("UALICE", f"share password {entry} with user:carol").status_code == 200
    request_id = answer(slack, before, "waiting for approval").split("*")[1]
    token = approve(user, slack, "UAPPROVER1", request_id)
    refused = ceremony(bot, "step-up", token, mallory.assert_)
    assert refused.status_code == 400
    assert refused.json()["message"] == "That passkey is not one you registered with the bot."
    assert bot.engine.get(request_id).approvals == frozenset()
    # Security reads whose link it was, for which request, and the passkey that was offered.
    (record,) = [r for r in bot.engine.audit.read() if r.event == "request.step_up_refused"]
    assert record.actor == "UAPPROVER1" and record.request == request_id
    assert record.facts["credential"] == b64url(mallory.credential_id)


def test_a_deny_needs_no_step_up_and_ends_a_pending_one(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    one = register(bot, user, slack, "UAPPROVER1")
    before = len(slack.responses)
    assert user.command("UALICE", f"share password {entry} with user:carol").status_code == 200
    request_id = answer(slack, before, "waiting for approval").split("*")[1]
    token = approve(user, slack, "UAPPROVER1", request_id)
    assert user.click("UAPPROVER2", "deny", request_id).status_code == 200  # no passkey asked
    slack.wait_for(lambda: [1] if bot.engine.get(request_id).state is State.DENIED else [])
    late = ceremony(bot, "step-up", token, one.assert_)
    assert late.status_code == 409
    assert late.json()["message"] == f"{request_id} is denied: your confirmation changed nothing."
    assert bot.engine.get(request_id).approvals == frozenset()


def test_the_app_home_lists_a_persons_passkeys_and_removes_them(
    bot: Bot, user: SlackClient, slack: SlackFake
) -> None:
    laptop = register(bot, user, slack, "UAPPROVER1")
    register(bot, user, slack, "UAPPROVER1")
    bot.runtime.home.publish("UAPPROVER1")
    home = slack.wait_for(lambda: slack.calls_to("views.publish"))[-1]
    shown = [
        b
        for b in home.args["view"]["blocks"]
        if b.get("accessory", {}).get("text", {}).get("text") == "Remove"
    ]
    assert len(shown) == 2
    credential = b64url(laptop.credential_id)
    assert credential in [b["accessory"]["value"] for b in shown]
    assert user.click("UAPPROVER2", "passkey_remove", credential).status_code == 200  # not hers
    assert user.click("UAPPROVER1", "passkey_remove", credential).status_code == 200
    # The job removes the passkey, then audits it: the audit record is what marks it done.
    removed = eventually(
        lambda: [r for r in bot.engine.audit.read() if r.event == "passkey.removed"],
        10,
        "the removal audited",
    )
    assert [r.actor for r in removed] == ["UAPPROVER1"]
    assert bot.engine.stepup.passkeys.get("UAPPROVER1", credential) is None
    assert len(bot.engine.stepup.passkeys.of("UAPPROVER1")) == 1


def test_the_passkey_page_speaks_its_persons_slack_language(
    bot: Bot, user: SlackClient, slack: SlackFake
) -> None:
    slack.profiles["UAPPROVER1"] = {"locale": "pt-BR"}
    before = len(slack.responses)
    assert user.command("UAPPROVER1", "passkey").status_code == 200
    token = token_in(answer(slack, before, "/passkeys/"))
    page = requests.get(f"{bot.url}/passkeys/{token}", timeout=5)
    assert '<html lang="pt-BR">' in page.text
    assert "<h1>Registre uma passkey</h1>" in page.text
    assert 'data-waiting="Aguardando sua passkey…"' in page.text  # what the script says
    assert "Voltar ao Slack" in page.text and "Register" not in page.text
    auth = SoftAuthenticator(origin=ORIGIN, rp_id="localhost")
    done = ceremony(bot, "passkeys", token, auth.register)
    assert done.json()["message"] == (
        "Sua passkey está registrada. Você pode fechar esta página e voltar ao Slack."
    )
    gone = requests.get(f"{bot.url}/passkeys/{token}", timeout=5)  # whose? the link is used
    assert gone.status_code == 410 and '<html lang="en">' in gone.text  # the workspace's
    assert "This link does not work" in gone.text
