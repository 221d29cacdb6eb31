"""A time-bound share as people in Slack meet it: asked for with a slash command, approved with a
click, ended by the worker — replied in the approval's thread, DMed to owner and grantee — and,
when MySafe refuses, shown in the approvals channel until done or given up."""

from __future__ import annotations

import pytest

from app.approvals.revoker import RETRY_BASE
from app.foundations.clock import timestamp
from app.ops.worker import repair, sweep
from app.sandbox.emulator import Emulator
from tests.e2e.test_slack_verbs import APPROVER, approve, ask, readable, request_id_in
from tests.support.redis_text import everything_stored
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient

APPROVALS = "C0APPROVALS"


@pytest.fixture
def entry(bot: Bot, emulator: Emulator, link) -> int:
    """A password alices owns, shared read-only with bobm; carol's mention is mapped."""
    link("UALICE", "alices")
    emulator.add_user("carol")
    emulator.add_user("bobm")
    bot.services.vault.map_mention("UCAROL", "carol")
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-Password-9!",
        users_allowed=[{"username": "bobm"}],
    )


def shared_for_an_hour(bot: Bot, user: SlackClient, slack: SlackFake, entry: int) -> str:
    told = ask(
        user,
        slack,
        "UALICE",
        f'share password {entry} with <@UCAROL|carol> edit for 1h reason "on-call"',
    )
    request_id = request_id_in(told)
    approve(user, slack, request_id)
    applied_told(slack)
    return request_id


def applied_told(slack: SlackFake) -> None:
    """Wait for the approval's last words, the DMs after the message says Applied: the end's
    own DMs and message update must come after them, as they would a while later."""
    slack.wait_for(
        lambda: (
            {c.args.get("channel") for c in slack.calls_to("chat.postMessage")} >= {"UALICE", "UCAROL"}
        )
    )


def later(bot: Bot, request_id: str, seconds: float) -> float:
    return float(bot.engine.get(request_id).result["ends"]) + seconds


def test_the_end_is_told_in_the_thread_and_to_owner_and_grantee(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    request_id = shared_for_an_hour(bot, user, slack, entry)
    assert {u["username"] for u in emulator.get_password(entry)["users_allowed"]} == {"bobm", "carol"}
    assert bot.runtime.revoker is not None
    assert bot.runtime.revoker.sweep(now=later(bot, request_id, 1)) == 1
    assert [u["username"] for u in emulator.get_password(entry)["users_allowed"]] == ["bobm"]
    (reply,) = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert reply.args["channel"] == APPROVALS
    assert "Time is up: <@UCAROL> (edit) removed" in reply.args["text"]
    for person in ("UALICE", "UCAROL"):
        assert any(
            "Time is up" in c.args["text"]
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("channel") == person
        )
    assert repair(bot.runtime) == 1  # the worker's next pass: the approval message says it ended
    ended = [c for c in slack.calls_to("chat.update") if "Was for 1 h; ended" in readable(c)]
    assert len(ended) == 1 and "taken back (see the thread)" in readable(ended[0])


def test_the_ends_notices_name_people_by_mention_and_the_grantee_as_you(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    """Carol was shared with by mention: the channel and the owner read `@carol`, never her
    MySafe username, and her own DM says `you`."""
    request_id = shared_for_an_hour(bot, user, slack, entry)
    assert bot.runtime.revoker is not None
    assert bot.runtime.revoker.sweep(now=later(bot, request_id, 1)) == 1

    def told(channel: str) -> str:
        (said,) = [
            c.args["text"]
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("channel") == channel and "Time is up" in c.args["text"]
        ]
        return said

    assert told(APPROVALS).startswith("Time is up: <@UCAROL> (edit) removed from password")
    assert told("UALICE").startswith("Time is up: <@UCAROL> (edit) removed from password")
    assert told("UCAROL").startswith("Time is up: you (edit) removed from password")
    assert "carol (edit)" not in " ".join(told(c) for c in (APPROVALS, "UALICE", "UCAROL"))


def test_a_revoke_that_fails_is_shown_until_it_succeeds(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    request_id = shared_for_an_hour(bot, user, slack, entry)
    emulator.inject(status=503, method="PUT", path_prefix="/api/mysafe/password/update", times=3)
    assert bot.runtime.revoker is not None
    bot.runtime.revoker.sweep(now=later(bot, request_id, 1))
    (alert,) = [c for c in slack.calls_to("chat.postMessage") if "could not be removed" in str(c.args)]
    assert alert.args["channel"] == APPROVALS
    assert "access of <@UCAROL> (edit) to password" in alert.args["text"]
    assert "still retrying" in alert.args["text"]
    assert "Give up" in alert.blocks_text() or "Give up" in str(alert.args["blocks"])
    bot.runtime.revoker.sweep(now=later(bot, request_id, 10 * RETRY_BASE))
    (update,) = [c for c in slack.calls_to("chat.update") if "was removed" in c.args["text"]]
    revoke = bot.runtime.revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "done"
    alert_ts = bot.runtime.notifier.sent.alert(request_id)[1]  # where the front keeps it
    assert (update.args["channel"], update.args["ts"]) == (APPROVALS, alert_ts)
    assert "Give up" not in str(update.args["blocks"])  # nothing left to give up
    assert [u["username"] for u in emulator.get_password(entry)["users_allowed"]] == ["bobm"]


def test_an_approver_gives_up_with_the_button(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    request_id = shared_for_an_hour(bot, user, slack, entry)
    bot.services.vault.unlink("UALICE")  # the owner's key is gone: the revoke cannot be made
    assert bot.runtime.revoker is not None
    bot.runtime.revoker.sweep(now=later(bot, request_id, 1))
    slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if "could not be removed" in str(c.args)]
    )
    before = len(slack.responses)
    assert user.click("UALICE", "revoke_give_up", request_id).status_code == 200
    assert slack.wait_responses(before + 1)[-1]["text"].startswith("Only approvers")
    assert user.click(APPROVER, "revoke_give_up", request_id).status_code == 200
    given_up = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "gave up" in c.args["text"]]
    )[0]
    assert f"<@{APPROVER}> gave up removing access of <@UCAROL> (edit)" in given_up.args["text"]
    assert sweep(bot.runtime) == 0
    assert bot.runtime.revoker.sweep(now=timestamp() + 100 * 86400) == 0  # no more attempts


def test_rotate_after_sets_a_new_password_that_appears_nowhere_else(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entry: int,
    redis,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    told = ask(
        user, slack, "UALICE", f"share password {entry} with <@UCAROL|carol> for 2h rotate-after"
    )
    request_id = request_id_in(told)
    approve(user, slack, request_id)
    applied_told(slack)
    assert bot.runtime.revoker is not None
    with caplog.at_level("DEBUG"):
        assert bot.runtime.revoker.sweep(now=later(bot, request_id, 1)) == 1
    new = emulator.get_password(entry)["password"]
    assert new != "old-Password-9!" and len(new) == bot.services.settings.rotate_length
    assert {c.isdigit() for c in new} == {True, False} and any(c.isupper() for c in new)
    assert [u["username"] for u in emulator.get_password(entry)["users_allowed"]] == ["bobm"]
    (put,) = emulator.calls_to("PUT", "/api/mysafe/password/update")[1:]
    assert put.user == "alices" and set(put.json) == {"users_allowed", "password"}
    owner_dm = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "UALICE"]
    assert "look it up in MySafe" in owner_dm[-1].args["text"]
    assert new not in slack.everything_sent()
    assert new not in everything_stored(redis, key_prefix)
    assert new not in caplog.text and new not in "".join(capfd.readouterr())
    assert new not in str([r.to_json() for r in bot.engine.audit.read()])


def test_rotate_after_is_for_passwords_only(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    secret = emulator.add_secret(
        "alices", name="API", url="https://api.example", client_id="cid", client_secret="cs-1"
    )
    told = ask(user, slack, "UALICE", f"share secret {secret} with user:carol for 2h rotate-after")
    assert "rotate-after is for passwords only" in told
    assert bot.engine.queue() == []


def test_the_approval_message_says_for_how_long_and_until_when(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    told = ask(user, slack, "UALICE", f"share password {entry} with user:carol for 8h")
    request_id = request_id_in(told)
    (posted,) = [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == APPROVALS]
    assert "For 8 h from approval, then taken back by itself" in readable(posted)
    applied = approve(user, slack, request_id)
    ends = int(later(bot, request_id, 0))
    shown = readable(applied)
    assert f"For 8 h — until <!date^{ends}^{{date_short_pretty}} {{time}}|" in shown
    assert "(your time), ends <!date^" in shown and "^{ago}|" in shown


def test_requests_and_the_home_tab_list_running_shares_and_the_owner_revokes_now(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int, link
) -> None:
    link("UCAROL", "carol")
    request_id = shared_for_an_hour(bot, user, slack, entry)
    for person, carol in (("UALICE", "<@UCAROL>"), ("UCAROL", "you")):
        listed = ask(user, slack, person, "requests")
        assert f"*Your time-bound shares* (1)\n*{request_id}* — {carol} (edit) on password" in listed
        assert "ends <!date^" in listed and "owner <@UALICE>" in listed

    def home(person: str) -> dict:
        before = len(slack.calls_to("views.publish"))
        user.event({"type": "app_home_opened", "user": person, "channel": "D1", "tab": "home"})
        return slack.wait_calls("views.publish", before + 1)[before].args["view"]

    def revoke_buttons(view: dict) -> list[str]:
        return [
            b["accessory"]["value"]
            for b in view["blocks"]
            if b.get("accessory", {}).get("action_id") == "revoke_now"
        ]

    assert revoke_buttons(home("UCAROL")) == []  # a grantee cannot end it for the owner
    assert revoke_buttons(home("UALICE")) == [request_id]

    before = len(slack.responses)
    assert user.click("UCAROL", "revoke_now", request_id).status_code == 200
    assert "Only the owner" in slack.wait_responses(before + 1)[-1]["text"]
    assert user.click("UALICE", "revoke_now", request_id).status_code == 200
    reply = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    )[0]
    assert "Time is up: <@UCAROL> (edit) removed" in reply.args["text"]
    assert [u["username"] for u in emulator.get_password(entry)["users_allowed"]] == ["bobm"]
    (now,) = [r for r in bot.engine.audit.read(request=request_id) if r.event == "revoke.now"]
    assert now.actor == "UALICE"
    assert "time-bound" not in ask(user, slack, "UALICE", "requests")


def test_a_reminder_offers_extend_to_both_and_revoke_now_to_the_owner(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int, link
) -> None:
    link("UCAROL", "carol")
    request_id = shared_for_an_hour(bot, user, slack, entry)
    assert bot.runtime.revoker is not None
    bot.runtime.revoker.sweep(now=later(bot, request_id, -0.1 * 3600 + 1))  # 6 min before

    def reminder(person: str):
        return [
            c
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("channel") == person and "ends" in c.args["text"]
        ][-1]

    def labels(call) -> list[str]:
        return [
            e["text"]["text"]
            for b in call.args["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]

    assert labels(reminder("UALICE")) == ["Extend", "Revoke now"]
    assert labels(reminder("UCAROL")) == ["Extend"]
    assert f"your access (edit) to password {entry}" in reminder("UCAROL").args["text"]
    assert f"access of <@UCAROL> (edit) to password {entry}" in reminder("UALICE").args["text"]

    before = len(slack.responses)
    assert user.click("UCAROL", "revoke_extend", request_id, channel="D1").status_code == 200
    told = slack.wait_responses(before + 1)[-1]["text"]
    extension = bot.engine.get(request_id_in(told))
    assert extension.id != request_id and extension.change.extends == request_id
    assert extension.requester == "UALICE"  # the owner's share still, whoever asked
    assert "filed for the owner who shared it, <@UALICE>" in told and "cancel" not in told
    posted = slack.wait_for(
        lambda: [
            c
            for c in slack.calls_to("chat.postMessage")
            if c.args["channel"] == APPROVALS and extension.id in str(c.args)
        ]
    )[0]
    assert f"extends {request_id}" in readable(posted)


def test_a_grantee_looking_at_the_home_tab_sees_the_share_end(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int, link
) -> None:
    link("UCAROL", "carol")
    request_id = shared_for_an_hour(bot, user, slack, entry)
    user.event({"type": "app_home_opened", "user": "UCAROL", "channel": "D1", "tab": "home"})

    def homes() -> list:
        return [
            c.args["view"] for c in slack.calls_to("views.publish") if c.args["user_id"] == "UCAROL"
        ]

    first = slack.wait_for(homes)[0]
    assert "Your time-bound shares" in str(first)
    assert bot.runtime.revoker is not None
    bot.runtime.revoker.sweep(now=later(bot, request_id, 1))
    after = slack.wait_for(lambda: len(homes()) >= 2 and homes())[-1]
    assert "Your time-bound shares" not in str(after)
