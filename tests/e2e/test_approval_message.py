"""An approver sees the whole change: every changed field and every user or group added, raised
or removed is in the approval message (and its text fallback), long values are shortened
visibly with the rest one click away, and what a message could not name in full is refused.

End to end: slash commands, the ticket webhook and the MCP server over HTTP, the MySafe
emulator behind, the recording Slack fake in front.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from marshmallow import validate

from app.approvals.machine import State
from app.mysafe.models import Entry, Kind
from app.mysafe.schemas import UPDATE_SCHEMAS
from app.sandbox.emulator import Emulator
from app.text import field_label
from app.webhooks.signing import signed_headers
from tests.e2e.test_slack_verbs import (
    APPROVER,
    approval_posts,
    ask,
    buttons,
    instant,
    message_update,
    request_id_in,
)
from tests.support.slack_fake import SlackCall, SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_reading import (
    MESSAGE_BLOCKS,
    assert_view_within_limits,
    assert_within_limits,
    readable_text,
    texts,
    visible,
)
from tests.support.slack_requests import SlackClient
from tests.unit.mcp.test_mcp import call, mcp_url, structured, text_of  # noqa: F401 - mcp_url: fixture

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
SHARED_WITH = [f"user{i:03d}" for i in range(100)]


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    return {**slack_env, "MYSAFE_BOT_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def alices(bot: Bot, emulator: Emulator, link) -> None:
    """alices has linked her key; 100 other MySafe users and a group exist."""
    link("UALICE", "alices")
    for name in [*SHARED_WITH, "attacker"]:
        emulator.add_user(name)
    emulator.add_group("Ops", SHARED_WITH[:3])


@pytest.fixture
def crowded(alices: None, emulator: Emulator) -> int:
    """A password alices owns, already shared with 100 users (every third with edit rights)."""
    return emulator.add_password(
        "alices",
        name="Prod DB",
        username="root",
        password="pw-Old-Value-1",
        notes="n" * 3000,
        users_allowed=[{"username": n, "can_edit": i % 3 == 0} for i, n in enumerate(SHARED_WITH)],
        groups_allowed=[{"name": "Ops"}],
    )


def entry(emulator: Emulator, kind: Kind) -> int:
    """An entry of `kind` with a long current value in every plain field."""
    current = {
        "name": "Prod API",
        "url": "https://old.example.com/" + "&" * 1500,
        "notes": "old notes " * 300,
        "tags": "old," * 200,
    }
    if kind is Kind.PASSWORD:
        return emulator.add_password("alices", username="old-user", password="pw-Old-1", **current)
    return emulator.add_secret(
        "alices",
        client_id="old-client",
        client_secret="cs-Old-1",
        identifier_code="old-code",
        method="get",
        **current,
    )


def longest_values(kind: Kind) -> dict[str, str]:
    """Every field `update` may change, each at the longest value MySafe accepts, each ending
    in a marker of its own (the part that would be cut off); `&` is the character that grows
    most when escaped for Slack."""
    schema = UPDATE_SCHEMAS[kind]()
    values = {}
    for name in Entry.PLAIN_FIELDS[kind]:
        if name == "method":
            values[name] = "options"
            continue
        (limit,) = [v.max for v in schema.fields[name].validators if isinstance(v, validate.Length)]
        marker = f"<END-{name}>"
        head = "https://new.example.com/" if name == "url" else f"{name}: "
        values[name] = head + "&" * (limit - len(head) - len(marker)) + marker
    return values


# --- what the message shows -----------------------------------------------------------------------


def the_message(slack: SlackFake) -> SlackCall:
    (message,) = slack.wait_for(lambda: approval_posts(slack))
    assert_within_limits(message.args["blocks"], max_blocks=MESSAGE_BLOCKS)
    return message


def shown(message: SlackCall) -> str:
    """The message's blocks as displayed (not its text fallback)."""
    return readable_text(message.args["blocks"])


def fallback(message: SlackCall) -> str:
    return visible(message.args["text"])


def assert_fields_shown(message: SlackCall, values: dict[str, str]) -> None:
    """Each changed field is named, its new value begins where a person reads it, and what is
    shortened says so; the text fallback names every field."""
    blocks = shown(message)
    for name, value in values.items():
        assert f"*{field_label(name)}*:" in blocks, name
        assert value[:100] in blocks, name
        assert field_label(name) in fallback(message), name
    assert "more characters" in blocks
    assert buttons(message)[-1] == "View full change"


def view_full_change(
    user: SlackClient, slack: SlackFake, request_id: str, clicker: str = APPROVER
) -> dict[str, Any]:
    """Click *View full change*; the modal opened with that click's trigger_id."""
    before = len(slack.calls_to("views.open"))
    response = user.click(clicker, "view_change", request_id)
    assert response.status_code == 200
    opened = slack.wait_calls("views.open", before + 1)[before]
    assert opened.args["trigger_id"].endswith(".abcdef")  # the click's, as SlackClient makes it
    view = opened.args["view"]
    assert_view_within_limits(view)
    return view


def modal_text(view: dict[str, Any]) -> str:
    """The modal's text with values joined back across the blocks they were split over."""
    return "".join(
        t if kind == "plain_text" else "\n" + visible(t) + "\n" for kind, t in texts(view["blocks"])
    )


# --- fields ----------------------------------------------------------------------------------------


def test_a_long_note_cannot_push_a_changed_url_out_of_view(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    note = "harmless words " * 230  # 3,450 characters: past the whole of one section
    told = ask(
        user,
        slack,
        "UALICE",
        f'update password {crowded} notes="{note.strip()}" url=https://evil.example/login',
    )
    message = the_message(slack)
    assert "*url*: _(empty)_ → https://evil.example/login" in shown(message)
    assert "*notes*:" in shown(message) and "more characters" in shown(message)
    assert "url" in fallback(message) and "notes" in fallback(message)
    view = view_full_change(user, slack, request_id_in(told))
    assert note.strip() in modal_text(view) and "https://evil.example/login" in modal_text(view)


@pytest.mark.parametrize("kind", [Kind.PASSWORD, Kind.SECRET])
def test_every_field_at_its_longest_through_a_ticket(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, alices: None, kind: Kind
) -> None:
    identifier = entry(emulator, kind)
    values = longest_values(kind)
    request_id = ticket(
        bot, {"action": "update", "entry": {"kind": kind.value, "id": identifier}, "changes": values}
    )
    message = the_message(slack)
    assert_fields_shown(message, values)

    view = view_full_change(user, slack, request_id)
    everything = modal_text(view)
    for name, value in values.items():
        assert value in everything, name  # whole, markers at the end included


def test_every_field_at_its_longest_proposed_by_an_assistant(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    alices: None,
    mcp_url: str,  # noqa: F811
) -> None:
    identifier = entry(emulator, Kind.PASSWORD)
    values = longest_values(Kind.PASSWORD)
    token = issue_mcp_token(bot)
    (proposed,) = call(
        mcp_url,
        token,
        (
            "propose_update",
            {"kind": "password", "id": identifier, "changes": values, "reason": "tidy up"},
        ),
    )
    request_id = structured(proposed)["request_id"]
    message = the_message(slack)
    assert "via an AI assistant (MCP)" in shown(message)
    assert_fields_shown(message, values)
    everything = modal_text(view_full_change(user, slack, request_id))
    assert all(value in everything for value in values.values())


def test_the_full_change_is_for_approvers_and_the_requester_only(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    told = ask(user, slack, "UALICE", f'update password {crowded} notes="{"y" * 500}"')
    request_id = request_id_in(told)
    the_message(slack)
    answers = len(slack.responses)
    user.click("UOUTSIDER", "view_change", request_id)
    refused = slack.wait_responses(answers + 1)[answers]
    assert "Only the approvers and the requester" in refused["text"]
    assert slack.calls_to("views.open") == []
    assert "y" * 500 in modal_text(view_full_change(user, slack, request_id, clicker="UALICE"))


def test_the_button_stays_after_the_decision(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    told = ask(user, slack, "UALICE", f'update password {crowded} notes="{"z" * 400}"')
    request_id = request_id_in(told)
    assert buttons(the_message(slack)) == ["Approve", "Deny", "View full change"]
    user.click(APPROVER, "approve", request_id)
    applied = message_update(slack, "Applied")
    assert buttons(applied) == ["View full change"]
    assert_within_limits(applied.args["blocks"], max_blocks=MESSAGE_BLOCKS)


# --- people and groups ----------------------------------------------------------------------------


def test_a_share_onto_100_shares_shows_the_new_grantee_first(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, crowded: int
) -> None:
    request_id = request_id_in(
        ask(user, slack, "UALICE", f"share password {crowded} with user:attacker edit")
    )
    message = the_message(slack)
    headline, fields, change = (b["text"]["text"] for b in message.args["blocks"][1:4])
    assert visible(headline) == (
        f"<@UALICE> asks to give *attacker edit* access to password {crowded} “Prod DB”"
    )
    assert visible(fields) == (
        f"*Requester:* <@UALICE> (MySafe: alices)\n*Entry:* password {crowded} “Prod DB”"
    )
    assert visible(change) == "*Change:*\n+ attacker (edit)"
    assert "+ attacker (edit)" in fallback(message)
    assert "user042" not in shown(message)  # nobody who keeps their access is listed
    user.click(APPROVER, "approve", request_id)
    message_update(slack, "Applied")
    assert len(emulator.get_password(crowded)["users_allowed"]) == 101


def test_fifty_principals_onto_100_shares_are_all_named(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, crowded: int
) -> None:
    """The most one request may name: 20 new, 10 raised to edit, 20 unchanged users, and
    groups; every one in the blocks and in the text fallback."""
    for i in range(20):
        emulator.add_user(f"newcomer{i:02d}")
    newcomers = [f"user:newcomer{i:02d}" for i in range(20)]
    raised = [f"user:{n}" for i, n in enumerate(SHARED_WITH) if i % 3][:10]
    unchanged = [f"user:{n}" for i, n in enumerate(SHARED_WITH) if i % 3 == 0][:19]
    who = " ".join([*newcomers, *raised, *unchanged, 'group:"Ops"'])
    ask(user, slack, "UALICE", f"share password {crowded} with {who} edit")
    message = the_message(slack)
    blocks, text = shown(message), fallback(message)
    for name in newcomers:
        assert f"+ {name[5:]} (edit)" in blocks and f"+ {name[5:]} (edit)" in text
    for name in raised:
        assert f"↑ {name[5:]}: view → edit" in blocks and f"↑ {name[5:]} (edit)" in text
    for name in unchanged:
        assert f"= {name[5:]} (edit)" in blocks and f"= {name[5:]}" in text
    assert "↑ group Ops: view → edit" in blocks and "↑ group Ops (edit)" in text


def test_an_unshare_from_100_shares_names_who_loses_access(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    ask(user, slack, "UALICE", f'unshare password {crowded} from user:user099 group:"Ops"')
    message = the_message(slack)
    assert "− user099 (had edit)" in shown(message) and "− group Ops (had view)" in shown(message)
    assert "− user099" in fallback(message) and "− group Ops" in fallback(message)
    assert "user098" not in shown(message)


def test_more_principals_than_a_message_can_name_are_refused(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    crowded: int,
    mcp_url: str,  # noqa: F811
) -> None:
    who = " ".join(f"user:{n}" for n in SHARED_WITH[:51])
    told = instant(user.command("UALICE", f"share password {crowded} with {who}"))
    assert "at most 50" in told and "name every one" in told and "Nothing was stored." in told
    (proposed,) = call(
        mcp_url,
        issue_mcp_token(bot),
        (
            "propose_share",
            {"kind": "password", "id": crowded, "users": SHARED_WITH[:50], "groups": ["Ops"]},
        ),
    )
    assert proposed.isError and "name every one" in text_of(proposed)
    assert approval_posts(slack) == []
    assert not [k for k in redis.scan_iter(match=f"{key_prefix}:req:*")]


def test_a_share_proposed_by_an_assistant_names_the_new_grantee(
    bot: Bot,
    slack: SlackFake,
    crowded: int,
    mcp_url: str,  # noqa: F811
) -> None:
    (proposed,) = call(
        mcp_url,
        issue_mcp_token(bot),
        ("propose_share", {"kind": "password", "id": crowded, "users": ["attacker"], "can_edit": True}),
    )
    assert structured(proposed)["changes"] == [
        {"field": "users_allowed", "before": "", "after": "edit", "user": "attacker"}
    ]
    message = the_message(slack)
    assert "+ attacker (edit)" in shown(message) and "+ attacker (edit)" in fallback(message)
    assert "user001" not in shown(message)


def test_fifty_of_the_longest_names_fit_one_message(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    """The worst a request may name: 50 names of 128 characters that each grow fivefold when
    escaped, a 500-character reason and a 64-character ticket key of the same."""
    names = [f"{i:02d}" + "&" * 126 for i in range(50)]
    request_id = ticket(
        bot,
        {
            "action": "share",
            "entry": {"kind": "password", "id": crowded},
            "users": [{"username": n, "can_edit": True} for n in names[:25]],
            "groups": [{"name": n} for n in names[25:]],
            "reason": "&" * 500,
            "ticket": {"key": "&" * 64},
        },
    )
    message = the_message(slack)
    blocks, text = shown(message), fallback(message)
    for name in names[:25]:
        assert f"+ {name} (edit)" in blocks and f"+ {name} (edit)" in text
    for name in names[25:]:
        assert f"+ group {name} (view)" in blocks and f"+ group {name} (view)" in text
    assert "&" * 500 in blocks
    assert_view_within_limits(view_full_change(user, slack, request_id))


def test_home_shows_each_waiting_change_whole_or_counts_it(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    """Slack's Home tab holds 100 blocks: a request is shown with its whole change or counted
    as not shown, never cut in the middle."""

    def names(n: int) -> list[str]:
        return [f"{n}-{i:02d}" + "&" * 124 for i in range(50)]

    waiting = [
        ticket(
            bot,
            {
                "event_id": f"evt-home-{n}",
                "action": "share",
                "entry": {"kind": "password", "id": crowded},
                "users": [{"username": name} for name in names(n)],
            },
        )
        for n in range(10)
    ]
    user.event({"type": "app_home_opened", "user": APPROVER, "channel": "D1", "tab": "home"})
    view = slack.wait_calls("views.publish")[0].args["view"]
    assert_view_within_limits(view)
    home = readable_text(view["blocks"])
    listed = [n for n, request_id in enumerate(waiting) if request_id in json.dumps(view)]
    assert 0 < len(listed) < len(waiting)
    assert f"{len(waiting)} waiting for you" in home
    assert f"More ({len(waiting) - len(listed)} left)" in home
    for n in listed:  # each one shown is shown whole
        assert all(f"+ {name} (view)" in home for name in names(n))


# --- requests stored before this change -----------------------------------------------------------


def test_a_request_stored_with_whole_lists_still_shows_in_full(
    bot: Bot, user: SlackClient, slack: SlackFake, redis, crowded: int
) -> None:
    """Requests stored by an earlier version hold before/after lists; they load, and the list
    past the first characters is one click away, never cut silently."""
    request_id = request_id_in(
        ask(user, slack, "UALICE", f"share password {crowded} with user:attacker edit")
    )
    the_message(slack)
    listed = ", ".join(f"{n} (view)" for n in SHARED_WITH)
    old = [["users_allowed", listed, listed + ", attacker (edit)"]]
    key = bot.engine.store.request_keys(request_id)[0]
    redis.hset(key, "diff", json.dumps(old))
    assert bot.engine.get(request_id).diff[0].after.endswith("attacker (edit)")

    user.click(APPROVER, "approve", request_id)
    applied = message_update(slack, "Applied")
    # Shown from where the lists part, so the one addition is in view; the rest is a click away.
    assert "characters before" in shown(applied) and "attacker (edit)" in shown(applied)
    assert buttons(applied) == ["View full change"]
    assert "attacker (edit)" in modal_text(view_full_change(user, slack, request_id))
    assert bot.engine.get(request_id).state is State.APPLIED


# --- helpers -------------------------------------------------------------------------------------


def ticket(bot: Bot, overrides: dict[str, Any]) -> str:
    payload = {
        "event_id": f"evt-{overrides['action']}-{overrides['entry']['kind']}",
        "ticket": {"key": "SEC-1", "url": "https://jira.example.com/browse/SEC-1"},
        "requester": {"slack_id": "UALICE"},
        "reason": "cleanup",
        **overrides,
    }
    raw = json.dumps(payload).encode()
    answer = requests.post(
        f"{bot.url}/webhooks/ticketing",
        data=raw,
        timeout=10,
        headers={"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, raw)},
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["request_id"]


def issue_mcp_token(bot: Bot) -> str:
    from app.accounts.mcp_tokens import McpTokens

    return McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).issue(
        "UALICE", ttl=3600
    )


# --- refused at submission, in every front ---------------------------------------------------------


def _refused_everywhere(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    mcp_url: str,  # noqa: F811
    *,
    requester: str,
    command: str,
    ticket_body: dict,  # noqa: F811
    tool: tuple[str, dict],
    words: str,
) -> None:
    """The same change through /mysafe, the ticket webhook and MCP: refused with `words`,
    nothing stored, nothing posted."""
    told = ask(user, slack, requester, command)
    assert words in told and "Nothing was stored." in told, told
    raw = json.dumps(
        {
            "event_id": f"evt-refused-{tool[0]}",
            "ticket": {"key": "SEC-9"},
            "requester": {"slack_id": requester},
            **ticket_body,
        }
    ).encode()
    answer = requests.post(
        f"{bot.url}/webhooks/ticketing",
        data=raw,
        timeout=10,
        headers={"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, raw)},
    )
    assert answer.status_code == 400 and words in answer.text, answer.text
    from app.accounts.mcp_tokens import McpTokens

    token = McpTokens(bot.services.redis, prefix=key_prefix).issue(requester, ttl=3600)
    (proposed,) = call(mcp_url, token, tool)
    assert proposed.isError and words in text_of(proposed)
    assert approval_posts(slack) == []
    assert not [k for k in redis.scan_iter(match=f"{key_prefix}:req:*")]


def test_an_unshare_of_someone_without_access_changes_nothing_and_is_refused(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    crowded: int,
    mcp_url: str,  # noqa: F811
) -> None:
    entry = {"kind": "password", "id": crowded}
    _refused_everywhere(
        bot,
        user,
        slack,
        redis,
        key_prefix,
        mcp_url,
        requester="UALICE",
        command=f"unshare password {crowded} from user:attacker",
        ticket_body={"action": "unshare", "entry": entry, "users": [{"username": "attacker"}]},
        tool=("propose_unshare", {"kind": "password", "id": crowded, "users": ["attacker"]}),
        words="This changes nothing: attacker has no access to remove",
    )


def test_a_share_with_someone_who_has_it_already_is_refused(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    crowded: int,
    mcp_url: str,  # noqa: F811
) -> None:
    _refused_everywhere(
        bot,
        user,
        slack,
        redis,
        key_prefix,
        mcp_url,
        requester="UALICE",
        command=f"share password {crowded} with user:user001",
        ticket_body={
            "action": "share",
            "entry": {"kind": "password", "id": crowded},
            "users": [{"username": "user001"}],
        },
        tool=("propose_share", {"kind": "password", "id": crowded, "users": ["user001"]}),
        words="This changes nothing: user001 already has that access",
    )


def test_a_change_the_requester_may_only_view_is_refused_before_any_approver_sees_it(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    crowded: int,
    mcp_url: str,  # noqa: F811
    link,
) -> None:
    """user001 can view the entry, not edit it: MySafe would answer 1006 after the click."""
    link("UVIEWER", "user001")
    _refused_everywhere(
        bot,
        user,
        slack,
        redis,
        key_prefix,
        mcp_url,
        requester="UVIEWER",
        command=f"share password {crowded} with user:attacker",
        ticket_body={
            "action": "share",
            "entry": {"kind": "password", "id": crowded},
            "users": [{"username": "attacker"}],
        },
        tool=("propose_share", {"kind": "password", "id": crowded, "users": ["attacker"]}),
        words=f"You can only view password {crowded} in MySafe",
    )


def test_a_share_past_mysafes_longest_sharing_list_is_refused(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    alices: None,
    emulator: Emulator,
    mcp_url: str,  # noqa: F811
) -> None:
    from app.mysafe.schemas import MAX_SHARES

    names = [f"full{i:03d}" for i in range(MAX_SHARES)]
    for name in names:
        emulator.add_user(name)
    full = emulator.add_password(
        "alices",
        name="Full",
        username="root",
        password="pw-Full-1",
        users_allowed=[{"username": n} for n in names],
    )
    _refused_everywhere(
        bot,
        user,
        slack,
        redis,
        key_prefix,
        mcp_url,
        requester="UALICE",
        command=f"share password {full} with user:attacker",
        ticket_body={
            "action": "share",
            "entry": {"kind": "password", "id": full},
            "users": [{"username": "attacker"}],
        },
        tool=("propose_share", {"kind": "password", "id": full, "users": ["attacker"]}),
        words=f"MySafe shares an entry with at most {MAX_SHARES} users",
    )


def test_people_named_by_mention_are_named_so_in_the_approval_message(
    bot: Bot, user: SlackClient, slack: SlackFake, crowded: int
) -> None:
    """Approvers know people by their Slack names: a mentioned person is shown as the mention,
    one named by MySafe username (`user:NAME`) as that name."""
    bot.services.vault.map_mention("UATTACKER", "attacker")
    response = user.command(
        "UALICE", f"share password {crowded} with <@UATTACKER|attacker> user:user001 edit"
    )
    instant(response)
    (posted,) = slack.wait_for(lambda: approval_posts(slack))
    shown = readable_text(posted.args["blocks"])
    assert "give *<@UATTACKER> edit and user001 edit* access" in shown, shown
    assert "+ <@UATTACKER> (edit)" in shown and "↑ user001: view → edit" in shown
    assert "+ attacker" not in shown
    assert "<@UATTACKER>" in posted.args["text"]  # the notification's text says it too
