"""`/mysafe logout`: forget the MySafe key you linked."""

from __future__ import annotations

from commands.context import Context
from commands.grammar import Args
from commands.types import Logout, Token, VerbSpec

SPEC = VerbSpec(
    name="logout",
    usage="/mysafe logout",
    summary="unlink your MySafe key from the bot",
    examples=("/mysafe logout",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Logout


def parse(args: list[Token]) -> Logout:
    Args(args).end()
    return Logout()


def run(ctx: Context, command: Logout) -> str:
    removed = ctx.services.vault.unlink(ctx.user_id)
    if not removed:
        return "You had no MySafe key linked."
    return "Your MySafe key is unlinked; the bot can no longer act for you. Your open " \
           "requests will fail when approved: cancel them with `/mysafe cancel`."
