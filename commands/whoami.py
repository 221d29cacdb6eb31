"""`/mysafe whoami`: which MySafe user your Slack account acts as."""

from __future__ import annotations

from datetime import datetime

from app.i18n import N_
from commands.context import Context
from commands.grammar import Args
from commands.replies import Code, Message, Part, Strong, When
from commands.types import Token, VerbSpec, WhoAmI

SPEC = VerbSpec(
    name="whoami",
    usage="/mysafe whoami",
    summary=N_("show which MySafe user the bot acts as for you"),
    examples=("/mysafe whoami",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = WhoAmI


def parse(args: list[Token]) -> WhoAmI:
    Args(args).end()
    return WhoAmI()


def run(ctx: Context, command: WhoAmI) -> Message:
    account = ctx.services.vault.account(ctx.user_id)
    role = " You are an approver." if ctx.is_approver else ""
    if account is None:
        return Message.of("You have not linked a MySafe key: run ", Code("/mysafe login"), "." + role)
    confirmed = ctx.services.vault.mysafe_username(ctx.user_id)
    linked = _moment(account.linked_at)
    if confirmed is None:
        return Message.of(
            f"You linked a MySafe key (client ID {account.client_id}, linked ",
            linked,
            ") and said you are ",
            Strong(account.mysafe_username),
            ": unconfirmed until an admin runs ",
            Code(f"mysafe-bot users map {ctx.user_id} {account.mysafe_username}"),
            f". Until then mentions of you cannot be shared with.{role}",
        )
    return Message.of(
        "You act in MySafe as ",
        Strong(confirmed),
        f" (client ID {account.client_id}, linked ",
        linked,
        f").{role}",
    )


def _moment(stored: str) -> Part:
    """When the key was linked, as a moment each reader sees in their own time zone (the
    stored ISO text when it cannot be read)."""
    try:
        return When(int(datetime.fromisoformat(stored).timestamp()))
    except ValueError:
        return stored
