"""The App Home's buttons: remove a passkey (a job), page through the requests (a lazy
listener: a later visit redoes it), and *Show all* under `/mysafe access` (a modal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.slack.command_text import parse
from app.slack.listeners.actions.deps import Deps
from app.slack.replies import access_view, answer_errors
from app.slack.respond import Respond
from commands import dispatch
from commands.context import Context
from commands.replies import AccessShown


def remove_passkey(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    """From the App Home: the clicker's own passkey only (looked up under their ID)."""
    user, credential = body["user"]["id"], body["actions"][0]["value"]
    if deps.engine.stepup.passkeys.remove(user, credential):
        deps.engine.audit.record("passkey.removed", actor=user, credential=credential)
    deps.home.publish(user)


def home_page(deps: Deps, body: dict[str, Any]) -> None:
    """*More* / *Back to the newest* on the Home tab."""
    value = str(body["actions"][0].get("value", "0"))
    deps.home.publish(body["user"]["id"], start=int(value) if value.isdigit() else 0)


def show_access_clicked(
    deps: Deps, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]
) -> None:
    """*Show all* under `/mysafe access`: the entry read again with the clicker's own key
    (MySafe decides what they see, now), every user and group in a modal."""
    ack()
    user, value = body["user"]["id"], str(body["actions"][0].get("value", ""))
    with (
        deps.durable.languages.to_person(user, ask=False),
        answer_errors(lambda text: deps.tell(body, respond, text)),
    ):
        command = parse(f"access {value.replace(':', ' ', 1)}")
        context = Context(
            user_id=user, engine=deps.engine, services=deps.services, approvers=deps.approvers
        )
        reply = dispatch.run(context, command)
        if isinstance(reply, AccessShown):
            deps.client.views_open(trigger_id=body["trigger_id"], view=access_view(reply))
