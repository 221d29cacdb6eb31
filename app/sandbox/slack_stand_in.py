"""The Slack Web API and `response_url`s, as the demo console stands in for them.

In the demo `SLACK_API_URL` points here, so the bot's own slack-sdk client posts, updates and
opens modals exactly as it does against Slack, and the console shows the result. Only the
methods the bot calls are answered; any other is refused with Slack's `unknown_method`, so a
gap shows as an error rather than as a silent success. Calls must carry the demo's bot token.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.sandbox import people
from app.sandbox.workspace import Workspace

log = logging.getLogger(__name__)

Answer = dict[str, Any]
_ID = re.compile(r"^[A-Z0-9]{2,24}$")


def conversation_of(channel: str) -> str | None:
    """The conversation a channel argument names: the approvals channel, or a person's DM
    (by its D… ID or, as Slack allows for DMs, by the person's user ID)."""
    if channel == people.APPROVAL_CHANNEL:
        return channel
    if channel.startswith("U") and channel in people.BY_ID:
        return people.dm_channel(channel)
    if channel.startswith("D") and "U" + channel[1:] in people.BY_ID:
        return channel
    return None


def _user_object(person: people.Person) -> Answer:
    return {
        "id": person.slack_id,
        "team_id": people.TEAM_ID,
        "name": person.handle,
        "real_name": person.name,
        "deleted": False,
        "is_bot": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "tz": "UTC",
        "profile": {
            "real_name": person.name,
            "display_name": person.handle,
            "email": f"{person.handle}@demo.example",
        },
    }


class SlackStandIn:
    """The Web API methods the bot calls, over the demo workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.methods: dict[str, Callable[[Answer], Answer]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.delete": self.delete,
            "conversations.open": self.conversations_open,
            "conversations.info": self.conversations_info,
            "users.info": self.users_info,
            "users.lookupByEmail": self.lookup_by_email,
            "usergroups.users.list": self.usergroup_members,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
        }

    def call(self, method: str, args: Answer) -> Answer:
        handler = self.methods.get(method)
        if handler is None:
            log.warning(
                "demo: a Slack method the console does not know",
                extra={"event": "demo.unknown_method", "method": method[:64]},
            )
            return {"ok": False, "error": "unknown_method"}
        return handler(args)

    # --- identity ---------------------------------------------------------------------------

    def auth_test(self, args: Answer) -> Answer:
        return {
            "ok": True,
            "url": "http://127.0.0.1/",
            "team": "Demo",
            "user": "mysafe",
            "team_id": people.TEAM_ID,
            "user_id": people.BOT_ID,
            "bot_id": "B0DEMOBOT",
        }

    def users_info(self, args: Answer) -> Answer:
        """A person; their language only when asked for (`include_locale`), as Slack does."""
        person = people.BY_ID.get(str(args.get("user", "")))
        if person is None:
            return {"ok": False, "error": "user_not_found"}
        user = _user_object(person)
        if str(args.get("include_locale", "")).lower() in ("1", "true"):
            user["locale"] = self.workspace.locale(person.slack_id)
        return {"ok": True, "user": user}

    def lookup_by_email(self, args: Answer) -> Answer:
        handle = str(args.get("email", "")).removesuffix("@demo.example")
        person = people.BY_HANDLE.get(handle)
        return (
            {"ok": True, "user": _user_object(person)}
            if person
            else {"ok": False, "error": "users_not_found"}
        )

    def usergroup_members(self, args: Answer) -> Answer:
        if args.get("usergroup") != people.APPROVER_GROUP:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(people.APPROVERS)}

    def conversations_open(self, args: Answer) -> Answer:
        conversation = conversation_of(str(args.get("users", "")).split(",")[0])
        return (
            {"ok": True, "channel": {"id": conversation}}
            if conversation
            else {"ok": False, "error": "user_not_found"}
        )

    def conversations_info(self, args: Answer) -> Answer:
        channel = str(args.get("channel", ""))
        if conversation_of(channel) is None:
            return {"ok": False, "error": "channel_not_found"}
        name = people.APPROVAL_CHANNEL_NAME if channel == people.APPROVAL_CHANNEL else channel
        return {
            "ok": True,
            "channel": {"id": channel, "name": name, "is_member": True, "is_archived": False},
        }

    # --- messages ---------------------------------------------------------------------------

    def post_message(self, args: Answer) -> Answer:
        conversation = conversation_of(str(args.get("channel", "")))
        if conversation is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = self.workspace.post(
            conversation, user=people.BOT_ID, text=str(args.get("text", "")), blocks=_blocks(args)
        )
        return {
            "ok": True,
            "channel": conversation,
            "ts": ts,
            "message": {"ts": ts, "text": args.get("text", "")},
        }

    def post_ephemeral(self, args: Answer) -> Answer:
        conversation = conversation_of(str(args.get("channel", "")))
        user = str(args.get("user", ""))
        if conversation is None or user not in people.BY_ID:
            return {
                "ok": False,
                "error": "channel_not_found" if conversation is None else "user_not_in_channel",
            }
        ts = self.workspace.post(
            conversation,
            user=people.BOT_ID,
            text=str(args.get("text", "")),
            blocks=_blocks(args),
            only=user,
        )
        return {"ok": True, "message_ts": ts}

    def update(self, args: Answer) -> Answer:
        conversation = conversation_of(str(args.get("channel", "")))
        ts = str(args.get("ts", ""))
        changes = {"text": str(args.get("text", "")), "blocks": _blocks(args)}
        if conversation is None or not self.workspace.update(conversation, ts, **changes):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": conversation, "ts": ts}

    def delete(self, args: Answer) -> Answer:
        conversation = conversation_of(str(args.get("channel", "")))
        ts = str(args.get("ts", ""))
        if conversation is None or not self.workspace.delete(conversation, ts):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": conversation, "ts": ts}

    # --- views ------------------------------------------------------------------------------

    def _modal(self, args: Answer) -> dict[str, Any] | None:
        view = args.get("view")
        if isinstance(view, str):
            with contextlib.suppress(ValueError):
                view = json.loads(view)
        return view if isinstance(view, dict) else None

    def views_open(self, args: Answer, *, push: bool = False) -> Answer:
        user = self.workspace.trigger_user(str(args.get("trigger_id", "")))
        view = self._modal(args)
        if user is None:
            return {"ok": False, "error": "expired_trigger_id"}
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        view_id = self.workspace.open_view(user, view, push=push)
        return {"ok": True, "view": {**view, "id": view_id, "hash": view_id}}

    def views_push(self, args: Answer) -> Answer:
        return self.views_open(args, push=True)

    def views_update(self, args: Answer) -> Answer:
        view, view_id = self._modal(args), str(args.get("view_id", ""))
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        if not self.workspace.replace_view(view_id, view):
            return {"ok": False, "error": "not_found"}
        return {"ok": True, "view": {**view, "id": view_id, "hash": view_id}}

    def views_publish(self, args: Answer) -> Answer:
        user, view = str(args.get("user_id", "")), self._modal(args)
        if user not in people.BY_ID:
            return {"ok": False, "error": "user_not_found"}
        if view is None or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        view_id = self.workspace.publish_home(user, view)
        return {"ok": True, "view": {**view, "id": view_id, "hash": view_id}}

    # --- response_url -----------------------------------------------------------------------

    def respond(self, hook_id: str, message: Answer) -> bool:
        """An answer through a response_url: ephemeral unless `in_channel`; it may replace or
        delete the message it came from, as Slack's does."""
        target = self.workspace.hook_target(hook_id)
        if target is None:
            return False
        conversation, user, ts = target["conversation"], target["user"], target["ts"]
        if message.get("delete_original") and ts:
            return self.workspace.delete(conversation, ts)
        text, blocks = str(message.get("text", "")), _blocks(message)
        if message.get("replace_original") and ts:
            return self.workspace.update(conversation, ts, text=text, blocks=blocks)
        only = None if message.get("response_type") == "in_channel" else user
        self.workspace.post(conversation, user=people.BOT_ID, text=text, blocks=blocks, only=only)
        return True


def _blocks(args: Answer) -> list[Any]:
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        with contextlib.suppress(ValueError):
            blocks = json.loads(blocks)
    return blocks if isinstance(blocks, list) else []


def _arguments() -> Answer:
    """slack-sdk sends JSON or a form, depending on the method."""
    if request.is_json:
        body = request.get_json(silent=True)
        return dict(body) if isinstance(body, dict) else {}
    return dict(request.form)


def blueprint(stand_in: SlackStandIn, *, bot_token: str) -> Blueprint:
    bp = Blueprint("demo_slack_api", __name__)
    expected = f"Bearer {bot_token}".encode()

    @bp.post("/demo/api/<method>")
    def api(method: str) -> Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return jsonify(ok=False, error="invalid_auth")
        return jsonify(stand_in.call(method, _arguments()))

    @bp.post("/demo/response/<hook_id>")
    def respond(hook_id: str) -> tuple[str, int]:
        message = request.get_json(force=True, silent=True)
        if not isinstance(message, dict):
            return "invalid_payload", 400
        return ("ok", 200) if stand_in.respond(hook_id, message) else ("expired_url", 404)

    return bp
