"""Requests shaped and signed exactly as Slack sends them to `POST /slack/events`.

Signing: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the signing secret, in
`X-Slack-Signature`, with the timestamp in `X-Slack-Request-Timestamp`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import requests

_counter = itertools.count(1)


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackClient:
    """Sends signed Slack payloads to the bot over HTTP, like Slack's servers do."""

    def __init__(self, bot_url: str, secret: str, response_url: str) -> None:
        self.url = f"{bot_url}/slack/events"
        self.secret = secret
        self.response_url = response_url

    def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> requests.Response:
        all_headers = {
            "Content-Type": content_type,
            **sign(body, secret or self.secret, timestamp),
            **(headers or {}),
        }
        return requests.post(self.url, data=body.encode(), headers=all_headers, timeout=10)

    # --- payloads --------------------------------------------------------------------------

    def command(self, user: str, text: str, **kwargs: Any) -> requests.Response:
        form = command_form(user, text, self.response_url)
        return self.post(urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    def click(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str = "C0APPROVALS",
        message_ts: str = "1700000001.000100",
        **kwargs: Any,
    ) -> requests.Response:
        payload = click_payload(
            user, action_id, value, self.response_url, channel=channel, message_ts=message_ts
        )
        return self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs
        )

    def submit_view(
        self,
        user: str,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        *,
        private_metadata: str = "",
        **kwargs: Any,
    ) -> requests.Response:
        """`values` is {block_id: {action_id: {"type": …, "value": …}}}, as Slack nests it."""
        payload = view_submission(user, callback_id, values, private_metadata=private_metadata)
        return self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs
        )

    def event(self, event: dict[str, Any], **kwargs: Any) -> requests.Response:
        return self.post(json.dumps(event_callback(event)), "application/json", **kwargs)


# --- Slack's payloads, shared by HTTP mode (above) and Socket Mode (tests/socket_mode_fake.py) --


def command_form(user: str, text: str, response_url: str) -> dict[str, str]:
    """A slash command's fields: the form HTTP mode posts, the payload Socket Mode sends."""
    return {
        "token": "verification-token-unused",
        "team_id": "T1",
        "team_domain": "acme",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/mysafe",
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{next(_counter)}.{int(time.time())}.abcdef",
    }


def click_payload(
    user: str,
    action_id: str,
    value: str,
    response_url: str,
    *,
    channel: str = "C0APPROVALS",
    message_ts: str = "1700000001.000100",
) -> dict[str, Any]:
    """A button click in a channel message (`block_actions`)."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{next(_counter)}.{int(time.time())}.abcdef",
        "team": {"id": "T1", "domain": "acme"},
        "channel": {"id": channel, "name": "vault-approvals"},
        "message": {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "decision",
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(
    user: str, callback_id: str, values: dict[str, dict[str, Any]], *, private_metadata: str = ""
) -> dict[str, Any]:
    """A modal submitted; `values` is {block_id: {action_id: {"type": …, "value": …}}}."""
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "unused",
        "trigger_id": f"{next(_counter)}.1.abc",
        "view": {
            "id": "V1",
            "team_id": "T1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "1.abc",
            "title": {"type": "plain_text", "text": "x"},
            "blocks": [],
        },
        "response_urls": [],
    }


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """An Events API delivery (`event_callback`) around one event."""
    return {
        "token": "unused",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{next(_counter)}",
        "event_time": int(time.time()),
    }


def text_input(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}
