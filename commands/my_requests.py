"""`/mysafe requests`: your open change requests (named so as not to shadow `requests`)."""

from __future__ import annotations

from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args, keyword
from commands.lexer import CommandError
from commands.replies import Code, QueuePage, RequestList
from commands.types import Requests, Token, VerbSpec

SPEC = VerbSpec(
    name="requests",
    usage="/mysafe requests [page N]",
    summary=N_(
        "list your open change requests; approvers also see what waits for them, "
        "newest first, a page at a time"
    ),
    examples=("/mysafe requests", "/mysafe requests page 2"),
)
PER_PAGE = 20
MAX_PAGE = 10_000


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Requests


def parse(args: list[Token]) -> Requests:
    rest = Args(args)
    page = 1
    if keyword(rest.peek()) == "page":
        rest.take()
        number = rest.take()
        if number is None or not number.text.isdigit() or not 1 <= int(number.text) <= MAX_PAGE:
            raise CommandError((_("say which page, a number: "), Code("/mysafe requests page 2")))
        page = int(number.text)
    rest.end()
    return Requests(page)


def run(ctx: Context, command: Requests) -> RequestList:
    own = ctx.engine.open_for(ctx.user_id)
    return RequestList(
        own,
        _waiting(ctx, command.page) if ctx.is_approver else None,
        ctx.engine.time_bound_for(ctx.user_id),
        viewer=ctx.user_id,
    )


def _waiting(ctx: Context, page: int) -> QueuePage:
    """The approver's queue, a page at a time, with counts: never cut without saying so."""
    shown, total = ctx.engine.waiting_for(ctx.user_id, start=(page - 1) * PER_PAGE, count=PER_PAGE)
    return QueuePage(shown, total, page, -(-total // PER_PAGE))
