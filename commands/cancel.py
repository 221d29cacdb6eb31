"""`/mysafe cancel REQUEST_ID`: withdraw a change request you made."""

from __future__ import annotations

from app.approvals.change_request import is_request_id
from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args, clipped
from commands.lexer import CommandError
from commands.replies import Code, Message, line
from commands.types import Cancel, Token, VerbSpec, Word

SPEC = VerbSpec(
    name="cancel",
    usage="/mysafe cancel REQUEST_ID",
    summary=N_("cancel one of your open change requests"),
    examples=("/mysafe cancel R-7K2QF",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Cancel


def parse(args: list[Token]) -> Cancel:
    rest = Args(args)
    token = rest.take()
    if token is None:
        raise CommandError((_("which request? add its ID, like "), Code("/mysafe cancel R-7K2QF")))
    request_id = token.text.upper()
    if not isinstance(token, Word) or not is_request_id(request_id):
        raise CommandError(
            line(_('"{word}" is not a request ID: they look like R-7K2QF'), word=clipped(token.text))
        )
    rest.end()
    return Cancel(request_id)


def run(ctx: Context, command: Cancel) -> Message:
    decision = ctx.engine.cancel(command.request_id, ctx.user_id)
    if not decision.changed:
        return Message.of(
            _("{id} is already {state}; nothing changed.").format(
                id=command.request_id, state=_(decision.request.state.value)
            )
        )
    return Message.of(_("Cancelled {id}.").format(id=command.request_id))
