"""`/mysafe rotate ENTRY`: open a private form for a new password, client secret or TOTP seed."""

from __future__ import annotations

from app.i18n import N_
from commands.context import Context
from commands.grammar import Args, take_entry
from commands.replies import OpenForm, RotateForm
from commands.types import Rotate, Token, VerbSpec

SPEC = VerbSpec(
    name="rotate",
    usage="/mysafe rotate password|secret ID",
    summary=N_("set a new password, client secret or TOTP seed in a private form"),
    examples=("/mysafe rotate password 312", "/mysafe rotate secret 7"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Rotate


def parse(args: list[Token]) -> Rotate:
    rest = Args(args)
    entry = take_entry(rest)
    rest.end()
    return Rotate(entry)


def run(ctx: Context, command: Rotate) -> OpenForm:
    """The form opens at once (Slack's trigger lasts 3 seconds); the entry is read on submit."""
    ctx.services.vault.credentials(ctx.user_id)  # unlinked people are told before typing secrets
    return OpenForm(RotateForm(command.entry.kind, command.entry.identifier))
