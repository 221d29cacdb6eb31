"""`/mysafe`: parse in the ack (fast, no I/O), answer bad input at once, do the work after.

Help and parse errors are the ack's own (ephemeral) text. Modal verbs open their form right
after the ack, while Slack's trigger is fresh. Everything else runs in a lazy listener and
answers through `response_url`. The command's `trigger_id` is the request's idempotency key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.edge import answer_errors, user_message
from commands import dispatch
from commands.context import Context
from commands.parser import CommandError, parse

if TYPE_CHECKING:
    from app.slack_app import SlackFront

COMMAND = "/mysafe"


def register_commands(front: SlackFront) -> None:
    handlers = _Handlers(front)
    front.bolt.command(COMMAND)(ack=handlers.ack, lazy=[handlers.work])


class _Handlers:
    def __init__(self, front: SlackFront) -> None:
        self.front = front

    def context(self, body: dict[str, Any]) -> Context:
        return Context(
            user_id=body["user_id"], engine=self.front.engine, services=self.front.services,
            approvers=self.front.approvers,
            open_modal=lambda view: self.front.client.views_open(trigger_id=body["trigger_id"],
                                                                 view=view),
            idempotency_key=f"slack:{body.get('trigger_id', '')}",
        )

    def ack(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        try:
            command = parse(body.get("text", ""))
        except CommandError as error:
            ack(text=user_message(error))
            return
        if isinstance(command, dispatch.INSTANT_COMMANDS):
            ack(text=dispatch.run(self.context(body), command))
            return
        ack()
        if isinstance(command, dispatch.MODAL_COMMANDS):
            with answer_errors(lambda text: self.front.client.chat_postEphemeral(
                    channel=body["channel_id"], user=body["user_id"], text=text)):
                dispatch.run(self.context(body), command)

    def work(self, body: dict[str, Any], respond: Callable[..., Any]) -> None:
        try:
            command = parse(body.get("text", ""))
        except CommandError:
            return  # answered in the ack
        if isinstance(command, dispatch.INSTANT_COMMANDS + dispatch.MODAL_COMMANDS):
            return

        def say(text: str) -> None:
            respond(text=text, response_type="ephemeral")

        with answer_errors(say):
            reply = dispatch.run(self.context(body), command)
            if reply:
                say(reply)
