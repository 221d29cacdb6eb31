"""`/mysafe list passwords|secrets [TEXT]`: the entries you can see (named so as not to shadow
the built-in `list`)."""

from __future__ import annotations

from app.approvals.disabled import merged
from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args, keyword, secret_name, secret_refusal, take_kind
from commands.lexer import CommandError
from commands.replies import EntryList
from commands.types import ListEntries, Token, VerbSpec, Word

MAX_TEXT = 100

MAX_PAGE = 10_000

SPEC = VerbSpec(
    name="list",
    usage="/mysafe list passwords|secrets [TEXT] [page N]",
    summary=N_("list the entries you can see, only those matching TEXT when given, a page at a time"),
    examples=(
        "/mysafe list passwords",
        "/mysafe list secrets github",
        '/mysafe list passwords "prod db"',
        "/mysafe list passwords page 2",
    ),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = ListEntries


def parse(args: list[Token]) -> ListEntries:
    page, args = _page(args)
    rest = Args(args)
    kind = take_kind(rest)
    return ListEntries(kind, _filter_text(rest), page)


def _page(args: list[Token]) -> tuple[int, list[Token]]:
    """A trailing bare `page N` picks the page; anything else is search text."""
    if (
        len(args) >= 3
        and keyword(args[-2]) == "page"
        and isinstance(args[-1], Word)
        and args[-1].bare
        and args[-1].text.isdigit()
    ):
        page = int(args[-1].text)
        if not 1 <= page <= MAX_PAGE:
            raise CommandError(_("pages are numbered from 1 to {most}").format(most=MAX_PAGE))
        return page, args[:-2]
    return 1, args


def _filter_text(rest: Args) -> str:
    """The remaining words, joined by single spaces; `password=…` is refused, not searched."""
    words = []
    while (token := rest.take()) is not None:
        if (secret := secret_name(token)) is not None:
            raise secret_refusal(secret)
        words.append(token.text)
    text = " ".join(words)
    if len(text) > MAX_TEXT:
        raise CommandError(
            _("the search text is too long: at most {most} characters").format(most=MAX_TEXT)
        )
    return text


def run(ctx: Context, command: ListEntries) -> EntryList:
    """MySafe's list, with the entries disabled through the bot that MySafe leaves out."""
    client = ctx.mysafe()
    disabled = ctx.engine.disabled.visible_to(client, command.kind)
    everything = merged(client.list_entries(command.kind), disabled)
    items = [i for i in everything if i.matches(command.text)]
    return EntryList(command.kind, items, command.text, command.page)
