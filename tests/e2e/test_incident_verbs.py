"""`disable` and `enable` end to end, under the sample policy (deploy/policy.example.yml).

Signed Slack commands and clicks in, the MySafe emulator behind, the Slack fake recording what
the bot says. The promises: a leaked credential is disabled at once, audited and announced in
the approvals channel; enabling waits for an approver; MySafe's answers are told in the bot's
words; a disabled entry is shown as such; a change to it is refused before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.approvals.machine import State
from app.mysafe.models import Kind
from app.sandbox.emulator import Emulator
from tests.e2e.test_slack_verbs import (
    APPROVALS,
    APPROVER,
    approval_posts,
    ask,
    message_update,
    nothing_stored,
    readable,
    request_id_in,
)
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually

SAMPLE_POLICY = Path(__file__).parents[2] / "deploy" / "policy.example.yml"
LEAK = 'reason "leaked in a public repo"'


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    # The sample's production rule asks for step-up, which needs the bot's public URL.
    return {
        **slack_env,
        "MYSAFE_BOT_POLICY": str(SAMPLE_POLICY),
        "MYSAFE_BOT_PUBLIC_URL": "https://mysafe-bot.example.com",
    }


@pytest.fixture
def entries(bot: Bot, emulator: Emulator, link) -> dict[Kind, int]:
    """A password and an API secret alices owns; bobm may view the password, carol nothing."""
    link("UALICE", "alices")
    link("UBOB", "bobm")
    link("UCAROL", "carol")
    return {
        Kind.PASSWORD: emulator.add_password(
            "alices",
            name="GCP console",
            username="ops@example.com",
            password="old-Password-9!",
            users_allowed=[{"username": "bobm"}],
        ),
        Kind.SECRET: emulator.add_secret(
            "alices",
            name="Billing API",
            url="https://api.example.com",
            client_id="c",
            client_secret="s",
        ),
    }


def is_active(emulator: Emulator, kind: Kind, identifier: int) -> bool:
    raw: Callable[[int], dict | None] = (
        emulator.get_password if kind is Kind.PASSWORD else emulator.get_secret
    )
    found = raw(identifier)
    assert found is not None
    return bool(found["active"])


BOTH = pytest.mark.parametrize("kind", [Kind.PASSWORD, Kind.SECRET], ids=["password", "secret"])


@BOTH
def test_disable_applies_at_once_audited_and_announced(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: dict[Kind, int],
    kind: Kind,
) -> None:
    told = ask(user, slack, "UALICE", f"disable {kind.value} {entries[kind]} {LEAK}")
    request_id = request_id_in(told)
    assert "applied at once" in told and "waiting" not in told
    assert not is_active(emulator, kind, entries[kind])
    (card,) = approval_posts(slack)
    assert "disable" in readable(card) and "leaked in a public repo" in readable(card)
    assert "no approval needed" in readable(card) and "Approve" not in readable(card)
    assert request_id in message_update(slack, "Applied").blocks_text()
    events = [r.event for r in bot.engine.audit.read(request=request_id)]
    assert events[:1] == ["request.created"]
    assert "request.auto_approved" in events and "request.applied" in events
    assert bot.engine.get(request_id).approvals == frozenset()


@BOTH
def test_enable_waits_for_an_approver(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: dict[Kind, int],
    kind: Kind,
) -> None:
    emulator.set_active(kind.value, entries[kind], False)
    told = ask(user, slack, "UALICE", f'enable {kind.value} {entries[kind]} reason "rotated"')
    request_id = request_id_in(told)
    assert f"waiting for approval in <#{APPROVALS}>" in told
    assert bot.engine.get(request_id).state is State.PENDING
    assert not is_active(emulator, kind, entries[kind])
    (card,) = approval_posts(slack)
    assert "disabled → enabled" in readable(card)
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    message_update(slack, "Applied")
    assert is_active(emulator, kind, entries[kind])


def test_the_sample_policy_wants_a_reason_to_disable(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entries: dict[Kind, int]
) -> None:
    told = ask(user, slack, "UALICE", f"disable password {entries[Kind.PASSWORD]}")
    assert "reason" in told and "Nothing was stored" in told
    nothing_stored(bot, slack)
    assert is_active(emulator, Kind.PASSWORD, entries[Kind.PASSWORD])


@pytest.mark.parametrize(
    ("command", "active", "words"),
    [
        ("disable", False, "is already disabled in MySafe"),
        ("enable", True, "is not disabled in MySafe: there is nothing to enable"),
    ],
)
def test_a_state_it_already_has_is_refused_at_submission(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: dict[Kind, int],
    command: str,
    active: bool,
    words: str,
) -> None:
    emulator.set_active("secret", entries[Kind.SECRET], active)
    told = ask(user, slack, "UALICE", f"{command} secret {entries[Kind.SECRET]} {LEAK}")
    assert f"API secret {entries[Kind.SECRET]} {words}" in told
    nothing_stored(bot, slack)


@pytest.mark.parametrize(
    ("who", "words"),
    [
        ("UBOB", "You can only view password"),
        (
            "UCAROL",
            "Your MySafe key has no access to that entry. MySafe said: User does not have access (MySafe code 1006)",
        ),
    ],
)
def test_only_someone_who_can_edit_the_entry_may_disable_it(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: dict[Kind, int],
    who: str,
    words: str,
) -> None:
    told = ask(user, slack, who, f"disable password {entries[Kind.PASSWORD]} {LEAK}")
    assert words in told
    nothing_stored(bot, slack)
    assert is_active(emulator, Kind.PASSWORD, entries[Kind.PASSWORD])


@pytest.mark.parametrize(
    "command",
    ["share password {id} with user:carol", 'update password {id} notes="rotated"'],
    ids=["share", "update"],
)
def test_a_change_to_a_disabled_entry_is_refused_at_submission(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: dict[Kind, int],
    command: str,
) -> None:
    emulator.set_active("password", entries[Kind.PASSWORD], False)
    told = ask(user, slack, "UALICE", command.format(id=entries[Kind.PASSWORD]))
    assert "disabled in MySafe" in told and "/mysafe enable" in told
    assert "(MySafe code 1009)" in told
    nothing_stored(bot, slack)


def test_a_pending_update_of_an_entry_disabled_meanwhile_fails_in_the_bots_words(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entries: dict[Kind, int]
) -> None:
    told = ask(user, slack, "UALICE", f'update password {entries[Kind.PASSWORD]} notes="new"')
    request_id = request_id_in(told)
    emulator.set_active("password", entries[Kind.PASSWORD], False)
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    failed = message_update(slack, "Failed")
    request = bot.engine.get(request_id)
    assert request.state is State.FAILED
    assert "disabled in MySafe" in request.error and "(MySafe code 1009)" in request.error
    assert "disabled in MySafe" in failed.blocks_text()


@BOTH
def test_show_says_the_entry_is_disabled(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entries: dict[Kind, int], kind: Kind
) -> None:
    emulator.set_active(kind.value, entries[kind], False)
    told = ask(user, slack, "UALICE", f"show {kind.value} {entries[kind]}")
    assert "is *disabled* in MySafe" in told
    assert f"/mysafe enable {kind.value} {entries[kind]}" in told


@BOTH
def test_list_shows_an_entry_disabled_through_the_bot_until_it_is_enabled(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: dict[Kind, int],
    kind: Kind,
) -> None:
    name = "GCP console" if kind is Kind.PASSWORD else "Billing API"
    ask(user, slack, "UALICE", f"disable {kind.value} {entries[kind]} {LEAK}")
    listed = ask(user, slack, "UALICE", f"list {kind.value}s")
    assert f"`{kind.value} {entries[kind]}` {name} — *disabled*" in listed
    request_id = request_id_in(
        ask(user, slack, "UALICE", f'enable {kind.value} {entries[kind]} reason "rotated"')
    )
    assert name in readable(approval_posts(slack)[-1])  # the card names what it enables
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    eventually(lambda: bot.engine.get(request_id).state is State.APPLIED, 10, "enabled")
    listed = ask(user, slack, "UALICE", f"list {kind.value}s")
    assert f"`{kind.value} {entries[kind]}` {name}" in listed and "disabled" not in listed


def test_only_people_mysafe_lets_see_an_entry_see_it_listed_as_disabled(
    user: SlackClient, slack: SlackFake, entries: dict[Kind, int]
) -> None:
    ask(user, slack, "UALICE", f"disable password {entries[Kind.PASSWORD]} {LEAK}")
    assert "GCP console — *disabled*" in ask(user, slack, "UBOB", "list passwords")
    assert "GCP console" not in ask(user, slack, "UCAROL", "list passwords")


def test_an_approvers_home_lists_what_was_disabled_by_whom_and_why(
    user: SlackClient, slack: SlackFake, entries: dict[Kind, int]
) -> None:
    request_id = request_id_in(
        ask(user, slack, "UALICE", f"disable password {entries[Kind.PASSWORD]} {LEAK}")
    )
    user.event({"type": "app_home_opened", "user": APPROVER, "channel": "D1", "tab": "home"})
    home = json.dumps(slack.wait_calls("views.publish")[-1].args["view"], ensure_ascii=False)
    assert "Disabled through the bot" in home
    assert f"`password {entries[Kind.PASSWORD]}` GCP console — *disabled* by <@UALICE>" in home
    assert request_id in home and "leaked in a public repo" in home
    user.event({"type": "app_home_opened", "user": "UBOB", "channel": "D1", "tab": "home"})
    assert "Disabled through the bot" not in json.dumps(slack.wait_calls("views.publish", 2)[-1].args)
