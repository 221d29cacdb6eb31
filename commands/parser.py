"""A front's command text in, a typed command out, or a `CommandError` saying what was wrong.

    parse('share password 312 with user:alice edit')
    -> Share(EntryRef(Kind.PASSWORD, 312), (MySafeUser('alice'),), edit=True, reason='')

The work is split by stage: the front reads its text into pieces (`read`: Slack's reader
undoes its escaping and recognises its mentions, `app.slack.command_text`), `commands.lexer`
turns them into tokens (quotes grouped, mentions kept whole), each verb module reads its own
tokens, and this module only picks the verb. Nothing here does I/O: parsing is safe to run on
anything a front sends.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

from app.i18n import _
from commands import VERBS, verb_named
from commands.aliases import ALIASES
from commands.grammar import clipped, keyword
from commands.lexer import MAX_INPUT, CommandError, Mark, Piece, plain, quote, tokenize
from commands.replies import Code, Line, line
from commands.types import Command, Help

__all__ = ["MAX_INPUT", "USAGE", "CommandError", "Mark", "Piece", "parse", "quote", "tokenize"]

USAGE = "/mysafe " + "|".join(VERBS) + " …"


def parse(text: str, *, read: Callable[[str], Sequence[Piece]] = plain) -> Command:
    """Parse the text a front sends after `/mysafe`; empty text asks for help. `read` is the
    front's reader (it checks the text as sent, then hands its pieces over)."""
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    try:
        return _parse(read(text))
    except CommandError as error:
        verb = verb_named(first)
        if verb is not None:
            raise error.attach(verb.SPEC) from None
        raise


def _parse(pieces: Sequence[Piece]) -> Command:
    tokens = tokenize(pieces)
    if not tokens:
        return Help(None)
    verb = verb_named(keyword(tokens[0]) or "")
    if verb is None:
        raise CommandError(no_such_verb(tokens[0].text, VERBS, _("use one of")), usage=USAGE)
    return verb.parse(tokens[1:])


def no_such_verb(word: str, verbs: Iterable[str], then: str) -> Line:
    """There is no such verb: the nearest one first when the word looks like a typo of it
    (`shre`), since that is what the person most likely meant; then every verb."""
    names = list(verbs)
    nearest = difflib.get_close_matches(word.lower(), [*names, *ALIASES], n=1, cutoff=0.75)
    guess: Line = (_("Did you mean "), Code(nearest[0]), "? ") if nearest else ()
    return (
        *line(_('There is no command "{word}". '), word=clipped(word)),
        *guess,
        f"{then[:1].upper()}{then[1:]} ",
        ", ".join(names),
    )
