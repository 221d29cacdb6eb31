"""`/mysafe enable ENTRY [reason "…"] [ticket KEY]`: put a disabled entry back in use.

MySafe's `active` call. Giving a credential back is the careful direction: under the sample
policy an approver must agree, as for any other change.
"""

from __future__ import annotations

from app.approvals.changes import Verb
from app.i18n import N_
from commands.context import Context
from commands.entry_state import parse_state, submit_state
from commands.replies import Submitted
from commands.types import Enable, Token, VerbSpec

SPEC = VerbSpec(
    name="enable",
    usage='/mysafe enable password|secret ID [reason "…"] [ticket KEY]',
    summary=N_("ask to enable a disabled entry again; an approver decides"),
    examples=(
        '/mysafe enable password 312 reason "rotated, the leak is closed"',
        "/mysafe enable secret 7 ticket SEC-142",
    ),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Enable


def parse(args: list[Token]) -> Enable:
    entry, reason, ticket = parse_state(args)
    return Enable(entry, reason, ticket)


def run(ctx: Context, command: Enable) -> Submitted:
    return submit_state(ctx, Verb.ENABLE, command.entry, reason=command.reason, ticket=command.ticket)
