"""`/mysafe logout`: forget the MySafe key you linked."""

from __future__ import annotations

from app.accounts.linked_keys import unlink_person
from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args
from commands.replies import Code, Message, line
from commands.types import Logout, Token, VerbSpec

SPEC = VerbSpec(
    name="logout",
    usage="/mysafe logout",
    summary=N_("unlink your MySafe key from the bot"),
    examples=("/mysafe logout",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Logout


def parse(args: list[Token]) -> Logout:
    Args(args).end()
    return Logout()


def run(ctx: Context, command: Logout) -> Message:
    removed = unlink_person(ctx.services.vault, ctx.user_id)
    if removed:
        ctx.engine.audit.record("account.unlinked", actor=ctx.user_id, via="logout")
    if not removed:
        return Message.of(_("You had no MySafe key linked."))
    return Message.of(
        *line(
            _(
                "Your MySafe key (and your MCP token, if you had one) is unlinked; the bot "
                "can no longer act for you. Your open requests will fail when approved: "
                "cancel them with {command}."
            ),
            command=Code("/mysafe cancel"),
        )
    )
