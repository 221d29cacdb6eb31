"""Every `/mysafe` verb end to end through `POST /slack/events`, as a person in Slack meets it.

Signed as Slack signs, the MySafe emulator behind, the Slack Web API fake recording everything the
bot says. Help and bad commands are answered in the slash command's own HTTP response; the other
verbs answer through `response_url`; `login`, `rotate` and `create` open a modal, and their
submissions answer by `views.update` (login) or by DM (rotate, create). Tests wait for recorded
calls, never for time.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from app.approvals.changes import MAX_SHARES_PER_REQUEST
from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from app.slack.bolt_request import FormSafeRequest
from app.slack.command_text import parse
from commands import dispatch
from tests.support.redis_text import everything_stored
from tests.support.slack_fake import SlackCall, SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient, command_form, sign

APPROVALS = "C0APPROVALS"
APPROVER = "UAPPROVER1"
OLD_PASSWORD = "old-Password-9!"
TOTP_SEED = "JBSWY3DPEHPK3PXP"
REQUEST_ID = re.compile(r"R-[2-9A-HJ-NP-Z]{5}")


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def people(bot: Bot, emulator: Emulator, link) -> None:
    """alices has linked her key; bobm and carol exist in MySafe; carol's mention is mapped."""
    link("UALICE", "alices")
    for name in ("bobm", "carol"):
        emulator.add_user(name)
    emulator.add_group("Ops", ["bobm", "carol"])
    bot.services.vault.map_mention("UCAROL", "carol")


@pytest.fixture
def entry(people: None, emulator: Emulator) -> int:
    """A password alices owns, with a TOTP seed, shared read-only with bobm."""
    return emulator.add_password(
        "alices",
        name="GCP console",
        url="https://console.cloud.google.com",
        username="ops@example.com",
        password=OLD_PASSWORD,
        secret_key=TOTP_SEED,
        notes="break glass",
        tags="cloud",
        users_allowed=[{"username": "bobm"}],
    )


# --- helpers: what the person sees -------------------------------------------------------------


def instant(response: requests.Response) -> str:
    """The slash command's own answer (help, bad input): ephemeral text in the HTTP response.

    Slack shows a plain-text body, or JSON without `response_type`, only to the person who asked.
    """
    assert response.status_code == 200 and response.text
    if not response.headers["content-type"].startswith("application/json"):
        return response.text
    body = response.json()
    assert body.get("response_type", "ephemeral") == "ephemeral"
    return body["text"]


def ask(user: SlackClient, slack: SlackFake, who: str, text: str) -> str:
    """Run a command answered later through `response_url`; return that ephemeral answer.

    The ack says at once that the command is being worked on (only to the person); the answer
    replaces that line."""
    before = len(slack.responses)
    response = user.command(who, text)
    assert instant(response).startswith("Working on")
    answer = slack.wait_responses(before + 1)[before]
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is True
    return answer["text"]


def approval_posts(slack: SlackFake) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == APPROVALS]


def dms_to(slack: SlackFake, user_id: str) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == user_id]


def wait_dm(slack: SlackFake, user_id: str, count: int = 1) -> SlackCall:
    return slack.wait_for(lambda: len(found := dms_to(slack, user_id)) >= count and found)[-1]


def request_id_in(text: str) -> str:
    match = REQUEST_ID.search(text)
    assert match, f"no request ID in {text!r}"
    return match.group(0)


def readable(call: SlackCall) -> str:
    """A message's text and blocks as a person reads them (arrows and quotes unescaped)."""
    return json.dumps(
        {k: v for k, v in call.args.items() if k in ("text", "blocks", "view")}, ensure_ascii=False
    )


def buttons(call: SlackCall) -> list[str]:
    return [
        e["text"]["text"]
        for b in call.args.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def message_update(slack: SlackFake, words: str) -> SlackCall:
    return slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if words in c.blocks_text()]
    )[0]


def approve(user: SlackClient, slack: SlackFake, request_id: str) -> SlackCall:
    """An approver clicks Approve; returns the channel message once it says Applied."""
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    return message_update(slack, "Applied")


def share(user: SlackClient, slack: SlackFake, entry: int, who: str = "user:carol") -> str:
    """alices asks to share `entry`; returns the request ID once she has been told."""
    told = ask(user, slack, "UALICE", f'share password {entry} with {who} reason "on-call"')
    return request_id_in(told)


# --- helpers: modals, filled in as Slack submits them ---------------------------------------------


def opened(slack: SlackFake, count: int = 1) -> dict[str, Any]:
    return slack.wait_calls("views.open", count)[count - 1].args["view"]


def fill(view: dict[str, Any], typed: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The view's state as Slack sends it: every input block, `None` where nothing was typed."""
    typed = dict(typed)
    state: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            state[block["block_id"]] = {
                block["element"]["action_id"]: {
                    "type": "plain_text_input",
                    "value": typed.pop(block["block_id"], None),
                }
            }
    assert not typed, f"the modal has no field {sorted(typed)}"
    return state


def submit(
    user: SlackClient, who: str, view: dict[str, Any], typed: dict[str, str]
) -> requests.Response:
    response = user.submit_view(
        who, view["callback_id"], fill(view, typed), private_metadata=view["private_metadata"]
    )
    assert response.status_code == 200
    return response


def ack_body(response: requests.Response) -> dict[str, Any]:
    """A view submission's ack: an empty body closes the modal."""
    return response.json() if response.text else {}


# --- helpers: what is stored ---------------------------------------------------------------------


def stored_requests(redis, key_prefix: str) -> dict[str, Any]:
    """Request, index and idempotency keys, with index members (tokens may come and go)."""
    found: dict[str, Any] = {}
    for pattern in ("req:*", "idx:*", "idem:*"):
        for key in redis.scan_iter(match=f"{key_prefix}:{pattern}", count=1000):
            found[key] = sorted(redis.zrange(key, 0, -1)) if redis.type(key) == "zset" else None
    return found


def nothing_stored(bot: Bot, slack: SlackFake) -> None:
    assert bot.engine.queue() == []
    assert approval_posts(slack) == []


# --- help ----------------------------------------------------------------------------------------


def test_help_lists_every_verb(bot: Bot, user: SlackClient, slack: SlackFake) -> None:
    text = instant(user.command("UALICE", "help"))
    for verb in (
        "login",
        "logout",
        "whoami",
        "list",
        "show",
        "access",
        "share",
        "unshare",
        "update",
        "rotate",
        "create",
        "requests",
        "cancel",
    ):
        assert f"/mysafe {verb}" in text
    assert instant(user.command("UALICE", "")) == text
    assert slack.calls_to("chat.postMessage") == [] and slack.responses == []


def test_help_for_one_verb_shows_its_examples(bot: Bot, user: SlackClient) -> None:
    text = instant(user.command("UALICE", "help share"))
    assert "/mysafe share password|secret ID with @someone" in text
    assert "Examples:" in text and "/mysafe share password 312 with @alice" in text
    assert "/mysafe unshare" not in text


@pytest.mark.parametrize("text", ["help", "", "help share", "help hepl", "hepl", "share password"])
def test_the_route_acks_help_and_bad_input_as_bolts_listener_does(
    bot: Bot, user: SlackClient, text: str
) -> None:
    """`POST /slack/events` answers these without Bolt (app.slack.intake), and help from text
    rendered once per process: the same status, bytes and content type as Bolt's own
    listener, and help the same as rendered afresh."""
    front = bot.runtime.front
    assert front is not None
    fast = user.command("UALICE", text)
    form = urlencode(command_form("UALICE", text, user.response_url))
    full = front.bolt.dispatch(
        FormSafeRequest(body=form, headers={"content-type": "application/x-www-form-urlencoded"})
    )
    assert fast.status_code == full.status == 200
    assert fast.content == full.body.encode()
    assert fast.headers["content-type"] == full.headers["content-type"][0]
    if text in ("help", "", "help share"):
        body = {"user_id": "UALICE", "text": text}
        afresh = dispatch.run(front.commands.context(body), parse(text))
        assert fast.text == front.commands.text(afresh)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": str(int(time.time()) - 301)},
        {"X-Slack-Request-Timestamp": ""},
        {"X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": "soon"},
    ],
    ids=["wrong signature", "stale timestamp", "no timestamp", "no signature", "not a time"],
)
def test_a_command_not_signed_by_slack_is_refused_before_it_is_read(
    bot: Bot, user: SlackClient, headers: dict[str, str]
) -> None:
    form = urlencode(command_form("UALICE", "help", user.response_url))
    signed = {**sign(form, "test-signing-secret"), **headers}
    sent = {name: value for name, value in signed.items() if value}
    answer = requests.post(
        user.url,
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **sent},
        timeout=10,
    )
    assert (answer.status_code, answer.content) == (401, b"")


# --- login, logout, whoami -----------------------------------------------------------------------


def test_login_opens_a_modal_and_links_a_key_mysafe_accepts(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator
) -> None:
    client_id, client_secret = emulator.add_user("dana")
    assert user.command("UDANA", "login").status_code == 200
    view = opened(slack)
    assert view["callback_id"] == "login"

    response = submit(
        user,
        "UDANA",
        view,
        {"client_id": client_id, "client_secret": client_secret, "mysafe_username": "dana"},
    )
    assert ack_body(response)["response_action"] == "update"
    told = slack.wait_calls("views.update")[0]
    assert told.args["view_id"] == "V1"
    assert "linked" in told.blocks_text() and "dana" in told.blocks_text()
    account = bot.services.vault.account("UDANA")
    assert account is not None and account.mysafe_username == "dana"
    assert account.client_id == client_id
    assert client_secret not in slack.everything_sent()


def test_login_with_a_wrong_secret_is_rejected_and_nothing_is_stored(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, redis, key_prefix: str
) -> None:
    client_id, _ = emulator.add_user("dana")
    user.command("UDANA", "login")
    view = opened(slack)

    def stored() -> set[str]:
        """The person's data: not the job queue's plumbing, nor the audit log (the refused
        login is audited, tests/unit/audit/test_coverage.py), nor the cache of their Slack
        facts (read to answer in their language, app.slack.people)."""
        audit = bot.engine.audit.key
        return {
            k
            for k in redis.scan_iter(match=f"{key_prefix}:*")
            if ":{jobs}:" not in k and k != audit and ":people:" not in k
        }

    before = stored()
    wrong = "not-the-Secret-42"
    submit(
        user, "UDANA", view, {"client_id": client_id, "client_secret": wrong, "mysafe_username": "dana"}
    )
    told = slack.wait_calls("views.update")[0].blocks_text()
    assert "MySafe refused this Client ID" in told and "linked" not in told
    assert bot.services.vault.account("UDANA") is None
    assert stored() == before
    assert wrong not in slack.everything_sent()


def test_logout_unlinks_the_key(bot: Bot, user: SlackClient, slack: SlackFake, people: None) -> None:
    assert "unlinked" in ask(user, slack, "UALICE", "logout")
    assert bot.services.vault.account("UALICE") is None
    assert "no MySafe key linked" in ask(user, slack, "UALICE", "logout")
    assert "/mysafe login" in ask(user, slack, "UALICE", "list passwords")


def test_whoami_linked_and_not_linked(
    bot: Bot, user: SlackClient, slack: SlackFake, people: None
) -> None:
    linked = ask(user, slack, "UALICE", "whoami")
    assert "alices" in linked and "approver" not in linked
    assert re.search(r"linked <!date\^\d+\^", linked)  # a Slack date, not ISO text
    not_linked = ask(user, slack, APPROVER, "whoami")
    assert "not linked" in not_linked and "/mysafe login" in not_linked
    assert "You are an approver" in not_linked


# --- list and show -------------------------------------------------------------------------------


def test_list_passwords_marks_what_is_view_only(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    theirs = emulator.add_password(
        "bobm",
        name="Billing portal",
        username="billing",
        password="x-Billing-1",
        users_allowed=[{"username": "alices"}],
    )
    hidden = emulator.add_password("carol", name="Carol's own", username="c", password="x-C-1")
    text = ask(user, slack, "UALICE", "list passwords")
    lines = {line for line in text.splitlines() if line.startswith("•")}
    own = next(line for line in lines if f"`password {entry}`" in line)
    shared = next(line for line in lines if f"`password {theirs}`" in line)
    assert "GCP console" in own and "view only" not in own
    assert "Billing portal" in shared and "view only" in shared
    assert f"`password {hidden}`" not in text and "Carol's own" not in text


def test_a_long_list_comes_a_page_at_a_time_and_every_entry_is_on_a_page(
    user: SlackClient, slack: SlackFake, emulator: Emulator, people: None
) -> None:
    made = {
        emulator.add_password("alices", name=f"Box {i:03d}", username="u", password="x-P-1")
        for i in range(120)
    }
    first = ask(user, slack, "UALICE", "list passwords box")
    assert "*Passwords you can see*: 120, page 1 of 3" in first
    assert 'Next: `/mysafe list passwords "box" page 2`' in first
    seen: set[int] = set()
    for page, text in enumerate(
        [first, *(ask(user, slack, "UALICE", f'list passwords "box" page {n}') for n in (2, 3))],
        start=1,
    ):
        found = {int(m) for m in re.findall(r"`password (\d+)`", text)}
        assert len(found) == (50 if page < 3 else 20) and not found & seen
        seen |= found
    assert seen == made and "Next:" not in text


def test_list_secrets_with_text_shows_only_matches(
    user: SlackClient, slack: SlackFake, emulator: Emulator, people: None
) -> None:
    emulator.add_secret(
        "alices",
        name="GitHub deploy",
        url="https://api.github.com",
        client_id="gh",
        client_secret="gh-Secret-1",
    )
    emulator.add_secret(
        "alices",
        name="Stripe",
        url="https://api.stripe.com",
        client_id="st",
        client_secret="st-Secret-1",
    )
    text = ask(user, slack, "UALICE", "list secrets github")
    assert "GitHub deploy" in text and "Stripe" not in text
    assert "gh-Secret-1" not in slack.everything_sent()
    assert "no API secrets matching" in ask(user, slack, "UALICE", "list secrets nothing-like-it")


def test_show_masks_the_password_and_totp(user: SlackClient, slack: SlackFake, entry: int) -> None:
    text = ask(user, slack, "UALICE", f"show password {entry}")
    for shown in (
        "GCP console",
        "ops@example.com",
        "https://console.cloud.google.com",
        "break glass",
        "cloud",
        "bobm (view)",
    ):
        assert shown in text
    assert "password: ••••••••" in text and "TOTP seed: ••••••••" in text
    assert "secret_key" not in text  # fields are named in words, not the API's names
    sent = slack.everything_sent()
    assert OLD_PASSWORD not in sent and TOTP_SEED not in sent


# --- share ---------------------------------------------------------------------------------------


def test_share_with_a_mention_a_user_and_a_group(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    told = ask(
        user,
        slack,
        "UALICE",
        f'share password {entry} with <@UCAROL|carol>, user:bobm and group:"Ops" edit reason "on-call"',
    )
    request_id = request_id_in(told)
    assert f"/mysafe cancel {request_id}" in told
    (message,) = approval_posts(slack)
    assert buttons(message) == ["Approve", "Deny"]
    shown = readable(message)
    assert "+ <@UCAROL> (edit)" in shown and "↑ bobm: view → edit" in shown
    assert "+ group Ops (edit)" in shown and "on-call" in shown

    approve(user, slack, request_id)
    stored = emulator.get_password(entry)
    assert stored["users_allowed"] == [
        {"username": "bobm", "can_edit": True},
        {"username": "carol", "can_edit": True},
    ]
    assert stored["groups_allowed"] == [{"name": "Ops", "can_edit": True}]
    assert "shared MySafe password" in wait_dm(slack, "UCAROL").args["text"]
    assert "Applied" in wait_dm(slack, "UALICE").args["text"]
    assert OLD_PASSWORD not in slack.everything_sent()


@pytest.mark.parametrize(
    ("setup", "words", "code"),
    [
        ("missing", "not found", 1005),
        ("not_visible", "does not have access", 1006),
        ("disabled", "Inactive", 1009),
    ],
)
def test_share_is_checked_against_mysafe_at_once(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entry: int,
    setup: str,
    words: str,
    code: int,
) -> None:
    if setup == "missing":
        target = 999
    elif setup == "not_visible":
        target = emulator.add_password("bobm", name="Bob's", username="b", password="x-Bob-1")
    else:
        emulator.set_active("password", entry, False)
        target = entry
    told = ask(user, slack, "UALICE", f"share password {target} with user:carol")
    assert words in told and f"(MySafe code {code})" in told
    nothing_stored(bot, slack)


def test_an_unresolvable_mention_is_named(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    told = ask(user, slack, "UALICE", f"share password {entry} with <@UNOBODY|nobody> user:carol")
    assert "<@UNOBODY>" in told and "user:NAME" in told
    nothing_stored(bot, slack)


def test_a_time_bound_share_is_stored_with_its_period(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    told = ask(
        user,
        slack,
        "UALICE",
        f'share password {entry} with <@UCAROL|carol> edit for 8h reason "on-call"',
    )
    request = bot.engine.get(request_id_in(told))
    assert (request.change.duration, request.change.rotate_after) == (8 * 3600, False)


@pytest.mark.parametrize(
    ("period", "words"),
    [
        ("31d", "from 1 min to 30 days"),
        ("0m", "A share lasts at least 1 min"),
        ("8x", "not a period: write a duration such as 30m, 8h, 2d or 1d12h"),
    ],
)
def test_a_period_out_of_bounds_is_refused_and_nothing_is_stored(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    entry: int,
    period: str,
    words: str,
) -> None:
    before = stored_requests(redis, key_prefix)
    response = user.command("UALICE", f"share password {entry} with user:carol for {period}")
    answer = instant(response)
    if answer.startswith("Working on"):  # refused by the job, replacing the ack's line
        answer = slack.wait_responses(1)[0]["text"]
    assert words in answer
    assert stored_requests(redis, key_prefix) == before
    nothing_stored(bot, slack)


# --- people without a linked key -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "share password {entry} with user:carol",
        "list passwords",
        "list secrets",
        "show password {entry}",
        "unshare password {entry} from user:bobm",
        "update password {entry} notes=x",
    ],
)
def test_without_a_linked_key_you_are_told_to_login(
    bot: Bot, user: SlackClient, slack: SlackFake, redis, key_prefix: str, entry: int, text: str
) -> None:
    before = stored_requests(redis, key_prefix)
    told = ask(user, slack, "UBOBM", text.format(entry=entry))
    assert "/mysafe login" in told
    assert stored_requests(redis, key_prefix) == before
    nothing_stored(bot, slack)


def test_rotate_without_a_linked_key_opens_no_form(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    assert user.command("UBOBM", f"rotate password {entry}").status_code == 200
    told = slack.wait_responses(1)[0]  # through response_url: works in DMs and private channels
    assert told["response_type"] == "ephemeral" and "/mysafe login" in told["text"]
    assert slack.calls_to("views.open") == []
    nothing_stored(bot, slack)


# --- unshare and update --------------------------------------------------------------------------


def test_unshare_removes_only_whom_it_names(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    emulator.update_entry(
        "password", entry, users_allowed=[{"username": "bobm"}, {"username": "carol"}]
    )
    request_id = request_id_in(ask(user, slack, "UALICE", f"unshare password {entry} from user:bobm"))
    shown = readable(approval_posts(slack)[0])
    assert "− bobm (had view)" in shown and "carol" not in shown
    approve(user, slack, request_id)
    assert emulator.get_password(entry)["users_allowed"] == [{"username": "carol", "can_edit": False}]


def test_update_changes_plain_fields(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    request_id = request_id_in(
        ask(user, slack, "UALICE", f'update password {entry} name=GCP-prod notes="two words"')
    )
    shown = readable(approval_posts(slack)[0])
    assert "GCP console → GCP-prod" in shown and "break glass → two words" in shown
    approve(user, slack, request_id)
    stored = emulator.get_password(entry)
    assert (stored["name"], stored["notes"]) == ("GCP-prod", "two words")
    assert stored["password"] == OLD_PASSWORD and stored["username"] == "ops@example.com"


@pytest.mark.parametrize(
    ("kind", "typed", "field"), [("secret", "method=bogus", "method"), ("password", 'name=""', "name")]
)
def test_update_with_a_value_mysafe_refuses_is_refused_at_once(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entry: int,
    kind: str,
    typed: str,
    field: str,
) -> None:
    identifier = (
        entry
        if kind == "password"
        else emulator.add_secret(
            "alices",
            name="Billing API",
            url="https://billing.example.com",
            client_id="billing",
            client_secret="x-Billing-1",
        )
    )
    told = ask(user, slack, "UALICE", f"update {kind} {identifier} {typed}")
    assert field.capitalize() in told and "Nothing was stored." in told
    nothing_stored(bot, slack)


# --- rotate --------------------------------------------------------------------------------------


def test_rotate_through_the_modal_never_shows_or_keeps_the_new_value(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    redis,
    key_prefix: str,
    entry: int,
) -> None:
    new = "N3w-Rotated-Value!"
    assert user.command("UALICE", f"rotate password {entry}").status_code == 200
    view = opened(slack)
    assert view["callback_id"] == "rotate"
    assert json.loads(view["private_metadata"]) == {"kind": "password", "identifier": entry}

    assert ack_body(submit(user, "UALICE", view, {"password": new, "reason": "quarterly"})) == {}
    waiting = wait_dm(slack, "UALICE").args["text"]
    assert "waiting for approval" in waiting
    request_id = request_id_in(waiting)
    pending = everything_stored(redis, key_prefix)
    assert request_id in pending and '"secrets"' in pending and new not in pending
    assert "(changed)" in approval_posts(slack)[0].blocks_text()

    approve(user, slack, request_id)
    stored = emulator.get_password(entry)
    assert stored["password"] == new and stored["secret_key"] == TOTP_SEED
    wait_dm(slack, "UALICE", 2)
    assert new not in slack.everything_sent()
    assert new not in everything_stored(redis, key_prefix)
    assert OLD_PASSWORD not in slack.everything_sent()


def test_rotate_keeps_the_new_password_exactly_as_typed(
    user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    new = "  spaced pass phrase "
    user.command("UALICE", f"rotate password {entry}")
    submit(user, "UALICE", opened(slack), {"password": new})
    approve(user, slack, request_id_in(wait_dm(slack, "UALICE").args["text"]))
    assert emulator.get_password(entry)["password"] == new


# --- create --------------------------------------------------------------------------------------


def test_create_password_through_the_modal(
    user: SlackClient, slack: SlackFake, emulator: Emulator, redis, key_prefix: str, people: None
) -> None:
    value = "Cr3ated-Password!"
    assert user.command("UALICE", "create password").status_code == 200
    view = opened(slack)
    assert view["callback_id"] == "create"
    assert (
        ack_body(
            submit(
                user,
                "UALICE",
                view,
                {
                    "name": "Jenkins admin",
                    "username": "admin",
                    "password": value,
                    "url": "https://ci.example.com",
                    "secret_key": TOTP_SEED,
                    "notes": "CI",
                    "users_allowed": "bobm:edit, carol",
                    "groups_allowed": "Ops",
                    "reason": "new CI",
                },
            )
        )
        == {}
    )
    request_id = request_id_in(wait_dm(slack, "UALICE").args["text"])
    shown = approval_posts(slack)[0].blocks_text()
    assert "Jenkins admin" in shown and "+ bobm (edit)" in shown and "+ carol (view)" in shown
    assert emulator.get_password(1) is None

    approve(user, slack, request_id)
    created = emulator.get_password(1)
    assert created["owner"] == "alices" and created["name"] == "Jenkins admin"
    assert (created["password"], created["secret_key"]) == (value, TOTP_SEED)
    assert created["users_allowed"] == [
        {"username": "bobm", "can_edit": True},
        {"username": "carol", "can_edit": False},
    ]
    assert created["groups_allowed"] == [{"name": "Ops", "can_edit": False}]
    assert value not in slack.everything_sent() and TOTP_SEED not in slack.everything_sent()
    assert value not in everything_stored(redis, key_prefix)


def test_create_secret_through_the_modal(
    user: SlackClient, slack: SlackFake, emulator: Emulator, people: None
) -> None:
    value = "cl1ent-Secret-Value"
    user.command("UALICE", "create secret")
    view = opened(slack)
    assert view["private_metadata"] == "secret"
    submit(
        user,
        "UALICE",
        view,
        {
            "name": "Billing API",
            "url": "https://billing.example.com",
            "client_id": "billing",
            "client_secret": value,
            "method": "POST",
            "groups_allowed": "Ops:edit",
        },
    )
    request_id = request_id_in(wait_dm(slack, "UALICE").args["text"])
    approve(user, slack, request_id)
    created = emulator.get_secret(1)
    assert created["owner"] == "alices" and created["client_secret"] == value
    assert created["method"] == "post"
    assert created["groups_allowed"] == [{"name": "Ops", "can_edit": True}]
    assert value not in slack.everything_sent()


# --- requests and cancel -------------------------------------------------------------------------


def test_requests_shows_your_own_and_approvers_the_queue(
    user: SlackClient, slack: SlackFake, entry: int
) -> None:
    request_id = share(user, slack, entry)
    own = ask(user, slack, "UALICE", "requests")
    assert "Your open requests" in own and request_id in own
    assert "Waiting for your approval" not in own
    queue = ask(user, slack, APPROVER, "requests")
    assert "You have no open requests" in queue
    assert "Waiting for your approval" in queue and request_id in queue
    neither = ask(user, slack, "UBOBM", "requests")
    assert "You have no open requests" in neither and request_id not in neither


@pytest.mark.slow
def test_an_approvers_queue_counts_everything_and_pages_newest_first(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    """120 requests wait; the approver has 70 of their own open too: none of theirs is under
    "Waiting for your approval", the count is exact, and every request is on some page."""
    from app.approvals.changes import Change, Verb
    from app.mysafe.models import Kind, UserShare

    client_id, client_secret = emulator.add_user("approver1")
    bot.services.vault.link(
        APPROVER, client_id=client_id, client_secret=client_secret, mysafe_username="approver1"
    )
    theirs = emulator.add_password("approver1", name="Approver's", username="a", password="p")
    share_ = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),))
    waiting = [bot.engine.submit(share_, requester="UALICE").id for _ in range(120)]
    own = Change(Verb.SHARE, Kind.PASSWORD, theirs, add_users=(UserShare("carol"),))
    for _ in range(70):
        bot.engine.submit(own, requester=APPROVER)
    first = ask(user, slack, APPROVER, "requests")
    assert "*Waiting for your approval*: 120, newest first; page 1 of 6" in first
    seen = []
    for page in range(1, 7):
        text = first if page == 1 else ask(user, slack, APPROVER, f"requests page {page}")
        queue = text.split("*Waiting for your approval*")[1]
        seen += REQUEST_ID.findall(queue)
    assert seen == list(reversed(waiting))
    assert "page 7" not in ask(user, slack, APPROVER, "requests page 6")
    assert "Say which page" in user.command(APPROVER, "requests page x").text


def test_cancel_by_the_requester(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    request_id = share(user, slack, entry)
    assert ask(user, slack, "UALICE", f"cancel {request_id.lower()}") == f"Cancelled {request_id}."
    assert bot.engine.get(request_id).state is State.CANCELLED
    assert buttons(message_update(slack, "Cancelled")) == []
    assert "already cancelled" in ask(user, slack, "UALICE", f"cancel {request_id}")
    assert emulator.calls_to("PUT", "/api/mysafe/password/update") == []


def test_cancel_by_someone_else_is_refused(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    request_id = share(user, slack, entry)
    for someone in ("UBOBM", APPROVER):
        assert "Only the person who asked" in ask(user, slack, someone, f"cancel {request_id}")
    assert bot.engine.get(request_id).state is State.PENDING
    assert slack.calls_to("chat.update") == []
    assert "no change request R-22222" in ask(user, slack, "UALICE", "cancel R-22222")


# --- bad input: said at once, with the right form, nothing stored --------------------------------

BAD_COMMANDS = [
    ("frobnicate", 'no command "frobnicate"', "/mysafe help|login"),
    ("share password abc with @x", '"abc" is not an entry ID', "/mysafe share"),
    ("share password 1", 'Write "with" after the entry', "/mysafe share"),
    ("share password 1 with @x", '"@x" is plain text, not a Slack mention', "/mysafe share"),
    ("share password 1 with <#C0GENERAL|general>", "A channel is not a person", "/mysafe share"),
    ("share password 1 with <!here>", "@here is not a person", "/mysafe share"),
    ("share password 1 with <!subteam^S1|@ops>", "user group is not a MySafe group", "/mysafe share"),
    ('share password 1 with user:bobm reason "on call', "never closed", "/mysafe share"),
    ("share password 1 with user:bobm reason", "Say why after reason", "/mysafe share"),
    ("unshare password 1 from", "Say who", "/mysafe unshare"),
    ("update password 1", "Say what to change", "/mysafe update"),
    ("update password 1 colour=red", 'no field "colour"', "/mysafe update"),
    ("update password 1 client_secret=x", "Client secret is a secret", "/mysafe update"),
    ("update password 1 name=a name=b", "Name is given twice", "/mysafe update"),
    ("cancel R-0000", '"R-0000" is not a request ID', "/mysafe cancel"),
    ("cancel", "Which request?", "/mysafe cancel"),
    ("list things", '"things" is not a kind of entry', "/mysafe list"),
    ("list", "Say which kind of entry", "/mysafe list"),
    ("show secret", "Which API secret?", "/mysafe show"),
    ("show password 0", "Entry IDs are between 1 and", "/mysafe show"),
    ("show password 1 2", '"2" is not expected here', "/mysafe show"),
    ("rotate password 1 password=hunter2", "Password is a secret", "/mysafe rotate"),
    ("create thing", '"thing" is not a kind of entry', "/mysafe create"),
    ("login now", '"now" is not expected here', "/mysafe login"),
    ("whoami please", '"please" is not expected here', "/mysafe whoami"),
    ("requests all", '"all" is not expected here', "/mysafe requests"),
    ("help frobnicate", 'no command "frobnicate"', "/mysafe help"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "words", "usage"), BAD_COMMANDS, ids=[text for text, _, _ in BAD_COMMANDS]
)
def test_a_bad_command_is_answered_at_once_and_stores_nothing(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    redis,
    key_prefix: str,
    entry: int,
    text: str,
    words: str,
    usage: str,
) -> None:
    before = stored_requests(redis, key_prefix)
    answer = instant(user.command("UALICE", text))
    assert words in answer
    assert f"Usage: `{usage}" in answer and "Nothing was stored." in answer
    assert "hunter2" not in answer
    # A later command's answer proves the bad one's work queue ran without a word of its own.
    ask(user, slack, "UALICE", "requests")
    assert len(slack.responses) == 1
    assert stored_requests(redis, key_prefix) == before
    assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("views.open") == []


# --- modal payload shapes ------------------------------------------------------------------------


def test_create_with_a_missing_required_field_errors_on_that_field(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, people: None
) -> None:
    user.command("UALICE", "create password")
    view = opened(slack)
    body = ack_body(
        submit(user, "UALICE", view, {"name": "Jenkins admin", "password": "Cr3ated-Password!"})
    )
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"username"}
    assert "Cr3ated-Password!" not in json.dumps(body)
    nothing_stored(bot, slack)
    assert emulator.get_password(1) is None


def test_create_with_a_bad_totp_seed_errors_without_echoing_it(
    bot: Bot, user: SlackClient, slack: SlackFake, people: None
) -> None:
    user.command("UALICE", "create password")
    body = ack_body(
        submit(
            user,
            "UALICE",
            opened(slack),
            {"name": "n", "username": "u", "password": "Cr3ated-Password!", "secret_key": "not!base32"},
        )
    )
    assert body["response_action"] == "errors" and set(body["errors"]) == {"secret_key"}
    assert "not!base32" not in json.dumps(body)
    nothing_stored(bot, slack)


def _names(prefix: str, count: int) -> str:
    return ", ".join(f"{prefix}{n}" for n in range(count))


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ({"users_allowed": _names("user", MAX_SHARES_PER_REQUEST + 1)}, "users_allowed"),
        ({"users_allowed": _names("user", 30), "groups_allowed": _names("group", 21)}, "users_allowed"),
        ({"groups_allowed": _names("group", MAX_SHARES_PER_REQUEST + 1)}, "groups_allowed"),
    ],
)
def test_create_with_more_shares_than_a_request_holds_keeps_the_modal_open(
    bot: Bot, user: SlackClient, slack: SlackFake, people: None, typed: dict[str, str], field: str
) -> None:
    """Refused in the form, next to the shares, not by a DM after the typed password is gone."""
    user.command("UALICE", "create password")
    body = ack_body(
        submit(
            user,
            "UALICE",
            opened(slack),
            {"name": "Jenkins admin", "username": "admin", "password": "Cr3ated-Password!", **typed},
        )
    )
    assert body["response_action"] == "errors" and set(body["errors"]) == {field}
    assert f"at most {MAX_SHARES_PER_REQUEST} people and groups" in body["errors"][field]
    assert "Cr3ated-Password!" not in json.dumps(body)
    nothing_stored(bot, slack)
    assert dms_to(slack, "UALICE") == []


def test_create_with_as_many_shares_as_a_request_holds_is_accepted(
    user: SlackClient, slack: SlackFake, people: None
) -> None:
    user.command("UALICE", "create password")
    assert (
        ack_body(
            submit(
                user,
                "UALICE",
                opened(slack),
                {
                    "name": "Jenkins admin",
                    "username": "admin",
                    "password": "Cr3ated-Password!",
                    "users_allowed": _names("user", 40),
                    "groups_allowed": _names("group", 10),
                },
            )
        )
        == {}
    )
    assert "R-" in wait_dm(slack, "UALICE").args["text"]


def test_rotate_with_nothing_typed_errors_on_the_password(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    user.command("UALICE", f"rotate password {entry}")
    body = ack_body(submit(user, "UALICE", opened(slack), {"reason": "quarterly"}))
    assert body["response_action"] == "errors" and set(body["errors"]) == {"password"}
    nothing_stored(bot, slack)


def test_login_with_a_missing_field_errors_on_that_field(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator
) -> None:
    client_id, client_secret = emulator.add_user("dana")
    user.command("UDANA", "login")
    body = ack_body(
        submit(user, "UDANA", opened(slack), {"client_id": client_id, "client_secret": client_secret})
    )
    assert body == {"response_action": "errors", "errors": {"mysafe_username": "required"}}
    assert bot.services.vault.account("UDANA") is None


# A form refused in the modal: the person fixes the field and submits again. The field error is
# all they should see of the first try; the bot's next word is the outcome of the second.
REFUSED_FORMS = {
    "login": (
        "UDANA",
        "login",
        {"client_id": "{client_id}", "client_secret": "{client_secret}"},
        {"mysafe_username": "dana"},
    ),
    "rotate": (
        "UALICE",
        "rotate password {entry}",
        {"reason": "quarterly"},
        {"password": "N3w-Rotated-Value!"},
    ),
    "create": (
        "UALICE",
        "create password",
        {"name": "Jenkins admin", "password": "Cr3ated-1!"},
        {"username": "admin"},
    ),
}


@pytest.mark.parametrize("form", sorted(REFUSED_FORMS))
def test_a_form_refused_in_the_modal_says_nothing_else(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int, form: str
) -> None:
    who, text, first, missing = REFUSED_FORMS[form]
    client_id, client_secret = emulator.add_user("dana")
    names = {"client_id": client_id, "client_secret": client_secret, "entry": entry}
    first = {k: v.format(**names) for k, v in first.items()}
    user.command(who, text.format(**names))
    view = opened(slack)
    assert ack_body(submit(user, who, view, first))["response_action"] == "errors"

    submit(user, who, view, {**first, **missing})
    if form == "login":
        slack.wait_for(lambda: [c for c in slack.calls_to("views.update") if "linked" in readable(c)])
        assert [
            readable(c) for c in slack.calls_to("views.update") if "linked" not in readable(c)
        ] == []
    else:
        slack.wait_for(
            lambda: [c for c in dms_to(slack, who) if "waiting for approval" in c.args["text"]]
        )
        assert [
            c.args["text"] for c in dms_to(slack, who) if "waiting for approval" not in c.args["text"]
        ] == []


@pytest.mark.parametrize("status", [400, 500])
def test_mysafe_echoing_the_new_value_in_an_error_spreads_it_nowhere(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    redis,
    key_prefix: str,
    entry: int,
    status: int,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """MySafe (or a gateway) answers the rotation with an error quoting the request body:
    the new value must not reach Slack, the logs, Redis, the audit trail or MCP."""
    import logging
    from urllib.parse import quote

    from app.foundations.ratelimit import RateLimiter
    from app.mcp.server import _Tools

    caplog.set_level(logging.DEBUG)
    new = 'Echo&Me <"N3w"> päss/+=?'
    user.command("UALICE", f"rotate password {entry}")
    submit(user, "UALICE", opened(slack), {"password": new})
    request_id = request_id_in(wait_dm(slack, "UALICE").args["text"])
    emulator.inject(
        status=status, method="PUT", path_prefix="/api/mysafe/password/update", echo=True, times=5
    )
    user.click(APPROVER, "approve", request_id)
    message_update(slack, "Failed")
    wait_dm(slack, "UALICE", 2)
    tools = _Tools(
        bot.engine, RateLimiter(redis, prefix=key_prefix, name="mcp", per_minute=0), lambda: "UALICE"
    )
    status_answer = json.dumps(tools.request_status(request_id))
    everywhere = "\n".join(
        [
            slack.everything_sent(),
            everything_stored(redis, key_prefix),
            caplog.text,
            capfd.readouterr().err,
            status_answer,
            bot.engine.get(request_id).error,
        ]
    )
    # Fragments too: a part of the value quoted alone. Each holds a character no Fernet token
    # or hex id has ("N3w" alone was once found inside a random token).
    for form in (new, json.dumps(new)[1:-1], quote(new, safe=""), "Echo&Me", '"N3w"', "päss"):
        assert form not in everywhere, form


def test_a_mysafe_name_typed_at_login_identifies_nobody_until_an_admin_confirms_it(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    """Dana links her own valid key but types `approver1` as her MySafe name: approvers see it
    marked unconfirmed, and `share … with @dana` does not grant approver1's account access."""
    client_id, client_secret = emulator.add_user("dana")
    emulator.add_user("approver1")
    user.command("UDANA", "login")
    submit(
        user,
        "UDANA",
        opened(slack),
        {"client_id": client_id, "client_secret": client_secret, "mysafe_username": "approver1"},
    )
    told = slack.wait_calls("views.update")[0].blocks_text()
    assert "unconfirmed" in told and "users map UDANA approver1" in told

    user.command("UALICE", f"share password {entry} with <@UDANA|dana>")
    refused = slack.wait_responses(1)[-1]["text"]
    assert "know who" in refused and "UDANA" in refused
    assert bot.engine.queue() == []

    bot.services.vault.map_mention("UDANA", "dana")  # the admin says who she really is
    user.command("UALICE", f"share password {entry} with <@UDANA|dana>")
    request_id = request_id_in(slack.wait_responses(2)[-1]["text"])
    approve(user, slack, request_id)
    shared = {u["username"] for u in emulator.get_password(entry)["users_allowed"]}
    assert "dana" in shared and "approver1" not in shared


def test_a_claimed_name_is_marked_unconfirmed_to_approvers(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, entry: int
) -> None:
    client_id, client_secret = emulator.add_user("dana")
    bot.services.vault.link(
        "UDANA",
        client_id=client_id,
        client_secret=client_secret,
        mysafe_username="approver1",
        confirmed=False,
    )
    emulator.add_password("dana", name="Dana's DB", username="d", password="pw-dana-1")
    user.command("UDANA", "share password 2 with user:carol")
    message = slack.wait_for(lambda: approval_posts(slack))[0]
    assert "approver1, unconfirmed" in readable(message)
