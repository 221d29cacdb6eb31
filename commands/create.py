"""`/mysafe create password|secret`: open a form with every field of a new entry."""

from __future__ import annotations

from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args, take_kind
from commands.replies import Code, CreateForm, OpenForm
from commands.types import Create, Token, VerbSpec

SPEC = VerbSpec(
    name="create",
    usage="/mysafe create password|secret",
    summary=N_("create an entry in a private form with every field"),
    examples=("/mysafe create password", "/mysafe create secret"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Create


def parse(args: list[Token]) -> Create:
    rest = Args(args)
    kind = take_kind(rest)
    rest.hint = (Code(f"/mysafe create {kind.value}"), _(" opens a form that asks for every field"))
    rest.end()
    return Create(kind)


def run(ctx: Context, command: Create) -> OpenForm:
    ctx.services.vault.credentials(ctx.user_id)  # unlinked people are told before typing secrets
    return OpenForm(CreateForm(command.kind))
