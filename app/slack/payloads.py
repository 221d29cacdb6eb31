"""The shape every Slack payload the bot handles must have, checked before any listener runs.

A valid signature proves who sent a body, not that it is well formed: a payload without a user,
with actions that are not a list or a click without the value the bot's buttons carry, or with
a view whose `private_metadata` is not what the bot wrote, is refused with a 400 and one log
line, instead of failing inside a listener with a traceback and a 500.
"""

from __future__ import annotations

import json
from typing import Any

from app.accounts.linked_keys import SLACK_USER

#: Callback IDs whose `private_metadata` the bot wrote as JSON (the rest carry plain text).
_JSON_METADATA = frozenset({"rotate"})
_KIND_METADATA = frozenset({"create"})
_KINDS = frozenset({"password", "secret"})


def problem(body: object) -> str | None:
    """What is wrong with this payload's shape, or None when the bot can handle it."""
    if not isinstance(body, dict):
        return "payload that is not an object"
    if "command" in body:
        return _command(body)
    kind = body.get("type")
    if kind == "block_actions":
        return (
            _user(body.get("user"))
            or _actions(body.get("actions"))
            or _common(body)
            or _objects(body, "container", "channel", "view", "message", "team")
        )
    if kind in ("view_submission", "view_closed"):
        return _user(body.get("user")) or _view(body.get("view"))
    return None  # events and anything else are routed (or ignored) by Bolt itself


def _command(body: dict[str, Any]) -> str | None:
    for field in ("user_id", "command"):
        if not isinstance(body.get(field), str) or not body[field]:
            return f"slash command without {field}"
    if not SLACK_USER.match(body["user_id"]):
        return "slash command from something that is not a Slack user ID"
    return _common(body)


def _common(body: dict[str, Any]) -> str | None:
    """Fields the bot answers through: the reply address and the modal trigger."""
    url = body.get("response_url", "https://hooks.slack.com/")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "payload whose response_url is not a web address"
    if not isinstance(body.get("trigger_id", ""), str) or not isinstance(body.get("text", ""), str):
        return "payload whose trigger_id or text is not text"
    return None


def _objects(body: dict[str, Any], *names: str) -> str | None:
    for name in names:
        if name in body and not isinstance(body[name], dict):
            return f"payload whose {name} is not an object"
    return None


def _user(user: object) -> str | None:
    if (
        not isinstance(user, dict)
        or not isinstance(user.get("id"), str)
        or not SLACK_USER.match(user["id"])
    ):
        return "payload without a Slack user"
    return None


def _actions(actions: object) -> str | None:
    if not isinstance(actions, list) or not actions:
        return "block_actions without actions"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action without an action_id"
        # Every button of the bot carries the request (or page) it acts on in `value`.
        if not isinstance(action.get("value"), str) or not action["value"]:
            return "an action without a value"
    return None


def _view(view: object) -> str | None:
    if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
        return "view without a callback_id"
    state = view.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("values"), dict):
        return "view without its state (Slack always sends state.values)"
    if not all(
        isinstance(block, dict) and all(isinstance(a, dict) for a in block.values())
        for block in state["values"].values()
    ):
        return "view whose values are not objects"
    metadata = view.get("private_metadata", "")
    if not isinstance(metadata, str):
        return "view whose private_metadata is not text"
    return _metadata(view["callback_id"], metadata)


def _metadata(callback_id: str, metadata: str) -> str | None:
    """The bot's own forms carry what the bot put there; anything else was not sent by it."""
    if callback_id in _KIND_METADATA and metadata not in _KINDS:
        return "create form for no known kind of entry"
    if callback_id in _JSON_METADATA:
        try:
            target = json.loads(metadata)
        except ValueError:
            return "rotate form with unreadable metadata"
        if (
            not isinstance(target, dict)
            or target.get("kind") not in _KINDS
            or not isinstance(target.get("identifier"), int)
        ):
            return "rotate form for no known entry"
    return None
