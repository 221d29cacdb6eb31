"""`/mysafe whoami`: which MySafe user your Slack account acts as."""

from __future__ import annotations

from datetime import datetime

from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args
from commands.replies import Code, Message, Part, Strong, When, line
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
    account, confirmed = ctx.services.vault.account_and_name(ctx.user_id)
    role = _(" You are an approver.") if ctx.is_approver else ""
    if account is None:
        return Message.of(
            *line(
                _("You have not linked a MySafe key: run {command}.{role}"),
                command=Code("/mysafe login"),
                role=role,
            )
        )
    linked = _moment(account.linked_at)
    if confirmed is None:
        return Message.of(
            *line(
                _(
                    "You linked a MySafe key (client ID {client_id}, linked {when}) and said you "
                    "are {name}: unconfirmed until an admin runs {command}. Until then mentions "
                    "of you cannot be shared with.{role}"
                ),
                client_id=account.client_id,
                when=linked,
                name=Strong(account.mysafe_username),
                command=Code(f"mysafe-bot users map {ctx.user_id} {account.mysafe_username}"),
                role=role,
            )
        )
    return Message.of(
        *line(
            _("You act in MySafe as {name} (client ID {client_id}, linked {when}).{role}"),
            name=Strong(confirmed),
            client_id=account.client_id,
            when=linked,
            role=role,
        )
    )


def _moment(stored: str) -> Part:
    """When the key was linked, as a moment each reader sees in their own time zone (the
    stored ISO text when it cannot be read)."""
    try:
        return When(int(datetime.fromisoformat(stored).timestamp()))
    except ValueError:
        return stored
