"""`/mysafe disable ENTRY [reason "…"] [ticket KEY]`: take a leaked credential out of use.

MySafe's `inactive` call: the entry stays, nobody can read or change it until it is enabled.
Under the sample policy it needs no approver (`approvals: 0`): it is applied at once, audited
and announced in the approvals channel, because a leak cannot wait for someone to wake up.
"""

from __future__ import annotations

from app.approvals.changes import Verb
from app.i18n import N_
from commands.context import Context
from commands.entry_state import parse_state, submit_state
from commands.replies import Submitted
from commands.types import Disable, Token, VerbSpec

SPEC = VerbSpec(
    name="disable",
    usage='/mysafe disable password|secret ID [reason "…"] [ticket KEY]',
    summary=N_(
        "ask to disable an entry in MySafe (a leaked credential): nobody can use it "
        "until it is enabled; the policy says whether an approver must agree"
    ),
    examples=(
        '/mysafe disable password 312 reason "leaked in a public repo"',
        "/mysafe disable secret 7 ticket SEC-142",
    ),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Disable


def parse(args: list[Token]) -> Disable:
    entry, reason, ticket = parse_state(args)
    return Disable(entry, reason, ticket)


def run(ctx: Context, command: Disable) -> Submitted:
    return submit_state(ctx, Verb.DISABLE, command.entry, reason=command.reason, ticket=command.ticket)
