"""`/mysafe passkey`: a one-time link to register a passkey, for approvals that need one."""

from __future__ import annotations

from app.approvals.stepup import REGISTER_TTL
from app.foundations.durations import describe
from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args
from commands.replies import Link, Message, line
from commands.types import Passkey, Token, VerbSpec

SPEC = VerbSpec(
    name="passkey",
    usage="/mysafe passkey",
    summary=N_("register a passkey, to confirm approvals whose rule asks for one"),
    examples=("/mysafe passkey",),
)

#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Passkey


def parse(args: list[Token]) -> Passkey:
    Args(args).end()
    return Passkey()


def run(ctx: Context, command: Passkey) -> Message:
    """A link that works once, for this person only (the answer is ephemeral)."""
    url = ctx.engine.stepup.register_link(ctx.user_id)
    ctx.engine.audit.record("passkey.link_sent", actor=ctx.user_id)
    return Message(
        (
            line(
                _("{link} to confirm approvals whose policy rule asks for one."),
                link=Link(_("Register a passkey"), url),
            ),
            (
                _(
                    "The link is yours alone and works once, for {duration}. Your passkeys are "
                    "listed in the bot's Home tab, where you can remove them."
                ).format(duration=describe(REGISTER_TTL)),
            ),
        )
    )
