"""`ticket KEY` (or `ticket=KEY`, or the ticket's link) in a command: the change's ticket, which a
policy rule may require (`ticket: required`, app.approvals.policy).

A key looks like `SEC-142`; a link is an http(s) URL, whose last path segment becomes the key
shown on the approval message (linked to the URL). Nothing else is taken as a ticket.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from app.i18n import N_, _
from commands.grammar import Args, keyword
from commands.lexer import CommandError
from commands.types import KeyValue, Token, Word

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}-[0-9]{1,10}$")
MAX_URL = 2048
HOW = N_("a ticket is a key such as SEC-142, or its https:// link")


def is_ticket(token: Token | None) -> bool:
    return keyword(token) == "ticket" or (isinstance(token, KeyValue) and token.name == "ticket")


def read_ticket(args: Args, token: Token, previous: str | None) -> str:
    """The ticket given by `token` (`ticket SEC-142` or `ticket=SEC-142`); one per command."""
    if previous is not None:
        raise CommandError(_("the ticket is given twice: give one ticket"), field="ticket")
    if isinstance(token, KeyValue):
        return check_ticket(token.value)
    value = args.take()
    if not isinstance(value, Word):
        raise CommandError(_("say which ticket after ticket: {how}").format(how=_(HOW)), field="ticket")
    return check_ticket(value.text)


def check_ticket(text: str) -> str:
    text = text.strip()
    if _KEY.match(text):
        return text
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc and len(text) <= MAX_URL:
        return text
    raise CommandError(_(HOW), field="ticket")


def reference(ticket: str) -> dict[str, str]:
    """The request's ticket, as the engine stores it (`key`, and `url` for a link)."""
    if not ticket:
        return {}
    if _KEY.match(ticket):
        return {"key": ticket}
    last = [p for p in urlsplit(ticket).path.split("/") if p]
    return {"key": (last[-1] if last else urlsplit(ticket).netloc)[:64], "url": ticket}
