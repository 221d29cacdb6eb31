"""The demo console's two halves, over HTTP and a real Redis: the Slack Web API stand-in the bot
calls, and the page's actions turned into Slack's signed requests to the bot.

The bot here is a stub on a loopback port that checks each request's signature with
slack-sdk's own verifier and answers what the test tells it to, built by Bolt's own `ack` (so a
text-only ack is text/plain, as the bot's are): the console's half is what is under test. The
whole product, bot included, is clicked through in tests/deploy.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from flask import Flask, Response, request
from slack_bolt.context.ack import Ack
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server

from app.sandbox import console, people, slack_stand_in
from app.sandbox.workspace import Workspace

SECRET = "demo-signing-secret"
TOKEN = "xoxb-demo-test"
PRIYA, CAROL = "U0DEMOPRIYA", "U0DEMOCAROL"
CHANNEL = people.APPROVAL_CHANNEL


class BotStub:
    """`POST /slack/events`: verifies Slack's signature, records the payload, answers from
    a queue of `ack(**arguments)` calls (an empty 200, Bolt's plain ack, when it is empty)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.status = 200  # what a broken bot would answer instead
        verifier = SignatureVerifier(SECRET)
        app = Flask("bot-stub")

        @app.post("/slack/events")
        def events() -> Response:
            if not verifier.is_valid_request(request.get_data(), dict(request.headers)):
                return Response("", 401)
            form = parse_qs(request.get_data(as_text=True))
            self.received.append(
                request.get_json()
                if request.is_json
                else json.loads(form["payload"][0])
                if "payload" in form
                else {k: v[0] for k, v in form.items()}
            )
            if self.status != 200:
                return Response("", self.status)
            acked = Ack()(**(self.answers.pop(0) if self.answers else {}))
            return Response(acked.body, acked.status, content_type=acked.headers["content-type"][0])

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def bot() -> Iterator[BotStub]:
    stub = BotStub()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.fixture
def workspace(redis, key_prefix: str) -> Workspace:
    return Workspace(redis, prefix=key_prefix)


@pytest.fixture
def client(workspace: Workspace, bot: BotStub):
    app = Flask("demo-console-test")
    app.register_blueprint(
        slack_stand_in.blueprint(slack_stand_in.SlackStandIn(workspace), bot_token=TOKEN)
    )
    app.register_blueprint(
        console.blueprint(console.Console(workspace, bot_url=bot.url, signing_secret=SECRET))
    )
    return app.test_client()


def api(client, method: str, **args: Any) -> dict[str, Any]:
    return client.post(
        f"/demo/api/{method}", json=args, headers={"Authorization": f"Bearer {TOKEN}"}
    ).get_json()


def seen_by(client, user: str) -> dict[str, Any]:
    return client.get("/demo/state", query_string={"as": user}).get_json()


def test_an_ephemeral_is_seen_by_its_person_only_and_updates_land_in_place(client) -> None:
    posted = api(client, "chat.postMessage", channel=CHANNEL, text="request R-1")
    api(client, "chat.postEphemeral", channel=CHANNEL, user=PRIYA, text="only Priya")
    assert [m["text"] for m in seen_by(client, PRIYA)["channel"]["messages"]] == [
        "request R-1",
        "only Priya",
    ]
    assert [m["text"] for m in seen_by(client, CAROL)["channel"]["messages"]] == ["request R-1"]

    assert api(client, "chat.update", channel=CHANNEL, ts=posted["ts"], text="R-1 applied")["ok"]
    assert [m["text"] for m in seen_by(client, CAROL)["channel"]["messages"]] == ["R-1 applied"]
    assert api(client, "chat.update", channel=CHANNEL, ts="1.000999", text="x") == {
        "ok": False,
        "error": "message_not_found",
    }
    # A DM addressed by user ID lands in that person's DM only.
    assert (
        api(client, "chat.postMessage", channel=PRIYA, text="your request")["channel"] == "D0DEMOPRIYA"
    )
    assert seen_by(client, CAROL)["dm"]["messages"] == []


def test_a_response_url_answers_as_slack_does_and_expires(client, workspace: Workspace) -> None:
    posted = api(client, "chat.postMessage", channel=CHANNEL, text="the request")
    hook = workspace.hook(conversation=CHANNEL, user=CAROL, ts=posted["ts"])
    assert client.post(f"/demo/response/{hook}", json={"text": "not yours"}).status_code == 200
    assert [m["only"] for m in seen_by(client, CAROL)["channel"]["messages"]] == [None, CAROL]
    assert (
        client.post(
            f"/demo/response/{hook}", json={"text": "replaced", "replace_original": True}
        ).status_code
        == 200
    )
    assert seen_by(client, PRIYA)["channel"]["messages"][0]["text"] == "replaced"
    assert client.post("/demo/response/never-issued", json={"text": "x"}).status_code == 404


def test_the_web_api_wants_the_bot_token(client) -> None:
    refused = client.post(
        "/demo/api/chat.postMessage",
        json={"channel": CHANNEL, "text": "x"},
        headers={"Authorization": "Bearer not-the-bot-token"},
    ).get_json()
    assert refused == {"ok": False, "error": "invalid_auth"}
    assert seen_by(client, PRIYA)["channel"]["messages"] == []


def test_a_command_reaches_the_bot_signed_with_mentions_as_slack_escapes_them(
    client, bot: BotStub
) -> None:
    bot.answers.append({"text": "Usage: …"})
    typed = '/mysafe share password 1 with @alice reason "<b>1 & 2</b>" @nobody'
    assert client.post(
        "/demo/command", json={"as": PRIYA, "conversation": CHANNEL, "text": typed}
    ).get_json() == {"status": 200}
    (form,) = bot.received
    assert form["text"] == (
        'share password 1 with <@U0DEMOALICE|alice> reason "&lt;b&gt;1 &amp; 2&lt;/b&gt;" @nobody'
    )
    assert (form["user_id"], form["channel_id"], form["command"]) == (PRIYA, CHANNEL, "/mysafe")
    # The ack's own reply is an ephemeral for the person who typed, as in Slack.
    shown = seen_by(client, PRIYA)["channel"]["messages"]
    assert shown[-1]["text"] == "Usage: …" and shown[-1]["only"] == PRIYA


def test_a_plain_text_ack_is_shown_to_its_person_and_working_on_gives_way_to_the_answer(
    client, bot: BotStub
) -> None:
    """The bot acks help, a typo, "Working on …" in text/plain (Bolt's `ack("…")`), and Slack
    shows that text to the person who typed the command, and to nobody else."""
    bot.answers.append({"text": "There is no command `shre`. Usage: …"})
    client.post("/demo/command", json={"as": PRIYA, "conversation": CHANNEL, "text": "shre password 1"})
    assert [(m["text"], m["only"]) for m in seen_by(client, PRIYA)["channel"]["messages"]] == [
        ("/mysafe shre password 1", PRIYA),
        ("There is no command `shre`. Usage: …", PRIYA),
    ]
    assert seen_by(client, CAROL)["channel"]["messages"] == []

    bot.answers.append({"text": "Working on `list passwords`…"})
    client.post("/demo/command", json={"as": PRIYA, "conversation": CHANNEL, "text": "list passwords"})
    hook = urlparse(bot.received[-1]["response_url"]).path
    client.post(hook, json={"text": "You can see 2 passwords.", "replace_original": True})
    shown = [m["text"] for m in seen_by(client, PRIYA)["channel"]["messages"]]
    assert shown[-2:] == ["/mysafe list passwords", "You can see 2 passwords."]


def test_a_secret_typed_in_a_command_is_not_shown_back_nor_kept(
    client, bot: BotStub, redis, key_prefix
) -> None:
    typed = '/mysafe update password 1 PASSWORD="hunter2 x" secret_key=JBSWY3DP notes=fine'
    client.post("/demo/command", json={"as": PRIYA, "conversation": CHANNEL, "text": typed})
    echoed = seen_by(client, PRIYA)["channel"]["messages"][0]["text"]
    assert echoed == "/mysafe update password 1 PASSWORD=•••• secret_key=•••• notes=fine"
    stored = b"".join(redis.dump(key) or b"" for key in redis.scan_iter(f"{key_prefix}*"))
    assert b"hunter2" not in stored and b"JBSWY3DP" not in stored


def test_a_form_error_stays_on_its_field_and_a_plain_ack_closes_the_modal(
    client, bot: BotStub, workspace: Workspace
) -> None:
    """`response_action: errors` keeps the modal open with the message on its field."""
    field = {"type": "plain_text_input", "action_id": "value"}
    view = {
        "type": "modal",
        "callback_id": "login",
        "private_metadata": "m",
        "title": {"type": "plain_text", "text": "Link"},
        "blocks": [
            {
                "type": "input",
                "block_id": "client_id",
                "element": field,
                "label": {"type": "plain_text", "text": "Client ID"},
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "element": field,
                "label": {"type": "plain_text", "text": "Note"},
            },
        ],
    }
    opened = api(client, "views.open", trigger_id=workspace.trigger(PRIYA), view=view)
    bot.answers.append({"response_action": "errors", "errors": {"client_id": "Not a client ID"}})

    answer = client.post("/demo/submit", json={"as": PRIYA, "values": {"client_id": "abc"}})
    assert answer.get_json()["errors"] == {"client_id": "Not a client ID"}
    assert seen_by(client, PRIYA)["modal"]["id"] == opened["view"]["id"]
    submitted = bot.received[0]
    assert submitted["type"] == "view_submission" and submitted["user"]["id"] == PRIYA
    assert submitted["view"]["private_metadata"] == "m"
    assert submitted["view"]["state"]["values"] == {
        "client_id": {"value": {"type": "plain_text_input", "value": "abc"}},
        "note": {"value": {"type": "plain_text_input", "value": None}},
    }

    client.post("/demo/submit", json={"as": PRIYA, "values": {"client_id": "good"}})
    assert seen_by(client, PRIYA)["modal"] is None


def test_a_modal_opens_only_with_a_fresh_trigger_and_for_its_person(
    client, workspace: Workspace
) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    assert api(client, "views.open", trigger_id="1.made.up", view=view) == {
        "ok": False,
        "error": "expired_trigger_id",
    }
    api(client, "views.open", trigger_id=workspace.trigger(CAROL), view=view)
    assert seen_by(client, CAROL)["modal"] is not None
    assert seen_by(client, PRIYA)["modal"] is None


def test_the_page_answers_loopback_hosts_and_json_actions_only(client) -> None:
    assert client.get("/", headers={"Host": "127.0.0.1:3000"}).status_code == 200
    assert client.get("/", headers={"Host": "attacker.example"}).status_code == 403
    assert client.post("/demo/command", data={"as": PRIYA, "text": "help"}).status_code == 415
    assert (
        client.post(
            "/demo/command", json={"as": "U0STRANGER", "conversation": CHANNEL, "text": "help"}
        ).status_code
        == 400
    )
    page = client.get("/")
    assert "Nothing leaves the machine" in page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_a_bot_that_fails_or_is_gone_is_told_as_slack_tells_it(
    client, bot: BotStub, workspace: Workspace
) -> None:
    """Slack's own words when the app fails: an ephemeral from Slackbot, to that person only;
    a modal stays open with Slack's note on it."""
    bot.status = 500
    client.post("/demo/command", json={"as": PRIYA, "conversation": CHANNEL, "text": "help"})
    note = seen_by(client, PRIYA)["channel"]["messages"][-1]
    assert (note["user"], note["only"]) == ("USLACKBOT", PRIYA)
    assert note["text"] == '/mysafe failed with the error "dispatch_failed"'
    assert seen_by(client, CAROL)["channel"]["messages"] == []

    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    api(client, "views.open", trigger_id=workspace.trigger(PRIYA), view=view)
    assert client.post("/demo/submit", json={"as": PRIYA, "values": {}}).get_json()["failed"]
    assert seen_by(client, PRIYA)["modal"] is not None

    bot.server.shutdown()
    bot.server.server_close()
    client.post("/demo/command", json={"as": PRIYA, "conversation": CHANNEL, "text": "help"})
    assert (
        seen_by(client, PRIYA)["channel"]["messages"][-1]["text"]
        == '/mysafe failed with the error "operation_timeout"'
    )


def test_each_person_reads_slack_in_the_language_they_switch_to(
    client, bot: BotStub, workspace: Workspace
) -> None:
    assert seen_by(client, PRIYA)["locale"] == "en-US"
    assert client.post("/demo/language", json={"as": PRIYA, "locale": "pt-BR"}).get_json() == {
        "status": 200
    }
    assert seen_by(client, PRIYA)["locale"] == "pt-BR"
    assert seen_by(client, CAROL)["locale"] == "en-US"
    # Slack tells the app the person changed, signed like any event, with the new locale.
    (delivery,) = bot.received
    assert delivery["event"]["type"] == "user_change"
    assert delivery["event"]["user"] == {
        "id": PRIYA,
        "team_id": people.TEAM_ID,
        "name": "priya",
        "locale": "pt-BR",
    }
    # users.info gives the language only when asked, as Slack does.
    assert api(client, "users.info", user=PRIYA, include_locale="true")["user"]["locale"] == "pt-BR"
    assert "locale" not in api(client, "users.info", user=PRIYA)["user"]
    assert client.post("/demo/language", json={"as": PRIYA, "locale": "fr-FR"}).status_code == 400
