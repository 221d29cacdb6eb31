"""The demo console: a web page standing in for Slack, served by the bot in the demo only.

The page (`static/`, plain HTML and one script) shows the approvals channel, each person's DM
with the bot, their ephemeral replies, App Home and modals, from `GET /demo/state`. What a
person does there (a `/mysafe` command, a click, a modal submitted) comes back here and goes
to the bot as Slack would send it: the same payloads, signed with the signing secret, posted
to `/slack/events` over HTTP. The bot's answers arrive at the stand-in Web API
(`app.sandbox.slack_stand_in`) and its response_urls, and so back into the page.

It binds to loopback only (the demo refuses any other host), answers only requests whose Host
is loopback (no DNS rebinding) and takes actions only as JSON (a cross-site form cannot send
it without a preflight the console never grants).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, Response, abort, jsonify, request
from slack_sdk.signature import SignatureVerifier

from app.sandbox import people
from app.sandbox.workspace import LANGUAGES, Workspace

Payload = dict[str, Any]
_MENTION = re.compile(r"(?<![\w<])@([a-z][a-z0-9._-]{0,30})\b")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_COMMAND = 4000
SLACKBOT = "USLACKBOT"


def slack_text(typed: str) -> str:
    """What Slack sends for typed text: `&`, `<`, `>` escaped, `@handle` as a mention."""
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def mention(match: re.Match[str]) -> str:
        person = people.BY_HANDLE.get(match.group(1))
        return f"<@{person.slack_id}|{person.handle}>" if person else match.group(0)

    return _MENTION.sub(mention, escaped)


class Console:
    """Turns what a person does in the page into Slack's signed requests to the bot."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        bot_url: str,
        signing_secret: str,
        keys: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.workspace = workspace
        #: Slack ID -> (client ID, client secret) of the people shown their own MySafe key,
        #: who link it themselves (`demo_data.keys_to_show`).
        self.keys = dict(keys or {})
        self.events_url = f"{bot_url}/slack/events"
        self.hooks_url = f"{bot_url}/demo/response/"
        self.verifier = SignatureVerifier(signing_secret)

    def send(self, body: str, content_type: str) -> tuple[int, Payload]:
        """POST to the bot exactly as Slack does (`v0` signature over timestamp and body); its
        HTTP status and answer (see `_answer`), or status 0 when it did not answer in time."""
        timestamp = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=timestamp, body=body) or ""
        try:
            answer = requests.post(
                self.events_url,
                data=body.encode(),
                timeout=15,
                headers={
                    "Content-Type": content_type,
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": signature,
                },
            )
        except requests.RequestException:
            return 0, {}
        return answer.status_code, _answer(answer)

    def _interactive(self, payload: Payload) -> tuple[int, Payload]:
        return self.send(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def _failed(self, status: int, *, user: str, conversation: str) -> None:
        """What Slack shows the person when the app did not answer well: Slackbot's note."""
        if status != 200:
            error = "operation_timeout" if status == 0 else "dispatch_failed"
            self.workspace.post(
                conversation,
                user=SLACKBOT,
                only=user,
                blocks=None,
                text=f'/mysafe failed with the error "{error}"',
            )

    # --- what a person does -----------------------------------------------------------------

    def command(self, user: str, conversation: str, typed: str) -> Payload:
        text = slack_text(typed.strip().removeprefix("/mysafe").strip())
        hook = self.workspace.hook(conversation=conversation, user=user)
        form = {
            "token": "demo",
            "team_id": people.TEAM_ID,
            "team_domain": "demo",
            "channel_id": conversation,
            "channel_name": _channel_name(conversation),
            "user_id": user,
            "user_name": people.BY_ID[user].handle,
            "command": "/mysafe",
            "text": text,
            "api_app_id": "A0DEMO",
            "is_enterprise_install": "false",
            "response_url": self.hooks_url + hook,
            "trigger_id": self.workspace.trigger(user),
        }
        self.workspace.post(
            conversation, user=user, text=f"/mysafe {_masked(text)}".rstrip(), blocks=None, only=user
        )
        status, ack = self.send(urlencode(form), "application/x-www-form-urlencoded")
        self._failed(status, user=user, conversation=conversation)
        if ack.get("text") or ack.get("blocks"):  # the ack's own reply: ephemeral, as in Slack
            ts = self.workspace.post(
                conversation,
                user=people.BOT_ID,
                text=str(ack.get("text", "")),
                blocks=ack.get("blocks"),
                only=user,
            )
            # "Working on …" is replaced by the answer (`replace_original`), as in Slack.
            self.workspace.aim(hook, ts)
        return {"status": status}

    def click(self, user: str, action: Payload) -> Payload:
        """A button in a message, the App Home or a modal (`block_actions`)."""
        person = people.BY_ID[user]
        payload: Payload = {
            "type": "block_actions",
            "api_app_id": "A0DEMO",
            "token": "demo",
            "user": {
                "id": user,
                "username": person.handle,
                "name": person.handle,
                "team_id": people.TEAM_ID,
            },
            "team": {"id": people.TEAM_ID, "domain": "demo"},
            "trigger_id": self.workspace.trigger(user),
            "actions": [
                {
                    "action_id": str(action.get("action_id", "")),
                    "block_id": str(action.get("block_id", "")),
                    "value": str(action.get("value", "")),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        where, conversation = action.get("where"), people.dm_channel(user)
        if where == "message":
            conversation, ts = str(action.get("conversation", "")), str(action.get("ts", ""))
            message = self.workspace.message(conversation, ts)
            if message is None or message.get("only") not in (None, user):
                return {"status": 404}
            payload |= {
                "container": {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": conversation,
                    "is_ephemeral": message.get("only") is not None,
                },
                "channel": {"id": conversation, "name": _channel_name(conversation)},
                "message": {
                    "type": "message",
                    "ts": ts,
                    "text": message["text"],
                    "blocks": message["blocks"],
                },
                "response_url": self.hooks_url
                + self.workspace.hook(conversation=conversation, user=user, ts=ts),
            }
        else:
            view = self.workspace.home(user) if where == "home" else self.workspace.top_view(user)
            if view is None:
                return {"status": 404}
            payload |= {"container": {"type": "view", "view_id": view["id"]}, "view": view}
        status, _ = self._interactive(payload)
        self._failed(status, user=user, conversation=conversation)
        return {"status": status}

    def submit(self, user: str, values: Payload) -> Payload:
        """The top modal submitted: its answer decides whether it closes, changes or shows
        errors on its fields (`response_action`)."""
        view = self.workspace.top_view(user)
        if view is None:
            return {"status": 404}
        person = people.BY_ID[user]
        state = _state_values(view, values)
        payload = {
            "type": "view_submission",
            "team": {"id": people.TEAM_ID, "domain": "demo"},
            "user": {
                "id": user,
                "username": person.handle,
                "name": person.handle,
                "team_id": people.TEAM_ID,
            },
            "api_app_id": "A0DEMO",
            "token": "demo",
            "trigger_id": self.workspace.trigger(user),
            "view": {**view, "team_id": people.TEAM_ID, "state": {"values": state}, "hash": view["id"]},
            "response_urls": [],
        }
        status, reply = self._interactive(payload)
        if status != 200:  # Slack keeps the modal open and says so on it
            return {"status": status, "failed": "We had some trouble connecting. Try again?"}
        action = reply.get("response_action")
        if action == "errors":
            return {"status": status, "errors": reply.get("errors", {})}
        if action == "update" and isinstance(reply.get("view"), dict):
            self.workspace.replace_view(view["id"], reply["view"])
        elif action == "push" and isinstance(reply.get("view"), dict):
            self.workspace.open_view(user, reply["view"], push=True)
        else:
            self.workspace.close_view(user, every=action == "clear")
        return {"status": status}

    def close(self, user: str) -> Payload:
        self.workspace.close_view(user)
        return {"status": 200}

    def set_language(self, user: str, locale: str) -> Payload:
        """The person switches the language they read Slack in; Slack then tells the app
        (`user_change`, carrying the new locale), and the bot reads them afresh."""
        self.workspace.set_locale(user, locale)
        person = people.BY_ID[user]
        status, _ = self._event(
            {
                "type": "user_change",
                "user": {
                    "id": user,
                    "team_id": people.TEAM_ID,
                    "name": person.handle,
                    "locale": locale,
                },
                "event_ts": f"{time.time():.6f}",
            }
        )
        return {"status": status}

    def _event(self, event: Payload) -> tuple[int, Payload]:
        """An Events API delivery of `event`, wrapped and signed as Slack sends it."""
        wrapped = {
            "type": "event_callback",
            "token": "demo",
            "team_id": people.TEAM_ID,
            "api_app_id": "A0DEMO",
            "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": event,
        }
        return self.send(json.dumps(wrapped), "application/json")

    def open_home(self, user: str) -> Payload:
        status, _ = self._event(
            {
                "type": "app_home_opened",
                "user": user,
                "tab": "home",
                "channel": people.dm_channel(user),
                "event_ts": f"{time.time():.6f}",
            }
        )
        self._failed(status, user=user, conversation=people.dm_channel(user))
        return {"status": status}

    # --- what the page shows ----------------------------------------------------------------

    def state(self, user: str) -> Payload:
        return {
            "version": self.workspace.version(),
            "people": [p.as_json() for p in people.PEOPLE],
            "bot": people.BOT_ID,
            "slackbot": SLACKBOT,
            "channel": {
                "id": people.APPROVAL_CHANNEL,
                "name": people.APPROVAL_CHANNEL_NAME,
                "messages": self.workspace.messages(people.APPROVAL_CHANNEL, viewer=user),
            },
            "dm": {
                "id": people.dm_channel(user),
                "messages": self.workspace.messages(people.dm_channel(user), viewer=user),
            },
            "home": self.workspace.home(user),
            "locale": self.workspace.locale(user),
            "languages": list(LANGUAGES),
            "modal": self.workspace.top_view(user),
            "key": self._key(user),
            "groups": {people.APPROVER_GROUP: people.APPROVER_GROUP_HANDLE},
        }

    def _key(self, user: str) -> Payload | None:
        """The viewer's own MySafe key, when the demo leaves linking it to them: what they
        paste into `/mysafe login` (a sandbox key on a loopback page, shown to its person)."""
        if user not in self.keys:
            return None
        client_id, client_secret = self.keys[user]
        return {
            "client_id": client_id,
            "client_secret": client_secret,
            "mysafe_username": people.BY_ID[user].mysafe_username,
        }


def _state_values(view: Payload, typed: Payload) -> Payload:
    """`view.state.values` as Slack nests it: {block_id: {action_id: {type, value}}}, with
    null for an input left empty."""
    values: Payload = {}
    for block in view.get("blocks", []):
        element = block.get("element") if isinstance(block, dict) else None
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        value = typed.get(str(block.get("block_id", "")))
        values[str(block.get("block_id", ""))] = {
            str(element.get("action_id", "")): {
                "type": element.get("type", "plain_text_input"),
                "value": value if isinstance(value, str) and value else None,
            }
        }
    return values


def _channel_name(conversation: str) -> str:
    return people.APPROVAL_CHANNEL_NAME if conversation == people.APPROVAL_CHANNEL else "directmessage"


def _answer(answer: requests.Response) -> Payload:
    """The bot's answer as Slack reads it: a JSON object, or a plain-text body as a message's
    text (Bolt acks `ack("…")` in text/plain, and Slack shows that as an ephemeral message)."""
    if "json" not in answer.headers.get("Content-Type", ""):
        return {"text": answer.text} if answer.text.strip() else {}
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _asset(name: str) -> str:
    return resources.files("app.sandbox").joinpath("static", name).read_text("utf-8")


def blueprint(console: Console) -> Blueprint:
    bp = Blueprint("demo_console", __name__)

    @bp.before_request
    def loopback_only() -> None:
        if request.host.rsplit(":", 1)[0] not in _LOOPBACK_HOSTS:
            abort(403)
        if request.method == "POST" and not request.is_json:
            abort(415)  # a cross-site form cannot send JSON without a preflight

    @bp.after_request
    def headers(response: Response) -> Response:
        response.headers.update(_SECURITY_HEADERS)
        return response

    @bp.get("/")
    def page() -> Response:
        return Response(_asset("index.html"), mimetype="text/html")

    @bp.get("/favicon.ico")
    def no_icon() -> Response:
        return Response(status=204)

    @bp.get("/demo/<any(console.js, console.css):name>")
    def asset(name: str) -> Response:
        return Response(_asset(name), mimetype=_ASSETS[name])

    @bp.get("/demo/state")
    def state() -> Response:
        return jsonify(console.state(_person(request.args.get("as", ""))))

    @bp.post("/demo/language")
    def language() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("locale") not in LANGUAGES:
            abort(400)
        return jsonify(console.set_language(_person(str(body.get("as", ""))), str(body["locale"])))

    @bp.post("/demo/<any(command, click, submit, close, home):what>")
    def act(what: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400)
        user = _person(str(body.get("as", "")))
        if what == "command":
            conversation = str(body.get("conversation", ""))
            typed = str(body.get("text", ""))
            if (
                conversation not in (people.APPROVAL_CHANNEL, people.dm_channel(user))
                or len(typed) > MAX_COMMAND
            ):
                abort(400)
            return jsonify(console.command(user, conversation, typed))
        if what == "click":
            return jsonify(console.click(user, body))
        if what == "submit":
            values = body.get("values")
            return jsonify(console.submit(user, values if isinstance(values, dict) else {}))
        if what == "close":
            return jsonify(console.close(user))
        return jsonify(console.open_home(user))

    return bp


def _person(user: str) -> str:
    if user not in people.BY_ID:
        abort(400)
    return user


# A value typed after `password=`, `secret_key=`, `client_secret=`… (the bot refuses those on the
# command line and tells the person to use a form); like anything the bot refuses, it must not
# come back in a page or sit in the console's Redis.
_SECRET_ASSIGNMENT = re.compile(
    r"""(\b[\w-]*(?:pass|secret|token|key|totp)[\w-]*\s*=\s*)("[^"]*"|“[^”]*”|'[^']*'|\S+)""",
    re.IGNORECASE,
)


def _masked(text: str) -> str:
    """The command as the person typed it, with any secret-looking value blanked out."""
    return _SECRET_ASSIGNMENT.sub(lambda match: match.group(1) + "••••", text)
