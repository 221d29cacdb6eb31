"""`/mysafe show ENTRY`: one entry with its secrets masked."""

from __future__ import annotations

from app.i18n import N_
from commands.context import Context
from commands.grammar import Args, take_entry
from commands.replies import EntryShown
from commands.types import Show, Token, VerbSpec

SPEC = VerbSpec(
    name="show",
    usage="/mysafe show password|secret ID",
    summary=N_("show one entry, secrets masked, only to you"),
    examples=("/mysafe show password 312", "/mysafe show secret #7"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Show


def parse(args: list[Token]) -> Show:
    rest = Args(args)
    entry = take_entry(rest)
    rest.end()
    return Show(entry)


def run(ctx: Context, command: Show) -> EntryShown:
    """A disabled entry is shown as disabled (MySafe's 1009 says only that), not refused."""
    entry = ctx.mysafe().read(command.entry.kind, command.entry.identifier)
    ctx.engine.audit.record(
        "entry.shown",
        actor=ctx.user_id,
        kind=entry.kind.value,
        entry=entry.identifier,
        source=ctx.source,
    )
    return EntryShown(entry)
