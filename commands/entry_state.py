"""What `disable` and `enable` share: `VERB ENTRY [reason "…"] [ticket KEY]`, and its request.

Both act on an entry's state in MySafe (its inactive and active calls) and change nothing
else, so they read the same words and file the same kind of change request; each verb module
keeps its own usage, help and command type.
"""

from __future__ import annotations

from app.approvals.changes import Change, Verb
from commands.context import Context
from commands.grammar import Args, is_reason, read_reason, take_entry, unexpected
from commands.replies import Submitted
from commands.tickets import is_ticket, read_ticket, reference
from commands.types import EntryRef, Token


def parse_state(args: list[Token]) -> tuple[EntryRef, str, str]:
    """The entry, then an optional reason and ticket in either order; nothing else."""
    rest = Args(args)
    entry = take_entry(rest)
    reason = ticket = None
    while (token := rest.take()) is not None:
        if is_reason(token):
            reason = read_reason(rest, token, reason)
        elif is_ticket(token):
            ticket = read_ticket(rest, token, ticket)
        else:
            raise unexpected(token, rest.hint)
    return entry, reason or "", ticket or ""


def submit_state(ctx: Context, verb: Verb, entry: EntryRef, *, reason: str, ticket: str) -> Submitted:
    """File the request; the policy decides whether it waits for an approver (`approvals: 0`
    applies it at once, as the sample policy does for `disable`)."""
    request = ctx.engine.submit(
        Change(verb, entry.kind, entry.identifier),
        requester=ctx.user_id,
        reason=reason,
        ticket=reference(ticket),
        idempotency_key=ctx.idempotency_key,
        source=ctx.source,
    )
    return Submitted(request)
