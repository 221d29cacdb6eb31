"""`/mysafe whoami`: which MySafe user your Slack account acts as."""

from __future__ import annotations

from app.text import inline
from commands.context import Context
from commands.grammar import Args
from commands.types import Token, VerbSpec, WhoAmI

SPEC = VerbSpec(
    name="whoami",
    usage="/mysafe whoami",
    summary="show which MySafe user the bot acts as for you",
    examples=("/mysafe whoami",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = WhoAmI


def parse(args: list[Token]) -> WhoAmI:
    Args(args).end()
    return WhoAmI()


def run(ctx: Context, command: WhoAmI) -> str:
    account = ctx.services.vault.account(ctx.user_id)
    role = " You are an approver." if ctx.is_approver else ""
    if account is None:
        return "You have not linked a MySafe key: run `/mysafe login`." + role
    confirmed = ctx.services.vault.mysafe_username(ctx.user_id)
    if confirmed is None:
        return (f"You linked a MySafe key (client ID {inline(account.client_id)}, linked "
                f"{account.linked_at}) and said you are *{inline(account.mysafe_username)}*: "
                "unconfirmed until an admin runs `mysafe-bot users map "
                f"{ctx.user_id} {inline(account.mysafe_username)}`. Until then mentions of you "
                f"cannot be shared with.{role}")
    return (f"You act in MySafe as *{inline(confirmed)}* (client ID "
            f"{inline(account.client_id)}, linked {account.linked_at}).{role}")
