"""Step-up in a real browser: Debian's headless Chromium (driven by Playwright, already the
project's browser driver) with a virtual authenticator (Chrome DevTools Protocol
`WebAuthn.addVirtualAuthenticator`: ctap2, internal transport, resident keys, user verification
on) makes real passkey registrations and assertions on the bot's own pages.

Register a passkey from `/mysafe passkey`, click Approve, confirm on `/step-up/<token>`, the
change is applied; and the refusals as a browser meets them: no passkey registered, another
person's link, a replayed link, a challenge sent twice, a counter gone back (the credential
copied into a second authenticator), user verification off, a page at another origin.
Screenshots are kept under `test-artifacts/step-up/` (gitignored) for docs/step-up.md and for
a person to look at.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from tests.support.processes import free_port
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The bot listens on 127.0.0.1; WebAuthn needs the name `localhost` (a secure context
    # and a domain for the RP ID), so the name is pinned to that address.
    "--host-resolver-rules=MAP localhost 127.0.0.1",
]
WAIT_MS = 20_000
POLICY = textwrap.dedent("""
    rules:
      - name: production
        approvals: 2
        approvers: [UAPPROVER1, UAPPROVER2, UAPPROVER3]
        step_up: passkey
""")

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (it is in the test extras: `make test` installs it)",
)
if not CHROMIUM.exists():
    pytest.skip(
        "no browser: Debian's chromium is not installed at /usr/bin/chromium "
        "(`make test` installs it with apt-get where it can)",
        allow_module_level=True,
    )


@pytest.fixture
def bot(slack_env: dict[str, str], redis, tmp_path: Path) -> Iterator[Bot]:
    """The bot on a port known in advance: its public URL is the pages' WebAuthn origin."""
    port = free_port()
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    environ = {
        **slack_env,
        "MYSAFE_BOT_POLICY": str(policy),
        "MYSAFE_BOT_PUBLIC_URL": f"http://localhost:{port}",
    }
    with served_bot(environ, redis, port=port) as served:
        yield served


@pytest.fixture
def user(bot: Bot, slack: SlackFake) -> SlackClient:
    return SlackClient(bot.url, SIGNING_SECRET, slack.response_url)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = request.config.rootpath / "test-artifacts" / "step-up"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def device(browser: sync_api.Browser, *, verifies: bool = True) -> sync_api.Page:
    """One person's browser, with a platform authenticator that verifies the user (or, with
    `verifies` False, one that cannot: user verification off)."""
    return authenticator(browser, verifies=verifies)[0]


def authenticator(
    browser: sync_api.Browser, *, verifies: bool = True
) -> tuple[sync_api.Page, sync_api.CDPSession, str]:
    """A browser page, its DevTools session and its virtual authenticator's id."""
    page = browser.new_context(viewport={"width": 900, "height": 560}).new_page()
    page.set_default_timeout(WAIT_MS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": verifies,
                "isUserVerified": verifies,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return page, cdp, added["authenticatorId"]


def link_in(slack: SlackFake, before: int, words: str) -> str:
    text = slack.wait_for(lambda: [r["text"] for r in slack.responses[before:] if words in r["text"]])[
        0
    ]
    match = re.search(r"<(http://localhost:\d+/[^|>]+)\|", text)
    assert match, text
    return match.group(1)


def register(page: sync_api.Page, user: SlackClient, slack: SlackFake, who: str) -> None:
    before = len(slack.responses)
    assert user.command(who, "passkey").status_code == 200
    page.goto(link_in(slack, before, "Register a passkey"))
    page.click("#go")
    sync_api.expect(page.locator("#status")).to_have_text(re.compile("Your passkey is registered"))


def approve(page: sync_api.Page, user: SlackClient, slack: SlackFake, who: str, rid: str) -> None:
    before = len(slack.responses)
    assert user.click(who, "approve", rid).status_code == 200
    page.goto(link_in(slack, before, "confirm your approval"))
    sync_api.expect(page.locator("h1")).to_have_text(f"Confirm your approval of {rid}")


def test_register_then_approve_with_a_passkey_in_chromium(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    browser: sync_api.Browser,
    emulator: Emulator,
    link,
    artifacts: Path,
) -> None:
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="prod db", username="db", password="pw-Old-1")
    carol, dave = device(browser), device(browser)
    register(carol, user, slack, "UAPPROVER1")
    carol.screenshot(path=str(artifacts / "1-passkey-registered.png"))
    register(dave, user, slack, "UAPPROVER2")

    before = len(slack.responses)
    assert user.command("UALICE", f"share password {entry} with user:carol").status_code == 200
    request_id = slack.wait_for(
        lambda: [r["text"] for r in slack.responses[before:] if "waiting for approval" in r["text"]]
    )[0].split("*")[1]

    approve(carol, user, slack, "UAPPROVER1", request_id)
    carol.screenshot(path=str(artifacts / "2-confirm-approval.png"))
    assert bot.engine.get(request_id).approvals == frozenset()  # the click alone counts nothing
    carol.click("#go")
    sync_api.expect(carol.locator("#status")).to_have_text(re.compile(r"Confirmed: .*\(1 of 2"))
    carol.screenshot(path=str(artifacts / "3-approval-confirmed.png"))
    assert bot.engine.get(request_id).approvals == {"UAPPROVER1"}

    approve(dave, user, slack, "UAPPROVER2", request_id)
    dave.click("#go")
    sync_api.expect(dave.locator("#status")).to_have_text(re.compile("the request is applied"))
    assert bot.engine.get(request_id).state is State.APPLIED
    assert len(emulator.calls_to("PUT", "/api/mysafe/password/update")) == 1


def test_an_approver_without_a_passkey_is_told_on_the_page(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    browser: sync_api.Browser,
    emulator: Emulator,
    link,
    artifacts: Path,
) -> None:
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="prod db", username="db", password="pw-Old-1")
    before = len(slack.responses)
    assert user.command("UALICE", f"share password {entry} with user:carol").status_code == 200
    request_id = slack.wait_for(
        lambda: [r["text"] for r in slack.responses[before:] if "waiting for approval" in r["text"]]
    )[0].split("*")[1]
    page = device(browser)
    approve(page, user, slack, "UAPPROVER3", request_id)
    page.click("#go")
    sync_api.expect(page.locator("#status")).to_have_text(re.compile("no passkey registered"))
    page.screenshot(path=str(artifacts / "4-no-passkey.png"))
    assert bot.engine.get(request_id).approvals == frozenset()


def share_request(user: SlackClient, slack: SlackFake, entry: int) -> str:
    before = len(slack.responses)
    assert user.command("UALICE", f"share password {entry} with user:carol").status_code == 200
    return slack.wait_for(
        lambda: [r["text"] for r in slack.responses[before:] if "waiting for approval" in r["text"]]
    )[0].split("*")[1]


def confirm_link(user: SlackClient, slack: SlackFake, who: str, rid: str) -> str:
    before = len(slack.responses)
    assert user.click(who, "approve", rid).status_code == 200
    return link_in(slack, before, "confirm your approval")


def status(page: sync_api.Page, words: str) -> None:
    sync_api.expect(page.locator("#status")).to_have_text(re.compile(words))


def test_the_refusals_as_a_browser_meets_them(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    browser: sync_api.Browser,
    emulator: Emulator,
    link,
    artifacts: Path,
) -> None:
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="prod db", username="db", password="pw-Old-1")
    carol, carol_cdp, carol_key = authenticator(browser)
    dave = device(browser)
    register(carol, user, slack, "UAPPROVER1")
    register(dave, user, slack, "UAPPROVER2")
    request_id = share_request(user, slack, entry)

    # Another person's link: Dave's passkey is not Carol's, his browser has none to offer.
    carols = confirm_link(user, slack, "UAPPROVER1", request_id)
    dave.goto(carols)
    dave.click("#go")
    status(dave, "no usable passkey")
    dave.screenshot(path=str(artifacts / "5-another-persons-link.png"))
    # Replayed: the link was used by that attempt, for anyone.
    carol.goto(carols)
    sync_api.expect(carol.locator("h1")).to_have_text("This link does not work")
    assert bot.engine.get(request_id).approvals == frozenset()

    # A page at another origin than MYSAFE_BOT_PUBLIC_URL's: the browser itself refuses.
    elsewhere = confirm_link(user, slack, "UAPPROVER1", request_id).replace("localhost", "127.0.0.1")
    carol.goto(elsewhere)
    carol.click("#go")
    status(carol, "no usable passkey")
    assert bot.engine.get(request_id).approvals == frozenset()

    # Carol's own confirmation counts; the same answer sent again is refused.
    sent: list[str] = []
    carol.on("request", lambda r: sent.append(r.post_data or "") if r.url.endswith("/verify") else None)
    good = confirm_link(user, slack, "UAPPROVER1", request_id)
    carol.goto(good)
    carol.click("#go")
    status(carol, r"Confirmed: .*\(1 of 2")
    again = carol.request.post(
        good + "/verify", data=sent[-1], headers={"Content-Type": "application/json"}
    )
    assert again.status == 400 and "already used" in again.json()["message"]
    assert bot.engine.get(request_id).approvals == {"UAPPROVER1"}

    # A counter gone back: Carol's credential, copied into a fresh authenticator at count 0.
    (credential,) = carol_cdp.send("WebAuthn.getCredentials", {"authenticatorId": carol_key})[
        "credentials"
    ]
    assert credential["signCount"] > 0
    copy, copy_cdp, copy_key = authenticator(browser)
    copy_cdp.send(
        "WebAuthn.addCredential",
        {"authenticatorId": copy_key, "credential": {**credential, "signCount": 0}},
    )
    second = share_request(user, slack, entry)
    copy.goto(confirm_link(user, slack, "UAPPROVER1", second))
    copy.click("#go")
    status(copy, "counter went back: it may have been copied")
    copy.screenshot(path=str(artifacts / "6-counter-went-back.png"))
    assert bot.engine.get(second).approvals == frozenset()


def test_an_authenticator_without_user_verification_registers_nothing(
    bot: Bot, user: SlackClient, slack: SlackFake, browser: sync_api.Browser
) -> None:
    page = device(browser, verifies=False)
    before = len(slack.responses)
    assert user.command("UAPPROVER1", "passkey").status_code == 200
    page.goto(link_in(slack, before, "Register a passkey"))
    page.click("#go")
    sync_api.expect(page.locator("#status")).to_have_class("failed")
    assert bot.engine.stepup.passkeys.of("UAPPROVER1") == []
