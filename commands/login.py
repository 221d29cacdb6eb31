"""`/mysafe login`: link your own MySafe key (client ID and secret go in a modal, never here)."""

from __future__ import annotations

from app.i18n import N_
from commands.context import Context
from commands.grammar import Args
from commands.replies import LoginForm, OpenForm
from commands.types import Login, Token, VerbSpec

SPEC = VerbSpec(
    name="login",
    usage="/mysafe login",
    summary=N_("link your MySafe key (client ID and secret) in a private form"),
    examples=("/mysafe login",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Login


def parse(args: list[Token]) -> Login:
    Args(args).end()
    return Login()


def run(ctx: Context, command: Login) -> OpenForm:
    return OpenForm(LoginForm())
