"""Slack's command text, read for the verb grammar: Slack's escaping undone, its markup recognised.

Slack sends the text after `/mysafe` with `&`, `<`, `>` escaped as entities and with mentions
and links as markup (`<@U1|alice>`, `<#C1|general>`, `<!subteam^S1|@ops>`, `<https://x|x>`).
Because a raw `<` never comes from a person, `<…>` is always markup: each becomes one `Mark`
for `commands.lexer` (a person, channel or user group as a token of its own; a link as its
target; inside quotes, a mention stays text as Slack wrote it), and the text between them is
handed over with its entities decoded once (so `&amp;lt;` is `&lt;`). The grammar in
`commands/` never sees Slack's syntax.
"""

from __future__ import annotations

import re

from commands import lexer, parser
from commands.lexer import Mark, Piece, check_input
from commands.types import ChatChannel, ChatUser, ChatUserGroup, Command, Token, Word

_MARKUP = re.compile(r"<([^<>\s][^<>\n]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_MARKUP_OR_ENTITY = re.compile(_MARKUP.pattern + "|" + _ENTITY.pattern)
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_USER = re.compile(r"@([UW][A-Z0-9]+)(?:\|(.*))?", re.S)
_CHANNEL = re.compile(r"#([CG][A-Z0-9]+)(?:\|(.*))?", re.S)
_SUBTEAM = re.compile(r"!subteam\^([A-Z0-9]+)(?:\|(.*))?", re.S)


def parse(text: str) -> Command:
    """The command in the text Slack sends after `/mysafe`."""
    return parser.parse(text, read=read)


def tokenize(text: str) -> list[Token]:
    """The tokens of Slack's command text (checked as Slack sent it)."""
    return lexer.tokenize(read(text))


def read(text: str) -> list[Piece]:
    """Slack's text as the lexer's pieces: checked as sent, markup as marks, entities decoded."""
    check_input(text)
    pieces: list[Piece] = []
    at = 0
    for markup in _MARKUP.finditer(text):
        if markup.start() > at:
            pieces.append(_decode_entities(text[at : markup.start()]))
        pieces.append(_mark(markup.group(1)))
        at = markup.end()
    if at < len(text):
        pieces.append(_decode_entities(text[at:]))
    return pieces


def unescape(text: str) -> str:
    """Undo Slack's escaping of plain text: entities decoded, links reduced to their target.

    Mentions, channels and user groups are left as Slack wrote them."""
    return _MARKUP_OR_ENTITY.sub(_unescape_match, text)


def quote(value: str) -> str:
    """Write `value` as a person would type it in Slack so that `parse` reads it back exactly:
    Slack's three special characters as entities, then quoted (`commands.lexer.quote`)."""
    return lexer.quote(value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _unescape_match(match: re.Match[str]) -> str:
    if match.group(2):
        return _ENTITIES[match.group(2)]
    return _markup_text(match.group(1))


def _mark(inner: str) -> Mark:
    return Mark(_markup_text(inner), _special_token(inner))


def _markup_text(inner: str) -> str:
    """The plain text a piece of markup stands for inside a value."""
    if inner.startswith(("@", "#", "!")):
        return f"<{inner}>"
    target = inner.split("|", 1)[0]
    return _decode_entities(target.removeprefix("mailto:"))


def _decode_entities(text: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _special_token(inner: str) -> Token | None:
    """The token for a mention, channel or user group standing as a word; None for links."""
    if match := _USER.fullmatch(inner):
        label = _label(match.group(2))
        return ChatUser(match.group(1), label, shown="" if label else f"<@{match.group(1)}>")
    if match := _CHANNEL.fullmatch(inner):
        label = _label(match.group(2))
        return ChatChannel(match.group(1), label, shown="" if label else f"<#{match.group(1)}>")
    if match := _SUBTEAM.fullmatch(inner):
        label = _label(match.group(2))
        shown = "" if label else f"<!subteam^{match.group(1)}>"
        return ChatUserGroup(match.group(1), label, shown=shown)
    if inner.startswith("!"):
        # <!here>, <!channel>, <!date^…|fallback>: the words a person saw.
        name, _bar, label = inner[1:].partition("|")
        return Word.of(_decode_entities(label) if label else "@" + name.split("^", 1)[0])
    return None


def _label(label: str | None) -> str:
    return _decode_entities(label or "")
