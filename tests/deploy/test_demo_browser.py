"""The first minute, in a real browser: `mysafe-bot serve` with an empty environment, then the
demo console clicked through in headless Chromium (Debian's, driven by Playwright).

share → approve → applied, and a share an outsider cannot approve and an approver denies.
Screenshots are kept under `test-artifacts/demo-console/` (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import free_port as _free_port
from tests.support.processes import wait_until_ready as _wait_until_ready

CHROMIUM = Path("/usr/bin/chromium")
# Playwright never downloads a browser here: Debian's Chromium, with nothing phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: What an action or an expectation waits at most: the whole suite shares the cores with the
#: demo, so a first job may take seconds (Playwright's expectations wait 5 s by default).
WAIT_MS = 20_000

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


@dataclass
class Demo:
    url: str
    process: subprocess.Popen
    log: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`make run` on a fresh machine: no setting at all but where to keep data, no `.env`."""
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MYSAFE_BOT_DATA_DIR": str(tmp_path / "data"),
        "MYSAFE_BOT_MCP_PORT": "0",
    }  # a fixed port other test runs may hold
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port)],
            env=env,
            stderr=stderr,
            cwd=tmp_path,
        )
        running = Demo(f"http://127.0.0.1:{port}", process, log)
        try:
            ready = _wait_until_ready(f"{running.url}/readyz", process, time.monotonic() + 60)
            assert ready.status_code == 200, log.read_text()
            yield running
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = request.config.rootpath / "test-artifacts" / "demo-console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(demo: Demo) -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.set_default_timeout(WAIT_MS)
            sync_api.expect.set_options(timeout=WAIT_MS)
            page.goto(demo.url + "/")
            yield page
        finally:
            browser.close()


def be(page: sync_api.Page, slack_id: str) -> None:
    page.select_option("#person", slack_id)


def type_command(page: sync_api.Page, text: str) -> None:
    page.fill("#command", text)
    page.press("#command", "Enter")


def request_card(page: sync_api.Page, request_id: str) -> sync_api.Locator:
    """The approvals channel message of one request."""
    return page.locator(".message", has=page.locator(".block.header", has_text=request_id))


def share(page: sync_api.Page, command: str) -> str:
    """Type a share in the approvals channel; the new request's ID, once its message is in."""
    headers = page.locator(".message .block.header")
    before = headers.count()
    type_command(page, command)
    sync_api.expect(headers).to_have_count(before + 1)
    return headers.last.inner_text().rsplit(" ", 1)[-1]


def test_the_demo_page_says_it_is_a_demo_and_serves_on_loopback_only(demo: Demo) -> None:
    page = requests.get(demo.url + "/", timeout=10)
    assert page.status_code == 200
    assert "Nothing leaves the machine" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # Another Host (DNS rebinding) is refused, and so is an action sent as a plain form.
    assert requests.get(demo.url + "/", headers={"Host": "evil.example"}, timeout=10).status_code == 403
    assert (
        requests.post(demo.url + "/demo/command", data={"as": "U0DEMOPRIYA"}, timeout=10).status_code
        == 415
    )


def answer_to(page: sync_api.Page, command: str) -> sync_api.Locator:
    """Type a command; the bot's answer to it, once in: the second ephemeral it adds (the
    first is the command itself, which Slack shows only to the person who typed it)."""
    ephemerals = page.locator(".message.ephemeral")
    before = ephemerals.count()
    type_command(page, command)
    sync_api.expect(ephemerals).to_have_count(before + 2)
    return ephemerals.last


@pytest.mark.slow
def test_a_newcomer_links_the_key_the_console_shows_them(page: sync_api.Page, artifacts: Path) -> None:
    """Nina is not linked: the sidebar shows her her own sandbox key, to paste into the form
    `/mysafe login` opens; the bot checks it with MySafe and links it."""
    expect = sync_api.expect
    key = page.locator("#key")
    expect(key).to_be_hidden()  # Priya is linked already: no key to paste
    be(page, "U0DEMONINA")
    expect(key).to_contain_text("ninan")
    shown = key.locator(".key-value").all_inner_texts()  # client ID, secret, username
    page.click("#nav-dm")
    type_command(page, "/mysafe login")
    modal = page.locator("#modal")
    expect(modal).to_be_visible()
    for name, value in zip(("client_id", "client_secret", "mysafe_username"), shown, strict=True):
        modal.locator(f"input[name={name}]").fill(value)
    page.screenshot(path=str(artifacts / "6-newcomer-login.png"))
    modal.locator(".btn.primary").click()
    expect(modal).to_contain_text("Key linked")


@pytest.mark.slow
def test_help_and_a_typo_are_answered_in_the_console(page: sync_api.Page, artifacts: Path) -> None:
    """The first things a newcomer types each get their answer, to them alone, as in Slack."""
    expect = sync_api.expect
    helped = answer_to(page, "/mysafe help")
    expect(helped).to_contain_text("/mysafe share password|secret ID with")
    expect(helped).to_contain_text("Only visible to you")
    page.screenshot(path=str(artifacts / "0-help.png"))

    typo = answer_to(page, "/mysafe shre password 1")
    expect(typo).to_contain_text('There is no command "shre". Did you mean share?')
    expect(answer_to(page, "/mysafe list")).to_contain_text("/mysafe list passwords|secrets")
    be(page, "U0DEMOCAROL")
    expect(page.locator(".message.ephemeral")).to_have_count(0)  # Priya's answers were hers


def test_a_person_switched_to_portuguese_is_answered_in_portuguese(
    page: sync_api.Page, artifacts: Path
) -> None:
    """The language switch under a person's name: what Slack's own language setting is."""
    expect = sync_api.expect
    be(page, "U0DEMOALICE")
    page.select_option("#language", "pt-BR")
    helped = answer_to(page, "/mysafe ajuda")
    expect(helped).to_contain_text("lista os comandos, ou mostra como usar um deles")
    expect(helped).to_contain_text("Verbos em português: ajuda = help")
    page.screenshot(path=str(artifacts / "0-ajuda.png"))
    be(page, "U0DEMOBOB")
    expect(page.locator("#language")).to_have_value("en-US")  # each person has their own
    be(page, "U0DEMOALICE")
    expect(page.locator("#language")).to_have_value("pt-BR")
    page.select_option("#language", "en-US")
    expect(answer_to(page, "/mysafe help")).to_contain_text("list the commands")


def test_share_approve_applied_then_a_deny_clicked_through_in_the_console(
    page: sync_api.Page, artifacts: Path, demo: Demo
) -> None:
    expect = sync_api.expect
    expect(page.locator(".demo-banner")).to_contain_text("Nothing leaves the machine")

    # Priya asks to share the GCP console password with Alice.
    first = share(page, '/mysafe share password 1 with @alice edit reason "on-call this week"')
    card = request_card(page, first)
    expect(card).to_contain_text("@alice edit")  # named as in Slack, by mention
    expect(card).to_contain_text("on-call this week")
    expect(card.get_by_role("button", name="Approve")).to_be_visible()

    # Carol, an approver, sees it in the channel and approves it.
    be(page, "U0DEMOCAROL")
    expect(card.get_by_role("button", name="Approve")).to_be_visible()
    page.screenshot(path=str(artifacts / "1-approval-request.png"))
    card.get_by_role("button", name="Approve").click()
    expect(card).to_contain_text("Applied")
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)
    page.screenshot(path=str(artifacts / "2-applied.png"))

    # It is in MySafe: Priya's `show` lists Alice with edit rights.
    be(page, "U0DEMOPRIYA")
    type_command(page, "/mysafe show password 1")
    expect(page.locator(".message.ephemeral").last).to_contain_text("alices")

    # A second request: the outsider cannot approve it, an approver denies it with a reason.
    hostile = "<img src=x onerror=window.pwned=1> *not bold* <https://evil.example|click>"
    second = share(page, f'/mysafe share password 2 with @alice reason "{hostile}"')
    assert second != first
    denied = request_card(page, second)
    # Texts are hostile: shown as typed, never as markup, a link or a script.
    expect(denied).to_contain_text("<img src=x onerror=window.pwned=1>")
    assert denied.locator("img, a[href*='evil']").count() == 0
    assert page.evaluate("window.pwned === undefined")
    be(page, "U0DEMOOSCAR")
    denied.get_by_role("button", name="Approve").click()
    expect(page.locator(".message.ephemeral").last).to_contain_text("approv")
    expect(denied).to_contain_text("Waiting")

    be(page, "U0DEMOBOB")
    expect(page.locator(".message.ephemeral")).to_have_count(0)  # Oscar's answer was his alone
    denied.get_by_role("button", name="Deny").click()
    modal = page.locator("#modal")
    expect(modal).to_be_visible()
    modal.locator("textarea, input").first.fill("not for prod")
    page.screenshot(path=str(artifacts / "3-deny-reason.png"))
    modal.get_by_role("button", name="Submit").or_(modal.locator(".btn.primary")).first.click()
    expect(page.locator("#modal-backdrop")).to_be_hidden()
    expect(denied).to_contain_text("Denied")
    expect(denied).to_contain_text("not for prod")
    expect(denied.get_by_role("button", name="Deny")).to_have_count(0)
    page.screenshot(path=str(artifacts / "4-denied.png"))

    # Priya was told of both outcomes in her DM with the bot, the denial with its reason.
    be(page, "U0DEMOPRIYA")
    page.click("#nav-dm")
    dm = page.locator("#messages")
    expect(dm).to_contain_text(first)
    told = dm.locator(".message", has_text=f"Your request {second}")
    expect(told).to_contain_text("Denied")
    expect(told).to_contain_text("not for prod")
    page.screenshot(path=str(artifacts / "5-denied-dm-with-reason.png"))
    assert "Traceback" not in demo.log.read_text()


@pytest.mark.slow
def test_approving_the_production_entry_asks_the_approver_for_a_passkey(
    page: sync_api.Page, artifacts: Path
) -> None:
    """The demo's own policy: Carol's click on a share of “Prod DB” (tagged prod) counts for
    nothing until she confirms it with a passkey, on the bot's page at localhost."""
    expect = sync_api.expect
    expect(page.locator(".demo-banner")).to_contain_text("Nothing leaves the machine")
    request_id = share(page, '/mysafe share password 2 with @alice reason "db migration"')
    card = request_card(page, request_id)
    expect(card).to_contain_text("production")
    be(page, "U0DEMOCAROL")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_contain_text("@carol confirming")
    expect(card).to_contain_text("0 of 1")
    told = page.locator(".message.ephemeral").last
    expect(told).to_contain_text("passkey")
    link = told.locator("a", has_text="confirm your approval")
    expect(link).to_have_count(1)
    assert (link.get_attribute("href") or "").startswith("http://localhost:")
    page.screenshot(path=str(artifacts / "7-step-up-asked.png"))
