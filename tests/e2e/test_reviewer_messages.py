"""Messages a reviewer can act on: the approval message says who gets what, then labelled
fields; once decided it names who decided, when and why; a failure says what happens next and
keeps its reason when the request later expires; the requester gets one DM per outcome.

End to end: signed slash commands and clicks, the MySafe emulator, the recording Slack fake.
"""

from __future__ import annotations

import re

from app.sandbox.emulator import Emulator
from tests.e2e.test_slack_verbs import (  # noqa: F401 - entry, people: fixtures
    APPROVER,
    approval_posts,
    buttons,
    dms_to,
    entry,
    message_update,
    people,
    share,
    wait_dm,
)
from tests.support.slack_fake import SlackFake, dm_channel
from tests.support.slack_harness import Bot
from tests.support.slack_reading import visible
from tests.support.slack_requests import SlackClient, text_input
from tests.support.waiting import eventually

DATE = re.compile(r"<!date\^\d+\^\{date_short_pretty\} at \{time\}\|\d+>")


def blocks_of(call) -> list[str]:
    return [visible(b["text"]["text"]) for b in call.args["blocks"] if "text" in b]


def test_the_message_says_who_gets_what_then_labelled_fields(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    share(user, slack, entry)
    (posted,) = slack.wait_for(lambda: approval_posts(slack))
    header, headline, fields, change, details, status = blocks_of(posted)
    assert headline == (f"<@UALICE> asks to give *carol view* access to password {entry} “GCP console”")
    assert fields == (
        f"*Requester:* <@UALICE> (MySafe: alices)\n*Entry:* password {entry} “GCP console”"
    )
    assert change == "*Change:*\n+ carol (view)"  # bobm keeps his access: not listed
    assert details == "*Reason:* “on-call”"
    assert re.fullmatch(
        rf"\*⏳ Waiting for approval\* — default — 0 of 1 approvals · expires "
        rf"{DATE.pattern} \(in .+\)",
        status,
    ), status
    for raw in ("users_allowed", "secret_key", "who:"):
        assert raw not in posted.blocks_text()


def test_an_applied_request_names_who_approved_and_when_and_tells_the_requester_once(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    request_id = share(user, slack, entry)
    user.click(APPROVER, "approve", request_id)
    applied = message_update(slack, "Applied")
    status = blocks_of(applied)[-1]
    assert re.fullmatch(
        rf"\*✅ Applied\* — approved by <@{APPROVER}> {DATE.pattern} · "
        r"MySafe said: “.+”",
        status,
    ), status
    assert "expires" not in blocks_of(applied)[-1] and buttons(applied) == []
    told = wait_dm(slack, "UALICE")
    assert "Applied" in told.args["text"] and f"<@{APPROVER}>" in told.args["text"]
    bot.engine.sweep(now=bot.engine.get(request_id).expires + 1)  # nothing more to say
    assert len([c for c in dms_to(slack, "UALICE") if request_id in c.args["text"]]) == 1


def test_a_denied_request_names_who_denied_when_and_why(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    request_id = share(user, slack, entry)
    user.click(APPROVER, "deny", request_id)
    user.submit_view(
        APPROVER,
        "deny_reason",
        {"reason": {"value": text_input("not on call")}},
        private_metadata=request_id,
    )
    denied = message_update(slack, "not on call")
    assert re.fullmatch(
        rf"\*⛔ Denied\* by <@{APPROVER}> {DATE.pattern}: “not on call”", blocks_of(denied)[-1]
    )
    assert len([c for c in dms_to(slack, "UALICE") if request_id in c.args["text"]]) == 1


def test_a_failure_says_what_happens_next_and_keeps_its_reason_when_it_expires(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entry: int,  # noqa: F811
) -> None:
    request_id = share(user, slack, entry)
    emulator.inject(
        status=400,
        body={"code": 400, "error": True, "error_code": 1006, "message": "User does not have access"},
        method="PUT",
        path_prefix="/api/mysafe/password/update",
        times=5,
    )
    user.click(APPROVER, "approve", request_id)
    failed = message_update(slack, "Failed")
    assert "An approver can *Retry* it or *Deny* it" in blocks_of(failed)[-1]
    assert buttons(failed)[:2] == ["Retry", "Deny"]
    told = wait_dm(slack, "UALICE").args["text"]
    assert "Failed" in told and "An approver can *Retry* it" in told and DATE.search(told)
    error = bot.engine.get(request_id).error
    assert error

    bot.engine.sweep(now=bot.engine.get(request_id).expires + 1)
    expired = message_update(slack, "Expired")
    assert re.fullmatch(rf"\*⌛ Expired\* after failing {DATE.pattern}: .+", blocks_of(expired)[-1])
    assert visible(error.split("(")[0]).strip() in blocks_of(expired)[-1]
    eventually(lambda: bot.engine.get(request_id).untold is None, 10, "the sweep's news told")
    assert len([c for c in dms_to(slack, "UALICE") if request_id in c.args["text"]]) == 2


def test_approvers_are_told_a_request_waits_for_them_by_dm(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    request_id = share(user, slack, entry)
    told = wait_dm(slack, APPROVER).args["text"]
    assert told.startswith(f"{request_id} waits for your approval in <#")
    assert "asks to give *carol view* access" in told
    assert not [c for c in dms_to(slack, "UALICE") if "waits for your approval" in c.args["text"]]


def test_approvers_can_be_told_in_the_requests_thread_instead(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
    monkeypatch,
) -> None:
    import dataclasses

    approvers = bot.runtime.notifier.approvers
    monkeypatch.setattr(
        approvers, "settings", dataclasses.replace(approvers.settings, tell_approvers="thread")
    )
    request_id = share(user, slack, entry)
    (posted,) = slack.wait_for(lambda: approval_posts(slack)[:1])
    reply = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    )[0]
    assert reply.args["channel"] == posted.args["channel"]
    assert f"<@{APPROVER}>" in reply.args["text"]
    assert reply.args["text"].endswith(f"{request_id} waits for your approval.")
    assert dms_to(slack, APPROVER) == []


def dm_updates(slack: SlackFake, user_id: str, words: str) -> list:
    """`chat.update`s of the bot's DM with `user_id` whose text says `words`."""
    return [
        c
        for c in slack.calls_to("chat.update")
        if c.args["channel"] == dm_channel(user_id) and words in c.args.get("text", "")
    ]


def test_the_requester_reads_why_they_were_denied_in_the_dm_that_told_them(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    """The click denies and tells the requester at once; the reason typed a moment later
    appears on that same DM, not only in the channel."""
    request_id = share(user, slack, entry)
    user.click(APPROVER, "deny", request_id)
    told = wait_dm(slack, "UALICE").args["text"]
    assert request_id in told and "Denied" in told and "not on call" not in told
    user.submit_view(
        APPROVER,
        "deny_reason",
        {"reason": {"value": text_input("not on call")}},
        private_metadata=request_id,
    )
    (updated,) = slack.wait_for(lambda: dm_updates(slack, "UALICE", "not on call"))
    assert re.fullmatch(
        rf"Your request {request_id} to share password {entry} “GCP console”: "
        rf"\*⛔ Denied\* by <@{APPROVER}> {DATE.pattern}: “not on call”",
        updated.args["text"],
    ), updated.args["text"]
    assert len([c for c in dms_to(slack, "UALICE") if request_id in c.args["text"]]) == 1


def test_an_approver_who_would_gain_access_is_not_asked_to_approve(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    """UAPPROVER2 is the grantee: the request is not theirs to approve, so no DM asks them."""
    bot.services.vault.map_mention("UAPPROVER2", "bobm")
    request_id = share(user, slack, entry, who="<@UAPPROVER2|bob> edit")
    last = wait_dm(slack, "UGROUPAPPROVER").args["text"]  # the approvers are told in ID order
    assert last.startswith(f"{request_id} waits for your approval")
    assert wait_dm(slack, APPROVER).args["text"].startswith(f"{request_id} waits for your approval")
    assert dms_to(slack, "UAPPROVER2") == []


def test_the_approvers_dms_say_once_it_is_decided_what_and_by_whom(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    entry: int,  # noqa: F811
) -> None:
    request_id = share(user, slack, entry)
    wait_dm(slack, "UGROUPAPPROVER")
    user.click(APPROVER, "approve", request_id)
    for approver in ("UAPPROVER1", "UAPPROVER2", "UAPPROVER3", "UGROUPAPPROVER"):
        (updated,) = slack.wait_for(lambda a=approver: dm_updates(slack, a, "Applied"))
        text = updated.args["text"]
        assert text.startswith(f"{request_id} in <#C0APPROVALS>, which waited for your approval")
        assert f"approved by <@{APPROVER}>" in text and "waits for your approval" not in text
