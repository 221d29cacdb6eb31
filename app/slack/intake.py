"""The acks that need no Bolt: a `/mysafe` command and a click on a durable button.

Measured under wrk, Bolt's dispatch (middleware chain, listener matching, a `BoltContext` with
its `WebClient`, argument injection) cost more than storing the job itself. These two kinds of
request, nearly all of the traffic, are answered here, right after `POST /slack/events` has
checked the signature and the payload's shape: the same functions Bolt's listeners call decide
what the ack says and store the job (`Commands.take`, `Button.take`), so the answer
is the same on either path. Everything else goes on to Bolt: events, view submissions, the
form verbs (`login`, `rotate`, `create`) and the clicks that open a modal (Deny, View change),
and Socket Mode deliveries, which never pass through this route.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from app.slack.listeners import actions
from app.slack.listeners.commands.mysafe import COMMAND, Commands

#: What Bolt's `ack(text=…)` sends: the text alone, as plain text (Slack shows it ephemeral).
_TEXT = "text/plain;charset=utf-8"


def fast_ack(commands: Commands, clicks: actions.Deps, body: dict[str, Any]) -> Response | None:
    """The ack for a request this path takes, after doing what its Bolt listener would; None
    for anything Bolt must handle (nothing has been done then)."""
    if body.get("command") == COMMAND:
        text = commands.take(body)
        return None if text is None else Response(text, status=200, content_type=_TEXT)
    if body.get("type") == "block_actions":
        button = actions.CLICKS.get(body["actions"][0]["action_id"])  # Bolt matches the first
        if button is not None:
            button.take(clicks, body)
            return Response("", status=200, content_type=_TEXT)
    return None
