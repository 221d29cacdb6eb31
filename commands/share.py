"""`/mysafe share ENTRY with WHO… [edit] [for DURATION [rotate-after]] [reason "…"]`: ask to add
people or groups to an entry, for good or for a period after which the bot takes it back."""

from __future__ import annotations

from app.approvals.changes import Change, Verb
from app.i18n import N_
from commands.context import Context, resolve
from commands.grammar import Args, expect_keyword, take_entry
from commands.replies import Submitted
from commands.targets import take_audience
from commands.tickets import reference
from commands.types import Share, Token, VerbSpec

SPEC = VerbSpec(
    name="share",
    usage="/mysafe share password|secret ID with @someone… [edit] [for 8h [rotate-after]] "
    '[emergency] [reason "…"] [ticket KEY]',
    summary=N_(
        'ask to share an entry with people or groups (group:"Name"), read-only unless '
        "you add edit; for a period (30m, 8h, 2d, 1d12h) the access ends by itself, and "
        "rotate-after also sets a new password then; an approver decides (emergency: break-glass, "
        "applied at once if you are on call and a policy rule allows it, then reviewed)"
    ),
    examples=(
        "/mysafe share password 312 with @alice",
        '/mysafe share secret 7 with @alice, @bob and group:"Ops team" edit reason "on call"',
        '/mysafe share password 312 with user:carol reason="audit access"',
        '/mysafe share password 312 with @alice edit for 8h reason "on-call"',
        '/mysafe share password 312 with @alice edit for 1h emergency reason "INC-123 db down"',
    ),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Share


def parse(args: list[Token]) -> Share:
    rest = Args(args)
    entry = take_entry(rest)
    expect_keyword(rest, ("with", "to"), f"/mysafe share {entry} with @someone")
    audience = take_audience(rest, allow_edit=True, allow_period=True)
    return Share(
        entry,
        audience.who,
        audience.edit,
        audience.reason,
        audience.duration,
        audience.rotate_after,
        audience.ticket,
        audience.emergency,
    )


def run(ctx: Context, command: Share) -> Submitted:
    audience = resolve(ctx, command.who, edit=command.edit)
    change = Change(
        Verb.SHARE,
        command.entry.kind,
        command.entry.identifier,
        add_users=audience.users,
        add_groups=audience.groups,
        duration=command.duration,
        rotate_after=command.rotate_after,
    )
    request = ctx.engine.submit(
        change,
        requester=ctx.user_id,
        reason=command.reason,
        ticket=reference(command.ticket),
        idempotency_key=ctx.idempotency_key,
        notify=audience.notify,
        people=audience.people,
        source=ctx.source,
        emergency=command.emergency,
    )
    return Submitted(request)
