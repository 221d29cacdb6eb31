"""`/mysafe access ENTRY` end to end: who has access now, and through which request.

Signed commands and clicks through `POST /slack/events`, the MySafe emulator over HTTP behind,
the recording Slack fake (which refuses what Slack refuses) in front. Tests wait for recorded
calls, never for time.
"""

from __future__ import annotations

import json

import pytest

from app.approvals.machine import State
from app.ops.cli import main
from app.sandbox.emulator import Emulator
from tests.e2e.test_slack_verbs import (
    APPROVER,
    ask,
    opened,
    request_id_in,
)
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient


@pytest.fixture
def entry(bot: Bot, emulator: Emulator, link) -> int:
    """A password alices owns, shared read-only with bobm by hand (outside the bot)."""
    link("UALICE", "alices")
    for name in ("bobm", "carol", "dave"):
        emulator.add_user(name)
    emulator.add_group("Ops", ["bobm", "carol"])
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-Password-9!",
        users_allowed=[{"username": "bobm"}],
    )


def access(user: SlackClient, slack: SlackFake, entry: int, who: str = "UALICE") -> dict:
    """The ephemeral answer to `/mysafe access password ENTRY`, text and blocks."""
    before = len(slack.responses)
    ask(user, slack, who, f"access password {entry}")
    return slack.responses[before]


def applied(bot: Bot, user: SlackClient, slack: SlackFake, request_id: str) -> str:
    """An approver approves; returns once the engine has recorded it applied."""
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    slack.wait_for(lambda: bot.engine.get(request_id).state is State.APPLIED)
    return request_id


def share(bot: Bot, user: SlackClient, slack: SlackFake, entry: int, text: str) -> str:
    request_id = request_id_in(ask(user, slack, "UALICE", f"share password {entry} with {text}"))
    return applied(bot, user, slack, request_id)


def test_access_names_the_request_behind_each_share_and_what_came_from_outside(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    request_id = share(bot, user, slack, entry, 'user:carol group:"Ops" edit ticket OPS-12')
    answer = access(user, slack, entry)["text"]
    assert "who has access: 2 users, 1 group" in answer
    assert "bobm (view): given outside the bot" in answer
    through = f"through `{request_id}`, asked by <@UALICE>, approved by <@{APPROVER}> on <!date^"
    assert f"carol (edit): {through}" in answer and f"group Ops (edit): {through}" in answer
    assert ", ticket OPS-12" in answer


def test_a_time_bound_share_says_until_when(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    request_id = share(bot, user, slack, entry, "user:carol for 8h")
    answer = access(user, slack, entry)["text"]
    assert f"carol (view): through `{request_id}`" in answer
    assert "time-bound until <!date^" in answer


def test_a_right_changed_by_hand_or_unshared_is_not_credited_to_the_request(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    share(bot, user, slack, entry, "user:carol user:dave")
    unshared = request_id_in(ask(user, slack, "UALICE", f"unshare password {entry} from user:dave"))
    applied(bot, user, slack, unshared)
    by_hand = [{"username": "bobm"}, {"username": "carol", "can_edit": True}, {"username": "dave"}]
    emulator.update_entry("password", entry, users_allowed=by_hand)
    answer = access(user, slack, entry)["text"]
    assert "carol (edit): given outside the bot" in answer
    assert "dave (view): given outside the bot" in answer


def test_access_is_read_with_the_askers_own_key(
    user: SlackClient, slack: SlackFake, link, entry: int
) -> None:
    link("UDAVE", "dave")
    answer = access(user, slack, entry, who="UDAVE")["text"]
    assert "carol" not in answer and "bobm" not in answer
    assert "MySafe" in answer


def test_a_long_list_is_shortened_visibly_and_show_all_opens_every_line(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    names = [f"user{i:02d}" for i in range(30)]
    for name in names:
        emulator.add_user(name)
    emulator.update_entry(
        "password", entry, users_allowed=[{"username": "bobm"}, *({"username": n} for n in names)]
    )
    answer = access(user, slack, entry)
    assert "…and 11 more not shown here" in answer["text"]
    assert "user18 (view)" in answer["text"] and "user19" not in answer["text"]
    button = answer["blocks"][-1]["elements"][0]
    assert button["text"]["text"] == "Show all"
    assert user.click("UALICE", button["action_id"], button["value"]).status_code == 200
    view = opened(slack)
    shown = str(view["blocks"])
    assert all(f"{n} (view): given outside the bot" in shown for n in [*names, "bobm"])


def test_the_cli_reads_with_the_key_of_the_person_it_is_told(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator: Emulator,
) -> None:
    request_id = share(bot, user, slack, entry, "user:carol for 2h")
    for name, value in slack_env.items():
        monkeypatch.setenv(name, value)
    reads = len(emulator.calls_to("GET", "/api/mysafe/password"))

    assert main(["access", "password", str(entry), "--as", "UALICE"]) == 0
    printed = capsys.readouterr().out
    assert "bobm (view): given outside the bot" in printed
    assert f"carol (view): through `{request_id}`, asked by UALICE, approved by {APPROVER}" in printed
    assert "time-bound until 20" in printed and " UTC" in printed
    assert emulator.calls_to("GET", "/api/mysafe/password")[reads].user == "alices"

    assert main(["access", "password", str(entry), "--as", "UALICE", "--json"]) == 0
    holders = json.loads(capsys.readouterr().out)["holders"]
    assert [h["user"] for h in holders] == ["bobm", "carol"]
    assert holders[1]["through"][0]["request_id"] == request_id

    assert main(["access", "password", str(entry), "--as", "UNOBODY"]) == 1
    assert "login" in capsys.readouterr().err


def test_a_disabled_entry_says_so_rather_than_shared_with_nobody(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    emulator.set_active("password", entry, False)
    answer = access(user, slack, entry)["text"]
    assert f"*Password {entry}* is disabled in MySafe" in answer and "nobody" not in answer
