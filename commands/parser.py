"""`/mysafe` text in, a typed command out, or a `CommandError` saying what was wrong.

    parse('share password 312 with <@U1ABC|alice> edit')
    -> Share(EntryRef(Kind.PASSWORD, 312), (SlackUser('U1ABC'),), edit=True, reason='')

The work is split by stage: `commands.lexer` turns Slack's text into tokens (escaping undone,
quotes grouped, mentions kept as tokens), each verb module reads its own tokens, and this module
only picks the verb. Nothing here does I/O: parsing is safe to run on anything Slack sends.
"""

from __future__ import annotations

from commands import VERBS
from commands.grammar import keyword, shown
from commands.lexer import MAX_INPUT, CommandError, quote, tokenize, unescape
from commands.types import Command, Help

__all__ = ["MAX_INPUT", "USAGE", "CommandError", "parse", "quote", "tokenize", "unescape"]

USAGE = "/mysafe " + "|".join(VERBS) + " …"


def parse(text: str) -> Command:
    """Parse the text Slack sends after `/mysafe`; empty text asks for help."""
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    try:
        return _parse(text)
    except CommandError as error:
        if first in VERBS:
            raise error.attach(VERBS[first].SPEC) from None
        raise


def _parse(text: str) -> Command:
    tokens = tokenize(text)
    if not tokens:
        return Help(None)
    verb = VERBS.get(keyword(tokens[0]) or "")
    if verb is None:
        raise CommandError(
            f'there is no command "{shown(tokens[0].text)}": use one of ' + ", ".join(VERBS),
            usage=USAGE,
        )
    return verb.parse(tokens[1:])
