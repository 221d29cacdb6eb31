"""`/mysafe unshare ENTRY from WHO… [reason "…"]`: ask to remove people or groups from an entry."""

from __future__ import annotations

from app.approvals.changes import Change, Verb
from app.i18n import N_
from commands.context import Context, resolve
from commands.grammar import Args, expect_keyword, take_entry
from commands.replies import Submitted
from commands.targets import take_audience
from commands.tickets import reference
from commands.types import Token, Unshare, VerbSpec

SPEC = VerbSpec(
    name="unshare",
    usage='/mysafe unshare password|secret ID from @someone… [reason "…"] [ticket KEY]',
    summary=N_("ask to stop sharing an entry with people or groups; an approver decides"),
    examples=(
        "/mysafe unshare password 312 from @alice",
        '/mysafe unshare secret 7 from user:bob, group:"Ops team" reason "left the team"',
    ),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Unshare


def parse(args: list[Token]) -> Unshare:
    rest = Args(args)
    entry = take_entry(rest)
    expect_keyword(rest, ("from", "with"), f"/mysafe unshare {entry} from @someone")
    audience = take_audience(rest, allow_edit=False)
    return Unshare(entry, audience.who, audience.reason, audience.ticket)


def run(ctx: Context, command: Unshare) -> Submitted:
    audience = resolve(ctx, command.who)
    change = Change(
        Verb.UNSHARE,
        command.entry.kind,
        command.entry.identifier,
        remove_users=tuple(u.username for u in audience.users),
        remove_groups=tuple(g.name for g in audience.groups),
    )
    request = ctx.engine.submit(
        change,
        requester=ctx.user_id,
        reason=command.reason,
        ticket=reference(command.ticket),
        idempotency_key=ctx.idempotency_key,
        source=ctx.source,
        people=audience.people,
    )
    return Submitted(request)
