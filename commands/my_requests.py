"""`/mysafe requests`: your open change requests (named so as not to shadow `requests`)."""

from __future__ import annotations

from app.blocks import request_line
from commands.context import Context
from commands.grammar import Args
from commands.types import Requests, Token, VerbSpec

SPEC = VerbSpec(
    name="requests",
    usage="/mysafe requests",
    summary="list your open change requests; approvers see the whole queue",
    examples=("/mysafe requests",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Requests


def parse(args: list[Token]) -> Requests:
    Args(args).end()
    return Requests()


def run(ctx: Context, command: Requests) -> str:
    own = ctx.engine.open_for(ctx.user_id)
    lines = ["*Your open requests*"] + [request_line(r) for r in own] if own else \
        ["You have no open requests."]
    if ctx.is_approver:
        queue = ctx.engine.queue()
        lines += ["", "*Waiting for approval*"] + [request_line(r) for r in queue] if queue \
            else ["", "Nothing is waiting for approval."]
    return "\n".join(lines)
