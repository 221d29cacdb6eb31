"""Text people or MySafe wrote is shown as typed and stays inert everywhere the bot shows it.

An entry name, a note, a reason, a user or group name, a MySafe username, a ticket key or URL, a
deny reason and MySafe's own words can hold Slack formatting (`*`, `_`, `~`, backticks), pings
(`<!channel>`, `@here`), links and line breaks. None may format, ping, link or start a line that
passes for the bot's own ("✅ Applied", "⏳ Waiting for approval — 1/1"): in the approval
message, its text fallback, the full-change modal, the Home tab, DMs and ephemeral replies.

End to end: a signed ticket and slash commands over HTTP, the MySafe emulator, the Slack fake.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from app import text
from app.sandbox.emulator import Emulator
from app.webhooks.signing import signed_headers
from tests.e2e.test_slack_verbs import APPROVALS, APPROVER, approval_posts, ask
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_reading import texts, visible
from tests.support.slack_requests import SlackClient, text_input

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
INJECTIONS = {
    "bold": "*bold*",
    "italic": "_x_",
    "strike": "~x~",
    "code": "`code`",
    "fence": "```",
    "line": "\n✅ Applied",
    "channel": "<!channel>",
    "link": "<https://evil.example|click>",
    "entity": "&lt;!here&gt;",
    "here": "@here",
    "mention": "<@U123>",
    "mixed": "*a* _b_ ~c~ `d` ```e```\n⏳ Waiting for approval — 1/1 <!here>",
}
#: Accepted by the webhook's URL check; pasted into link markup as it was, it made a live
#: `@channel` ping and a link to another site.
PHISHING_URL = "https://jira.example.com/x|click><!channel><https://evil.example/login"
#: What must never reach Slack as sent: a ping, a mention, or a link someone else chose.
LIVE = ("<!channel>", "<!here>", "<@U123>", "<https://evil.example")
#: A line of the bot's own, forged: it would begin a line of a message.
FORGED_LINE = re.compile(r"^\s*(✅|⏳)", re.MULTILINE)


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    return {**slack_env, "MYSAFE_BOT_WEBHOOK_SECRET": WEBHOOK_SECRET}


# --- the bot's output, as sent and as seen -------------------------------------------------------


def everything_sent(slack: SlackFake) -> list[tuple[str, str]]:
    """(type, text) of every text the bot sent Slack: messages, updates, views, responses."""
    shown = [{k: v for k, v in c.args.items() if k in ("text", "blocks", "view")} for c in slack.calls]
    return list(texts(shown + list(slack.responses)))


def assert_inert(sent: list[tuple[str, str]], typed: str) -> None:
    """Nothing sent carries `typed` as Slack would act on it: mrkdwn neither has it as typed
    nor anything live; plain_text (which Slack never formats) keeps it on one line."""
    for kind, value in sent:
        assert not FORGED_LINE.search(value), value
        if kind == "plain_text":
            assert "\n" not in value, value
            continue
        assert typed not in value, value
        assert not any(live in value for live in LIVE), value


def seen(sent: list[tuple[str, str]]) -> str:
    return "\n".join(visible(v) if kind == "mrkdwn" else v for kind, v in sent)


# --- the flow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_typed_text_is_shown_as_typed_and_never_acts(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, link, typed: str
) -> None:
    as_shown = typed.replace("\n", "⏎")
    username = "alices" + re.sub(r"[\s<>@\"'`]", "", typed)  # as much as usernames may hold
    link("UALICE", username)
    entry = emulator.add_password(
        username, name=f"GCP {typed}", username="ops", password="pw-Old-Value-1", notes=f"notes {typed}"
    )
    update = ticket(bot, typed, "update", changes={"notes": f"new {typed}", "tags": typed}, entry=entry)
    share = ticket(bot, typed, "share", users=[{"username": f"bob {typed}"}], entry=entry)
    slack.wait_for(lambda: len(approval_posts(slack)) == 2)
    ticket(
        bot, typed, "unshare", users=[{"username": "x"}], entry=entry, requester="UNLINKED", status=409
    )  # the requester is asked by DM to link a key first
    slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "UNLINKED"]
    )

    user.event({"type": "app_home_opened", "user": APPROVER, "channel": "D1", "tab": "home"})
    slack.wait_calls("views.publish")
    user.click(APPROVER, "view_change", update)
    slack.wait_calls("views.open")
    for command in (f"show password {entry}", "list passwords", "requests", "whoami"):
        ask(user, slack, "UALICE", command)

    user.click(APPROVER, "deny", update)
    user.submit_view(
        APPROVER,
        "deny_reason",
        {"reason": {"value": text_input(f"no {typed}")}},
        private_metadata=update,
    )
    user.click(APPROVER, "approve", share)  # MySafe's answer quotes the unknown user's name
    slack.wait_for(
        lambda: as_shown in seen(message_updates(slack)) and "Applied" in seen(message_updates(slack))
    )
    slack.wait_for(
        lambda: (
            len([c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "UALICE"]) >= 2
        )
    )

    sent = everything_sent(slack)
    assert_inert(sent, typed)
    message = seen(list(texts([approval_posts(slack)[0].args])))
    for where in (
        f"GCP {as_shown}",
        f"MySafe: {username})",
        f"new {as_shown}",
        f"*Reason:* “{as_shown}”",
    ):
        assert where in message, where
    assert f"+ bob {as_shown} (view)" in seen(list(texts([approval_posts(slack)[1].args])))
    assert f"no {as_shown}" in seen(message_updates(slack))
    assert f"GCP {as_shown}" in seen(dm_texts(slack)) and f"bob {as_shown}" in seen(sent)
    assert f"new {as_shown}" in seen(list(texts(slack.calls_to("views.open")[0].args["view"])))


def test_a_ticket_url_is_a_link_to_its_own_address_only(
    bot: Bot, slack: SlackFake, emulator: Emulator, link
) -> None:
    link("UALICE", "alices")
    entry = emulator.add_password("alices", name="GCP", username="ops", password="pw-Old-1")
    ticket(bot, "", "update", changes={"notes": "x"}, entry=entry, url=PHISHING_URL)
    (message,) = slack.wait_for(lambda: approval_posts(slack))
    links = re.findall(r"<(https?://[^|>]*)\|([^>]*)>", json.dumps(message.args["blocks"]))
    assert links == [
        ("https://jira.example.com/x%7Cclick%3E%3C!channel%3E%3Chttps://evil.example/login", "SEC-1")
    ]
    assert_inert(everything_sent(slack), PHISHING_URL)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://jira.example.com/browse/SEC-1?a=1&b=2",
            "<https://jira.example.com/browse/SEC-1?a=1&amp;b=2|SEC-*>",
        ),
        ("javascript:alert(1)", "SEC-* (link not shown: not an http(s) address)"),
        ("ftp://files.example.com/x", "SEC-* (link not shown: not an http(s) address)"),
        ("https:///nohost", "SEC-* (link not shown: not an http(s) address)"),
        ("https://evil.example|x/", "SEC-* (link not shown: not an http(s) address)"),
        ("https://evil.example/" + "a" * 3000, "SEC-* (link not shown: too long)"),
    ],
)
def test_only_http_addresses_with_a_host_become_links(url: str, shown: str) -> None:
    assert text.link(url, "SEC-*") == shown.replace("*", "\u200b*\u200b")


#: Every character the renderer changes, each alone in otherwise ordinary text: a value is
#: changed only when it holds one, so one left out of the check would pass through as typed.
CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\r\v\f\x85"]


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_every_control_character_is_shown_as_a_space(control: str) -> None:
    assert text.plain(f"a{control}b") == "a b"
    assert text.inline(f"a{control}b") == "a b" and text.code(f"a{control}b") == "a b"


@pytest.mark.parametrize("brk", ["\n", "\r", "\r\n", "\v", "\f", "\x85", "\u2028", "\u2029"])
def test_every_line_break_is_shown_as_one_mark(brk: str) -> None:
    assert text.inline(f"a{brk}✅ Applied") == f"a{text.LINE_BREAK}✅ Applied"


@pytest.mark.parametrize("char", list("*_~`"))
def test_every_formatting_character_is_fenced_alone_or_among_others(char: str) -> None:
    fenced = f"{text.ZWSP}{char}{text.ZWSP}"
    assert text.inline(f"x{char}y") == f"x{fenced}y"
    assert text.inline(f"<{char}@here") == f"&lt;{fenced}@{text.ZWSP}here"


# --- helpers -------------------------------------------------------------------------------------


def message_updates(slack: SlackFake) -> list[tuple[str, str]]:
    return list(
        texts([c.args for c in slack.calls_to("chat.update") if c.args.get("channel") == APPROVALS])
    )


def dm_texts(slack: SlackFake) -> list[tuple[str, str]]:
    return list(
        texts([c.args for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "UALICE"])
    )


def ticket(
    bot: Bot,
    typed: str,
    action: str,
    *,
    entry: int,
    url: str = "",
    requester: str = "UALICE",
    status: int = 202,
    **fields: Any,
) -> str:
    payload = {
        "event_id": f"evt-{action}-{entry}",
        "ticket": {"key": typed or "SEC-1", "url": url or "https://jira.example.com/browse/SEC-1"},
        "requester": {"slack_id": requester},
        "action": action,
        "entry": {"kind": "password", "id": entry},
        "reason": typed,
        **fields,
    }
    raw = json.dumps(payload).encode()
    answer = requests.post(
        f"{bot.url}/webhooks/ticketing",
        data=raw,
        timeout=10,
        headers={"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, raw)},
    )
    assert answer.status_code == status, answer.text
    return answer.json().get("request_id", "")


def test_a_verb_reply_shows_every_part_inert_and_a_command_to_copy_exactly() -> None:
    """Verbs answer in neutral parts; the Slack renderer makes plain and stressed text inert,
    keeps a command copyable (underscores stay) and lets nothing close its code span."""
    from app.slack.replies import message_text
    from commands.replies import Code, Message, Strong

    shown = message_text(
        Message.of("hi *there* <!channel>", Strong("a_b"), Code("users map U1 my_name`<!here>"))
    )
    assert "<!channel>" not in shown and "<!here>" not in shown and "*there*" not in shown
    assert "users map U1 my_name" in shown
    assert shown.count("`") - shown.count(f"{text.ZWSP}`{text.ZWSP}") == 2
